// Replay (issue 15): captured requests sent to two services (the legacy and ferrite, or two
// builds), their answers compared: status, headers, JSON bodies (or bytes). The drift is what a
// CI job gates a route's promotion on.
import { createHash } from 'node:crypto';
import { undici } from '../../http/client.ts';
import {
  header,
  headerDifferences,
  isJson,
  parse,
  readBounded,
  VOLATILE_HEADERS,
} from './gateway.answers.ts';
import { REDACTED } from './gateway.capture.ts';
import type { Contract } from './gateway.contract.ts';
import { jsonDifferences } from './gateway.diff.ts';
import { isHopByHop } from './gateway.headers.ts';
import { pathOf } from './gateway.paths.ts';

export interface ReplayOptions {
  a: string;
  b: string;
  /** Upper-case methods replayed; others are skipped (writes are not replayed unless asked). */
  methods: ReadonlySet<string>;
  /** Lower-case header names not compared, on top of those that differ on every answer. */
  ignoreHeaders: ReadonlySet<string>;
  ignoreFields: ReadonlySet<string>;
  /** Sent with every replayed request (a token for the test services, say), replacing the recorded. */
  headers: Record<string, string>;
  timeoutMs: number;
  maxBodyBytes: number;
  /** The existing service's contract: an answer from either side that breaks it is drift. */
  contract?: Contract | undefined;
}

export type ReplayOutcome =
  | { kind: 'match' }
  | { kind: 'drift'; differences: string[] }
  | { kind: 'skipped'; why: string }
  | { kind: 'failed'; why: string };

interface Answer {
  status: number;
  headers: Record<string, unknown>;
  body: Buffer;
}

// Never sent as recorded: the connection's, the length (recomputed), the encoding asked (the
// replay asks for none, so that bodies compare as written), the ids of the original request.
const NOT_REPLAYED = new Set([
  'host',
  'content-length',
  'accept-encoding',
  'x-request-id',
  'traceparent',
  'tracestate',
]);
const ALWAYS_IGNORED = new Set([...VOLATILE_HEADERS, 'etag', 'content-encoding']);

function request(record: Record<string, unknown>, opts: ReplayOptions) {
  const method = String(record.method ?? '').toUpperCase();
  const url = record.url;
  if (typeof url !== 'string' || !url.startsWith('/')) return { skip: 'no origin-form url' };
  if (!opts.methods.has(method)) return { skip: `${method} is not replayed (--methods)` };
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries((record.headers as Record<string, string>) ?? {})) {
    const key = name.toLowerCase();
    if (value === REDACTED || NOT_REPLAYED.has(key) || isHopByHop(key) || key.startsWith(':')) continue;
    headers[key] = String(value);
  }
  Object.assign(headers, opts.headers, { 'accept-encoding': 'identity' });
  const body = record.body;
  if (body !== undefined && body !== null && typeof body === 'object' && 'omitted' in body) {
    return { skip: 'its body was not recorded' };
  }
  return { method, url, headers, body: body === undefined ? undefined : JSON.stringify(body) };
}

async function send(
  base: string,
  req: { method: string; url: string; headers: Record<string, string>; body?: string },
  opts: ReplayOptions,
): Promise<Answer> {
  const u = new URL(base);
  const res = await undici().request(`${u.origin}${u.pathname.replace(/\/+$/, '')}${req.url}`, {
    method: req.method as 'GET',
    headers: req.headers,
    body: req.body,
    headersTimeout: opts.timeoutMs,
    bodyTimeout: opts.timeoutMs,
  });
  const body = await readBounded(res.body, opts.maxBodyBytes);
  if (!body) throw new Error(`an answer over ${opts.maxBodyBytes} bytes`);
  return { status: res.statusCode, headers: res.headers, body };
}

/** Where the two answers differ (empty: they match). */
export function answerDifferences(
  a: Answer,
  b: Answer,
  opts: Pick<ReplayOptions, 'ignoreHeaders' | 'ignoreFields'>,
): string[] {
  const out: string[] = [];
  if (a.status !== b.status) out.push(`status ${a.status} vs ${b.status}`);
  out.push(...headerDifferences(a.headers, b.headers, new Set([...ALWAYS_IGNORED, ...opts.ignoreHeaders])));
  const [typeA, typeB] = [header(a.headers['content-type']), header(b.headers['content-type'])];
  if (isJson(typeA) && isJson(typeB)) {
    const [x, y] = [parse(a.body), parse(b.body)];
    if (x.ok && y.ok) out.push(...jsonDifferences(x.value, y.value, opts.ignoreFields));
    else if (x.ok !== y.ok) out.push('body: only one is valid JSON');
  } else {
    const digest = (body: Buffer) => createHash('sha256').update(body).digest('hex');
    if (digest(a.body) !== digest(b.body))
      out.push(`body: ${a.body.length} bytes vs ${b.body.length} bytes, not the same`);
  }
  return out;
}

/** Replays one captured record against both services. */
export async function replayRecord(record: unknown, opts: ReplayOptions): Promise<ReplayOutcome> {
  if (!record || typeof record !== 'object' || Array.isArray(record))
    return { kind: 'skipped', why: 'not a record' };
  const req = request(record as Record<string, unknown>, opts);
  if ('skip' in req) return { kind: 'skipped', why: req.skip as string };
  let answers: [Answer, Answer];
  try {
    answers = await Promise.all([send(opts.a, req, opts), send(opts.b, req, opts)]);
  } catch (err) {
    return { kind: 'failed', why: (err as Error).message };
  }
  const differences = answerDifferences(answers[0], answers[1], opts);
  if (opts.contract) {
    for (const [side, answer] of [
      ['a', answers[0]],
      ['b', answers[1]],
    ] as const) {
      const json = isJson(header(answer.headers['content-type'])) ? parse(answer.body) : undefined;
      const found = opts.contract.answerProblems(req.method, pathOf(req.url), {
        status: answer.status,
        headers: answer.headers,
        body: json?.ok ? { json: json.value } : undefined,
      });
      differences.push(...found.map((p) => `contract (${side}): ${p}`));
    }
  }
  return differences.length === 0 ? { kind: 'match' } : { kind: 'drift', differences };
}

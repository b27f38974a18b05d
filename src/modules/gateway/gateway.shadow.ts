import type { NextFunction, Request, Response } from 'express';
import { type RoutePattern, routeMatches } from '../../config/route-pattern.ts';
import { undici } from '../../http/client.ts';
import { routeOf } from '../../http/context.ts';
import type { Logger } from '../../log.ts';
import type { WorkerMetrics } from '../../metrics/worker.metrics.ts';
import {
  captureSent,
  decode,
  header,
  headerDifferences,
  isJson,
  parse,
  readBounded,
  type Sent,
} from './gateway.answers.ts';
import type { Contract } from './gateway.contract.ts';
import { jsonDifferences } from './gateway.diff.ts';
import { upstreamRequestHeaders } from './gateway.headers.ts';
import { pathOf } from './gateway.paths.ts';

export interface ShadowOptions {
  url: string;
  percent: number;
  /** Path prefixes whose GETs are sampled; empty: every GET. */
  paths: string[];
  /** Routes whose other methods are safe to send twice (SHADOW_IDEMPOTENT). */
  idempotent: readonly RoutePattern[];
  ignoreFields: ReadonlySet<string>;
  /** Lower-case header names not compared. */
  ignoreHeaders: ReadonlySet<string>;
  maxConcurrency: number;
  timeoutMs: number;
  maxBodyBytes: number;
  logDiffs: number;
}

interface Answer {
  status: number;
  headers: Record<string, unknown>;
  type: string;
  encoding: string;
  /** undefined: larger than maxBodyBytes, not compared. */
  body: Buffer | undefined;
}

/** A request body as it arrived, kept while the handlers read it (the shadow's second send). */
interface Tee {
  chunks: Buffer[];
  size: number;
  overflow: boolean;
  complete: boolean;
}

/**
 * Keeps, up to `max` bytes, every chunk of the request's body as it enters the stream, whoever
 * reads it and however (a body parser, the gateway's upstream request): `push` is where both
 * node:http and node:http2 hand a request its body, and its `null` marks the end.
 */
function teeBody(req: Request, max: number): Tee {
  const tee: Tee = { chunks: [], size: 0, overflow: false, complete: false };
  const push = req.push;
  req.push = function (this: Request, chunk: unknown, encoding?: BufferEncoding) {
    if (chunk === null) tee.complete = true;
    else if (!tee.overflow) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : (chunk as Buffer);
      tee.size += buf.length;
      if (tee.size > max) {
        tee.overflow = true;
        tee.chunks = [];
      } else tee.chunks.push(buf);
    }
    return push.call(this, chunk, encoding);
  };
  return tee;
}

/**
 * Shadow traffic for migrations: a sample of GET requests, and of the SHADOW_IDEMPOTENT routes'
 * other methods, is also sent to SHADOW_UPSTREAM_URL, and its answer is compared with the
 * response the client got (status, headers, and JSON bodies with key order and the ignored
 * fields disregarded). A GET goes to the shadow at once; a write (safe to repeat, its route
 * says) goes once the client has its answer, with the body as it came. The client's response
 * never waits for the shadow and is never changed by it; comparisons run after it finished. At most
 * `maxConcurrency` shadow requests run per worker; a sampled request beyond that is dropped
 * (counted), never queued.
 */
export function createShadow(
  opts: ShadowOptions,
  /** `contract`: the existing service's, which both answers are checked against as well. */
  deps: { log: Logger; metrics: WorkerMetrics; contract: Contract | undefined },
) {
  const u = new URL(opts.url);
  const base = u.pathname.replace(/\/+$/, '');
  const pool = new (undici().Pool)(u.origin, {
    connections: opts.maxConcurrency,
    connectTimeout: opts.timeoutMs,
    headersTimeout: opts.timeoutMs,
    bodyTimeout: opts.timeoutMs,
  });
  let inFlight = 0;
  let logged = 0;

  const sampled = (req: Request) => {
    if (req.method === 'GET') {
      if (opts.paths.length === 0) return Math.random() * 100 < opts.percent;
      const path = req.path;
      const listed = opts.paths.some((p) => path === p || path.startsWith(p.endsWith('/') ? p : `${p}/`));
      return listed && Math.random() * 100 < opts.percent;
    }
    if (opts.idempotent.length === 0) return false;
    const path = pathOf(req.originalUrl);
    return (
      opts.idempotent.some((p) => routeMatches(p, req.method, path)) && Math.random() * 100 < opts.percent
    );
  };

  async function ask(req: Request, signal: AbortSignal, sent?: Buffer): Promise<Answer> {
    const res = await pool.request({
      method: req.method as 'GET',
      path: base + req.originalUrl,
      // The shadow authenticates like ferrite does, so it gets the client's credentials.
      headers: upstreamRequestHeaders(req, { forwardAuthorization: true, shadow: true }),
      body: sent,
      signal: AbortSignal.any([signal, AbortSignal.timeout(opts.timeoutMs)]),
    });
    const body = await readBounded(res.body, opts.maxBodyBytes);
    return {
      status: res.statusCode,
      headers: res.headers,
      type: body ? header(res.headers['content-type']) : '',
      encoding: body ? header(res.headers['content-encoding']) : '',
      body,
    };
  }

  type Parsed = ReturnType<typeof parse> | undefined;

  /** Where an answer breaks the existing service's contract, each place counted. */
  function breaches(req: Request, route: string, who: 'ferrite' | 'shadow', answer: Answer, json: Parsed) {
    if (!deps.contract) return [];
    const found = deps.contract.answerProblems(req.method, pathOf(req.originalUrl), {
      status: answer.status,
      headers: answer.headers,
      body: json?.ok ? { json: json.value } : undefined,
    });
    if (found.length > 0) deps.metrics.contractBreach(route, who);
    return found.map((p) => `contract (${who}): ${p}`);
  }

  /** The places where the two answers differ; undefined when they cannot be compared. */
  async function differences(
    req: Request,
    res: Response,
    mine: Sent,
    theirs: Answer,
  ): Promise<string[] | undefined> {
    const type = header(res.getHeader('content-type'));
    // The bytes as sent; the final Content-Encoding says how they are encoded.
    const encoding = header(res.getHeader('content-encoding'));
    const [a, b]: Parsed[] = await Promise.all([
      isJson(type) && !mine.overflow
        ? decode(Buffer.concat(mine.chunks), encoding, opts.maxBodyBytes).then(parse)
        : undefined,
      isJson(theirs.type) && theirs.body !== undefined
        ? decode(theirs.body, theirs.encoding, opts.maxBodyBytes).then(parse)
        : undefined,
    ]);
    const route = routeOf(req, res);
    const ours: Answer = {
      status: res.statusCode,
      headers: res.getHeaders(),
      type,
      encoding: '',
      body: undefined,
    };
    const broken = [
      ...breaches(req, route, 'ferrite', ours, a),
      ...breaches(req, route, 'shadow', theirs, b),
    ];
    if (res.statusCode !== theirs.status) return [`status ${res.statusCode} vs ${theirs.status}`, ...broken];
    const found = [...headerDifferences(res.getHeaders(), theirs.headers, opts.ignoreHeaders), ...broken];
    if (!isJson(type) || !isJson(theirs.type)) return found;
    if (a === undefined || b === undefined) return found.length > 0 ? found : undefined;
    if (!a.ok || !b.ok) return a.ok === b.ok ? found : ['body: only one is valid JSON', ...found];
    return [...jsonDifferences(a.value, b.value, opts.ignoreFields), ...found];
  }

  async function compare(req: Request, res: Response, mine: Sent, answer: Promise<Answer>) {
    const route = routeOf(req, res);
    let theirs: Answer;
    try {
      theirs = await answer;
    } catch {
      deps.metrics.shadowResult(route, 'failed');
      return;
    }
    let found: string[] | undefined;
    try {
      found = await differences(req, res, mine, theirs);
    } catch {
      found = undefined;
    }
    if (found === undefined) {
      deps.metrics.shadowResult(route, 'skipped');
      return;
    }
    deps.metrics.shadowResult(route, found.length === 0 ? 'match' : 'diff');
    if (found.length > 0 && logged < opts.logDiffs) {
      logged++;
      deps.log.warn(
        { requestId: req.id, route, status: res.statusCode, shadowStatus: theirs.status, differences: found },
        'shadow response differs',
      );
    }
  }

  function middleware(req: Request, res: Response, next: NextFunction): void {
    if (!sampled(req)) {
      next();
      return;
    }
    if (inFlight >= opts.maxConcurrency) {
      res.once('close', () => deps.metrics.shadowResult(routeOf(req, res), 'dropped'));
      next();
      return;
    }
    inFlight++;
    const controller = new AbortController();
    // A write goes to the shadow after the client's answer, with its body: never before ferrite
    // (or the legacy service) has done it, and only when the body came whole.
    const tee = req.method === 'GET' ? undefined : teeBody(req, opts.maxBodyBytes);
    const early = tee ? undefined : ask(req, controller.signal);
    early?.catch(() => undefined);
    // What the client gets, as sent: compression stays the response's own choice (none for a
    // legacy answer, which is relayed as the legacy service sent it).
    const mine = captureSent(res, opts.maxBodyBytes);
    res.once('close', () => {
      let settled: Promise<unknown> = early ?? Promise.resolve();
      const whole = tee ? tee.complete && !tee.overflow && !req.errored : true;
      if (res.writableFinished && whole) {
        const answer = early ?? ask(req, controller.signal, Buffer.concat(tee?.chunks ?? []));
        settled = compare(req, res, mine, answer);
      } else {
        // The client's response (or the request's body) was cut short, or the body was too
        // large to keep: there is nothing to compare with.
        controller.abort();
        deps.metrics.shadowResult(routeOf(req, res), 'skipped');
      }
      settled.catch(() => undefined).finally(() => inFlight--);
    });
    next();
  }

  return { middleware, close: () => pool.close() };
}

// `npm run replay -- FILE --a URL --b URL [options]` (issue 15): sends every captured request of
// FILE (NDJSON from CAPTURE_SAMPLE, or written by hand in that shape) to both services and
// compares their answers: status, headers and JSON bodies (bytes otherwise). Prints one NDJSON
// line per drifted or failed request and a summary line; exits 1 on any drift or failure, so a
// CI job can gate a route's promotion on it.
//   --methods GET,HEAD        methods replayed (default GET,HEAD,OPTIONS: writes only when named)
//   --ignore-headers a,b      headers not compared (Date, X-Request-Id, ETag… never are)
//   --ignore-fields a,b       JSON members not compared, at any depth (default requestId,timestamp,updatedAt)
//   --header 'name: value'    sent with every request (repeatable), e.g. a token for test services
//   --contract FILE           an OpenAPI document (the existing service's, LEGACY_OPENAPI_FILE):
//                             an answer from either service that breaks it counts as drift
//   --concurrency N (4)       --timeout-ms N (10000)
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Contract, ContractFileError, type ReplayOutcome, replayRecord } from '../modules/gateway/index.ts';

function usage(message: string): never {
  process.stderr.write(
    `replay: ${message}\nusage: npm run replay -- FILE --a URL --b URL [--methods M,M] [--ignore-headers h,h] [--ignore-fields f,f] [--header 'name: value'] [--contract FILE] [--concurrency N] [--timeout-ms N]\n`,
  );
  process.exit(2);
}

let parsed: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    options: {
      a: { type: 'string' },
      b: { type: 'string' },
      methods: { type: 'string', default: 'GET,HEAD,OPTIONS' },
      'ignore-headers': { type: 'string', default: '' },
      'ignore-fields': { type: 'string', default: 'requestId,timestamp,updatedAt' },
      header: { type: 'string', multiple: true, default: [] },
      contract: { type: 'string' },
      concurrency: { type: 'string', default: '4' },
      'timeout-ms': { type: 'string', default: '10000' },
    },
    allowPositionals: true,
    strict: true,
  });
}
try {
  parsed = parse();
} catch (err) {
  usage((err as Error).message);
}
const { values, positionals } = parsed;
const list = (s: string) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
if (positionals.length !== 1) usage('name one capture file');
for (const side of ['a', 'b'] as const) {
  const url = values[side];
  if (!url || !URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol))
    usage(`--${side} takes an http(s) URL`);
}
const concurrency = Number(values.concurrency);
const timeoutMs = Number(values['timeout-ms']);
if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256)
  usage('--concurrency takes 1 to 256');
if (!Number.isInteger(timeoutMs) || timeoutMs < 1) usage('--timeout-ms takes a positive integer');
const headers: Record<string, string> = {};
for (const h of values.header ?? []) {
  const at = h.indexOf(':');
  if (at < 1) usage(`--header "${h}" is not "name: value"`);
  headers[h.slice(0, at).trim().toLowerCase()] = h.slice(at + 1).trim();
}
let contract: Contract | undefined;
try {
  contract = values.contract ? Contract.load(values.contract) : undefined;
} catch (err) {
  if (!(err instanceof ContractFileError)) throw err;
  usage(`--contract ${err.message}`);
}
const options = {
  a: values.a as string,
  b: values.b as string,
  methods: new Set(list(values.methods ?? '').map((m) => m.toUpperCase())),
  ignoreHeaders: new Set(list(values['ignore-headers'] ?? '').map((h) => h.toLowerCase())),
  ignoreFields: new Set(list(values['ignore-fields'] ?? '')),
  headers,
  timeoutMs,
  maxBodyBytes: 16 * 1024 * 1024,
  contract,
};

const file = positionals[0] as string;
const input = createReadStream(file);
input.on('error', (err) => usage(`${file}: ${err.message}`));
const counts = { records: 0, matched: 0, drifted: 0, failed: 0, skipped: 0 };
const running = new Set<Promise<void>>();
const report = (line: number, record: Record<string, unknown>, outcome: ReplayOutcome) => {
  if (outcome.kind === 'match') counts.matched++;
  else if (outcome.kind === 'skipped') counts.skipped++;
  else {
    if (outcome.kind === 'drift') counts.drifted++;
    else counts.failed++;
    process.stdout.write(`${JSON.stringify({ line, method: record.method, url: record.url, ...outcome })}\n`);
  }
};

let line = 0;
for await (const text of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
  line++;
  if (text.trim() === '') continue;
  counts.records++;
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(text);
  } catch {
    report(line, {}, { kind: 'skipped', why: 'not JSON' });
    continue;
  }
  const at = line;
  const task = replayRecord(record, options).then((outcome) => report(at, record, outcome));
  running.add(task);
  void task.finally(() => running.delete(task));
  if (running.size >= concurrency) await Promise.race(running);
}
await Promise.all(running);
process.stdout.write(`${JSON.stringify({ summary: counts })}\n`);
process.exit(counts.drifted + counts.failed > 0 ? 1 : 0);

// What one request log line costs, by destination (issue 12). pino with ferrite's options
// logs the request line's fields, 64 lines per turn of the event loop (as 64 connections'
// requests would), to a file in the temp directory; best of three rounds.
//
//   node bench/decisions/hot-path/request-log.ts
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { LineBatch } from '../../../src/log.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'ferrite-log-bench-'));
const N = 200_000;
const line = () => ({
  requestId: '5252515c-2c7f-42dc-915b-613a291e9e54',
  traceId: '0af7651916cd43dd8448eb211c80319c',
  method: 'GET',
  route: '/api/health',
  url: '/api/health',
  status: 200,
  durationMs: 0.123,
  protocol: 'http/1.1',
  aborted: false,
});
const options = {
  base: { pid: process.pid, role: 'worker', worker: '1' },
  redact: { paths: ['authorization', 'cookie', 'password', 'headers.authorization'], censor: '[redacted]' },
  formatters: { level: (label: string) => ({ level: label }) },
};
const file = (name: string) => path.join(dir, `${name}.log`);
const destinations: Record<string, () => pino.DestinationStream> = {
  'nothing written (serialising only)': () => ({ write: () => undefined }),
  'pino.destination, sync: false (sonic-boom)': () => pino.destination({ dest: file('sonic'), sync: false }),
  'pino.destination, sync: true': () => pino.destination({ dest: file('sync'), sync: true }),
  'LineBatch (src/log.ts): one write per turn': () => new LineBatch(openSync(file('batch'), 'w')),
};

for (const [name, make] of Object.entries(destinations)) {
  const log = pino(options, make());
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 3; round++) {
    const started = performance.now();
    for (let i = 0; i < N; i += 64) {
      for (let j = 0; j < 64; j++) log.info(line(), 'request');
      await new Promise((resolve) => setImmediate(resolve));
    }
    best = Math.min(best, ((performance.now() - started) * 1e6) / N);
  }
  process.stdout.write(`${name}: ${best.toFixed(0)} ns per line\n`);
}
rmSync(dir, { recursive: true, force: true });

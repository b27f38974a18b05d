// `npm run bench -- tracing`: what OpenTelemetry costs on the hot path (issue 16). The production
// cluster three times — tracing off (no endpoint: the SDK is not loaded), on with 1 % of traces
// sampled, on with all of them — each serving /api/health, /api/blocks/validated (Postgres) and
// /v1/task/* (an upstream call), in interleaved rounds, compared as medians within this one run.
// Spans go to a small OTLP/HTTP sink in this process, which reads and drops them.
//   npm run bench -- tracing [--rounds 3] [--duration 8] [--connections 50]
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { LAB_ENV, seed } from './lib/drive.ts';
import { autocannonRun, type LoadResult, medianResult } from './lib/load.ts';
import { startUpstream } from './lib/peers.ts';
import { benchDatabase, type Service, startService } from './lib/service.ts';

const { values } = parseArgs({
  args: process.argv.slice(3),
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '8' },
    connections: { type: 'string', default: '50' },
  },
});
const rounds = Number(values.rounds);
const durationSec = Number(values.duration);
const connections = Number(values.connections);

let spansBytes = 0;
const sink = http.createServer((req, res) => {
  req.on('data', (c: Buffer) => {
    spansBytes += c.length;
  });
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
});
await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
const endpoint = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;

const VARIANTS: Record<string, Record<string, string>> = {
  off: {},
  'on, 1 % sampled': {
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
    OTEL_TRACES_SAMPLER_ARG: '0.01',
  },
  'on, 100 % sampled': { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_TRACES_SAMPLER: 'always_on' },
};

const db = await benchDatabase();
const upstream = await startUpstream(0);
const results = new Map<string, LoadResult[]>();
try {
  for (let round = 1; round <= rounds; round++) {
    for (const [variant, env] of Object.entries(VARIANTS)) {
      const service: Service = await startService(db.url, `/tmp/ferrite-bench-tracing.log`, {
        ...LAB_ENV,
        TASK_UPSTREAM_URL: upstream.origin,
        ...env,
      });
      try {
        const token = await seed(service.origin, db.url);
        const auth = { authorization: `Bearer ${token}` };
        const scenarios: [string, string, Record<string, string>][] = [
          ['health', '/api/health', {}],
          ['blocks (Postgres)', '/api/blocks/validated?limit=20', auth],
          ['task proxy (upstream)', '/v1/task/items', auth],
        ];
        for (const [name, path, headers] of scenarios) {
          const r = await autocannonRun({
            url: `${service.origin}${path}`,
            headers,
            connections,
            durationSec,
          });
          const key = `${name}\t${variant}`;
          results.set(key, [...(results.get(key) ?? []), r]);
          process.stderr.write(`round ${round} ${variant} ${name}: ${Math.round(r.rps)} req/s\n`);
        }
      } finally {
        await service.stop();
      }
    }
  }
} finally {
  await upstream.stop();
  await db.stop();
  sink.close();
}

const lines = [
  '| scenario | tracing | req/s (median) | p99 ms | vs off |',
  '| --- | --- | --- | --- | --- |',
];
for (const name of ['health', 'blocks (Postgres)', 'task proxy (upstream)']) {
  const off = medianResult(results.get(`${name}\toff`) ?? []);
  for (const variant of Object.keys(VARIANTS)) {
    const m = medianResult(results.get(`${name}\t${variant}`) ?? []);
    lines.push(
      `| ${name} | ${variant} | ${Math.round(m.rps)} | ${m.latencyMs.p99} | ${(m.rps / off.rps).toFixed(2)}× |`,
    );
  }
}
console.log(lines.join('\n'));
console.log(
  `\n${rounds} rounds × ${durationSec} s, ${connections} connections; ${spansBytes} bytes of spans received`,
);

// `npm run bench -- two-hosts`: what a second host costs and buys on one machine (issue 17).
// Two production services as two hosts (each on a loopback address of its own; the scale-out
// tests put them in network namespaces), one shared Postgres, HAProxy in front
// (the configuration docs/scaling.md recommends). In interleaved rounds: one host reached
// directly, the balancer in front of one host, the balancer in front of both; each serving
// /api/health (no database) and /api/blocks/validated (a Postgres read), with the load
// generator's p99 and the most Postgres connections ferrite held during the load.
//   npm run bench -- two-hosts [--rounds 3] [--duration 8] [--connections 64] [--workers 1] [--write]

import { parseArgs } from 'node:util';
import pg from 'pg';
import { Balancer, haproxyPath } from '../test/helpers/balancer.ts';
import { freePortOn, type HostNet, hostNet } from '../test/helpers/hosts.ts';
import { PERFORMANCE_DOC, writeSections } from './lib/doc-section.ts';
import { LAB_ENV, seed } from './lib/drive.ts';
import { autocannonRun, type LoadResult, medianResult } from './lib/load.ts';
import { benchDatabase, type Service, startService } from './lib/service.ts';
import { ensureDebianTool } from './lib/wrk.ts';

const { values } = parseArgs({
  args: process.argv.slice(3),
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '8' },
    connections: { type: 'string', default: '64' },
    workers: { type: 'string', default: '1' },
    write: { type: 'boolean', default: false },
  },
});
const rounds = Number(values.rounds);
const durationSec = Number(values.duration);
const connections = Number(values.connections);
const workers = values.workers as string;
const say = (line: string) => process.stderr.write(`${line}\n`);

if (!haproxyPath() && !ensureDebianTool('haproxy', 'haproxy', say)) process.exit(1);

const db = await benchDatabase();
// Loopback addresses, not namespaces: a namespace reaches Postgres through a forwarder in this
// process, beside the load generator, which would weigh on the database's share of the numbers.
const nets: HostNet[] = [await hostNet(1, 'loopback'), await hostNet(2, 'loopback')];
const hosts: Service[] = [];
const jwtSecret = 'two-hosts lab secret, shared by every host, long enough';
const admin = new pg.Client({ connectionString: db.url });
await admin.connect();

/** The Postgres connections ferrite's hosts hold now (workers, listeners, start-up helpers). */
async function connectionsHeld(): Promise<number> {
  const { rows } = await admin.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity
     WHERE datname = current_database() AND application_name LIKE 'ferrite%'`,
  );
  return rows[0]?.n ?? 0;
}

const results = new Map<string, LoadResult[]>();
const peakConnections = new Map<string, number>();
const balancers: Balancer[] = [];
try {
  for (const [i, net] of nets.entries()) {
    const databaseUrl = await net.reach(db.url);
    hosts.push(
      await startService(
        databaseUrl,
        `/tmp/ferrite-bench-host${i + 1}.log`,
        { ...LAB_ENV, WORKERS: workers, JWT_SECRET: jwtSecret, TRUST_PROXY: net.peer },
        {
          host: net.address,
          port: net.kind === 'netns' ? 8080 : await freePortOn(net.address),
          prefix: net.prefix,
        },
      ),
    );
  }
  const [first] = hosts as [Service, Service];
  const token = await seed(first.origin, db.url);
  const backend = (i: number) => ({
    name: `host${i + 1}`,
    address: nets[i]?.address as string,
    port: Number(new URL(hosts[i]?.origin as string).port),
  });
  // One HAProxy thread: the machine's two cores also run the hosts and the load generator.
  const one = new Balancer({ threads: 1, checkIntervalMs: 1000 });
  const both = new Balancer({ threads: 1, checkIntervalMs: 1000 });
  balancers.push(one, both);
  await one.start([backend(0)]);
  await both.start([backend(0), backend(1)]);
  await one.waitFor('host1', 'UP');
  await both.waitFor('host1', 'UP');
  await both.waitFor('host2', 'UP');

  const variants: [string, string][] = [
    ['one host, direct', first.origin],
    ['balancer → one host', one.url()],
    ['balancer → two hosts', both.url()],
  ];
  const scenarios: [string, string, Record<string, string>][] = [
    ['health', '/api/health', {}],
    ['blocks (Postgres)', '/api/blocks/validated?limit=20', { authorization: `Bearer ${token}` }],
  ];
  for (let round = 1; round <= rounds; round++) {
    for (const [variant, origin] of variants) {
      for (const [name, path, headers] of scenarios) {
        let peak = 0;
        const sampler = setInterval(() => {
          void connectionsHeld().then((n) => {
            peak = Math.max(peak, n);
          });
        }, 500);
        const r = await autocannonRun({ url: `${origin}${path}`, headers, connections, durationSec });
        clearInterval(sampler);
        const key = `${name}\t${variant}`;
        results.set(key, [...(results.get(key) ?? []), r]);
        peakConnections.set(key, Math.max(peakConnections.get(key) ?? 0, peak));
        say(
          `round ${round} ${variant} ${name}: ${Math.round(r.rps)} req/s, p99 ${r.latencyMs.p99} ms, ${peak} pg`,
        );
      }
    }
  }

  const lines = [
    '| scenario | served by | req/s (median) | p99 ms | vs one host direct | Postgres connections held by both hosts (peak) |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const [name] of scenarios) {
    const direct = medianResult(results.get(`${name}\t${variants[0]?.[0]}`) ?? []);
    for (const [variant] of variants) {
      const key = `${name}\t${variant}`;
      const m = medianResult(results.get(key) ?? []);
      const errors = m.errors + m.timeouts + m.non2xx;
      lines.push(
        `| ${name} | ${variant} | ${Math.round(m.rps)}${errors ? ` (${errors} errors)` : ''} | ${m.latencyMs.p99} | ${(m.rps / direct.rps).toFixed(2)}× | ${peakConnections.get(key)} |`,
      );
    }
  }
  const table = [
    ...lines,
    '',
    `<sub>\`npm run bench -- two-hosts --rounds ${rounds} --duration ${durationSec} --connections ${connections} --workers ${workers}\`, ${new Date().toISOString().slice(0, 10)}; hosts in ${nets[0]?.kind === 'netns' ? 'network namespaces' : 'loopback addresses'}, ${workers} worker(s) each, HAProxy 1 thread, autocannon in this process, all on the same ${(await import('node:os')).availableParallelism()} cores; medians of ${rounds} interleaved rounds.</sub>`,
  ].join('\n');
  console.log(table);
  if (values.write) await writeSections(PERFORMANCE_DOC, { 'two-hosts': table });
} finally {
  await Promise.all(balancers.map((b) => b.stop()));
  await Promise.all(hosts.map((h) => h.stop()));
  await Promise.all(nets.map((n) => n.close()));
  await admin.end();
  await db.stop();
}

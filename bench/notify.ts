// `npm run bench -- notify`: how many events per second one Postgres carries by LISTEN/NOTIFY
// before delivery lags (issue 17). Events are published exactly as ferrite publishes them
// (events.repo's appendEvent: sequence, row and NOTIFY in one statement, on many projects, from
// a pool as the workers' pools would), at rising rates; each listener is a thread holding one
// LISTEN session, as each worker of each host holds one, and records how long every event took
// from its statement being sent to its notification arriving. A rate is carried when everything
// published arrived and p99 of that delay stays under 100 ms.
//   npm run bench -- notify [--listeners 2,8] [--rates 250,500,1000,2000,4000] [--seconds 5] [--write]
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import pg from 'pg';

const CHANNEL = 'ferrite_bench_notify';
const now = () => performance.timeOrigin + performance.now();

interface ListenerReport {
  received: number;
  lagsMs: number[];
}

if (!isMainThread) {
  // A listener: one session, LISTEN, a delay per notification; reports when asked.
  const client = new pg.Client({
    connectionString: workerData.url as string,
    application_name: 'ferrite-bench-listen',
  });
  await client.connect();
  let report: ListenerReport = { received: 0, lagsMs: [] };
  client.on('notification', (n) => {
    const at = now();
    const event = JSON.parse(n.payload as string) as { d?: { t?: number } };
    report.received++;
    if (event.d?.t) report.lagsMs.push(at - event.d.t);
  });
  await client.query(`LISTEN ${CHANNEL}`);
  parentPort?.postMessage('listening');
  parentPort?.on('message', (msg) => {
    if (msg === 'report') {
      parentPort?.postMessage(report);
      report = { received: 0, lagsMs: [] };
    } else if (msg === 'stop') void client.end().then(() => process.exit(0));
  });
} else {
  const { values } = parseArgs({
    args: process.argv.slice(3),
    options: {
      listeners: { type: 'string', default: '2,8' },
      rates: { type: 'string', default: '250,500,1000,2000,4000' },
      seconds: { type: 'string', default: '5' },
      publishers: { type: 'string', default: '16' },
      write: { type: 'boolean', default: false },
    },
  });
  const { appendEvent } = await import('../src/modules/events/events.repo.ts');
  const { benchDatabase } = await import('./lib/service.ts');
  const { migrate } = await import('../src/db/migrate.ts');
  const { createLogger } = await import('../src/log.ts');
  const { percentile } = await import('./lib/stats.ts');

  const listenerCounts = (values.listeners as string).split(',').map(Number);
  const rates = (values.rates as string).split(',').map(Number);
  const seconds = Number(values.seconds);
  const db = await benchDatabase();
  await migrate(db.url, createLogger('silent', {}));
  const pool = new pg.Pool({ connectionString: db.url, max: Number(values.publishers) });
  // Many projects, as many users' would be: one project's sequence row serialises its events.
  const { rows: users } = await pool.query<{ id: string }>(
    `INSERT INTO users (email, password_hash, scopes) VALUES ('notify-bench@example.com', 'x', '{}') RETURNING id`,
  );
  const projects: string[] = [];
  for (let i = 0; i < 256; i++) {
    const { rows } = await pool.query<{ id: string }>(
      'INSERT INTO projects (owner_id, name) VALUES ($1, $2) RETURNING id',
      [users[0]?.id, `notify ${i}`],
    );
    projects.push(rows[0]?.id as string);
  }

  const table = [
    '| listening sessions | offered events/s | published/s | delivered to each | delay p50 ms | p99 ms | carried |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  const limits: string[] = [];
  for (const count of listenerCounts) {
    const listeners = Array.from(
      { length: count },
      () => new Worker(new URL(import.meta.url), { workerData: { url: db.url } }),
    );
    await Promise.all(listeners.map((w) => new Promise((resolve) => w.once('message', resolve))));
    let carried = 0;
    for (const rate of rates) {
      // Open loop: events go out on schedule whether or not earlier ones have finished.
      let published = 0;
      let failed = 0;
      const inFlight = new Set<Promise<void>>();
      const start = now();
      const total = rate * seconds;
      for (let i = 0; i < total; i++) {
        const due = start + (i * 1000) / rate;
        const wait = due - now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        const p = appendEvent(
          pool,
          CHANNEL,
          projects[i % projects.length] as string,
          'bench',
          JSON.stringify({ t: now() }),
        )
          .then(() => {
            published++;
          })
          .catch(() => {
            failed++;
          })
          .finally(() => inFlight.delete(p));
        inFlight.add(p);
        // The pool queues what it cannot send; past this the publisher itself is the limit.
        if (inFlight.size > 5000) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
      const publishSeconds = (now() - start) / 1000;
      await new Promise((r) => setTimeout(r, 1000)); // stragglers
      const reports = await Promise.all(
        listeners.map(
          (w) =>
            new Promise<ListenerReport>((resolve) => {
              w.once('message', resolve);
              w.postMessage('report');
            }),
        ),
      );
      const lags = reports.flatMap((r) => r.lagsMs).sort((a, b) => a - b);
      const delivered = Math.min(...reports.map((r) => r.received));
      const p50 = percentile(lags, 50) ?? Number.NaN;
      const p99 = percentile(lags, 99) ?? Number.NaN;
      const ok = failed === 0 && delivered === published && p99 < 100;
      if (ok) carried = Math.max(carried, rate);
      table.push(
        `| ${count} | ${rate} | ${Math.round(published / publishSeconds)} | ${((delivered / Math.max(1, published)) * 100).toFixed(1)} % | ${p50.toFixed(1)} | ${p99.toFixed(1)} | ${ok ? 'yes' : 'no'} |`,
      );
      process.stderr.write(`${table.at(-1)}\n`);
    }
    limits.push(`${count} sessions: ${carried} events/s`);
    for (const w of listeners) w.postMessage('stop');
    await Promise.all(listeners.map((w) => new Promise((resolve) => w.once('exit', resolve))));
  }
  await pool.end();
  await db.stop();
  const out = [
    ...table,
    '',
    `Carried (everything delivered, p99 < 100 ms): ${limits.join('; ')}.`,
    '',
    `<sub>\`npm run bench -- notify --listeners ${values.listeners} --rates ${values.rates} --seconds ${seconds}\`, ${new Date().toISOString().slice(0, 10)}; ${values.publishers} publishing connections and every listener in this process, Postgres on the same ${availableParallelism()} cores.</sub>`,
  ].join('\n');
  console.log(out);
  if (values.write) {
    const { PERFORMANCE_DOC, writeSections } = await import('./lib/doc-section.ts');
    await writeSections(PERFORMANCE_DOC, { notify: out });
  }
}

// `npm run profile:doctor -- SCENARIO`: a clinic doctor report of one worker under that
// scenario's load, written to profiles/SCENARIO/doctor.html. clinic refuses to run a cluster, so
// the service runs with one worker whose NODE_OPTIONS (WORKER_NODE_OPTIONS) load doctor's sampler
// and V8 trace events; the primary stays uninstrumented. The report is rendered from that
// worker's data the way `clinic doctor` renders its own.
import { mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadOneWorker } from './lib/one-worker.ts';
import { SCENARIOS } from './lib/scenarios.ts';
import { ROOT } from './lib/service.ts';

// clinic asks to send usage data on first use unless told not to; nothing may prompt here.
process.env.NO_INSIGHT = '1';
const require = createRequire(import.meta.url);
const Doctor = require('@clinic/doctor');
const joinTrace = require('@clinic/node-trace-log-join');
const loggingPaths = require('@clinic/clinic-common').getLoggingPaths('doctor');

const name = process.argv[2];
const scenario = SCENARIOS.find((s) => s.name === name);
if (!scenario) {
  process.stderr.write(
    `usage: npm run profile:doctor -- SCENARIO  (one of ${SCENARIOS.map((s) => s.name).join(', ')})\n`,
  );
  process.exit(2);
}

const dir = await mkdtemp(path.join(tmpdir(), 'ferrite-doctor-'));
const injects = path.join(path.dirname(require.resolve('@clinic/doctor')), 'injects');
const { result: r } = await loadOneWorker(scenario, path.join(dir, 'service.log'), {
  WORKER_NODE_OPTIONS: [
    `-r ${path.join(injects, 'sampler.js')}`,
    '--trace-events-enabled --trace-event-categories v8',
    `--trace-event-file-pattern ${dir}/node_trace.\${pid}.log`,
  ].join(' '),
  NODE_CLINIC_DOCTOR_DATA_PATH: dir,
  NODE_CLINIC_DOCTOR_SAMPLE_INTERVAL: '10',
  NODE_CLINIC_DOCTOR_COLLECT_LOOP_UTILIZATION: 'true',
});
process.stdout.write(
  `${scenario.name}: ${Math.round(r.rps)} req/s, p99 ${r.latencyMs.p99} ms under doctor\n`,
);

const traces = (await readdir(dir)).filter((f) => /^node_trace\.\d+\.log$/.test(f));
if (traces.length !== 1) throw new Error(`expected one worker trace in ${dir}, found ${traces.length}`);
const pid = Number((traces[0] as string).split('.')[1]);
const paths = loggingPaths({ path: dir, identifier: pid });
await promisify(joinTrace)(path.join(dir, traces[0] as string), paths['/traceevent']);
const html = path.join(dir, 'doctor.html');
const doctor = new Doctor();
await promisify(doctor.visualize.bind(doctor))(paths['/'], html);
const out = path.join(ROOT, 'profiles', scenario.name);
await mkdir(out, { recursive: true });
await rename(html, path.join(out, 'doctor.html'));
await rm(dir, { recursive: true, force: true });
process.stdout.write(`doctor report: ${path.relative(ROOT, path.join(out, 'doctor.html'))}\n`);

// `npm run profile -- SCENARIO`: a flamegraph of one worker under that scenario's load. The
// service runs with one worker whose V8 CPU profile (CPU_PROFILE_DIR) is turned into a 0x
// flamegraph at profiles/SCENARIO/flamegraph.html when the run ends.
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type CpuProfile, summarise } from './lib/cpuprofile.ts';
import { loadOneWorker } from './lib/one-worker.ts';
import { SCENARIOS } from './lib/scenarios.ts';
import { ROOT } from './lib/service.ts';

const name = process.argv[2];
const scenario = SCENARIOS.find((s) => s.name === name);
if (!scenario) {
  process.stderr.write(
    `usage: npm run profile -- SCENARIO  (one of ${SCENARIOS.map((s) => s.name).join(', ')})\n`,
  );
  process.exit(2);
}

const profDir = await mkdtemp(path.join(tmpdir(), 'ferrite-prof-'));
const { result: r, primaryPid } = await loadOneWorker(scenario, path.join(profDir, 'service.log'), {
  CPU_PROFILE_DIR: profDir,
});
process.stdout.write(
  `${scenario.name}: ${Math.round(r.rps)} req/s, p99 ${r.latencyMs.p99} ms while profiling\n`,
);

// The worker's profile is the one not written by the primary (whose pid is the service's).
const profiles = (await readdir(profDir)).filter(
  (f) => f.endsWith('.cpuprofile') && !f.includes(`.${primaryPid}.`),
);
if (profiles.length !== 1)
  throw new Error(`expected one worker profile in ${profDir}, found ${profiles.length}`);
const profile = path.join(profDir, profiles[0] as string);
const summary = summarise(JSON.parse(await readFile(profile, 'utf8')) as CpuProfile, ROOT);
const lines = [
  `# ${scenario.name}: where one worker's CPU went (self time, % of busy samples; idle ${summary.idlePercent.toFixed(0)} %)`,
  '',
  '| package / directory | % |',
  '|---|---|',
  ...summary.owners.map((o) => `| ${o.name} | ${o.percent.toFixed(1)} |`),
  '',
  '| function | % |',
  '|---|---|',
  ...summary.functions.map((f) => `| \`${f.name}\` | ${f.percent.toFixed(1)} |`),
  '',
  "| function (ferrite's or a package's), with what it called | % |",
  '|---|---|',
  ...summary.inclusive.map((f) => `| \`${f.name}\` | ${f.percent.toFixed(1)} |`),
  '',
];
process.stdout.write(`${lines.join('\n')}\n`);
execFileSync(path.join(ROOT, 'node_modules/.bin/0x'), ['--visualize-cpu-profile', profile], {
  stdio: 'inherit',
});
const out = path.join(ROOT, 'profiles', scenario.name);
await mkdir(out, { recursive: true });
await rename(path.join(profDir, 'flamegraph.html'), path.join(out, 'flamegraph.html'));
await writeFile(path.join(out, 'summary.md'), `${lines.join('\n')}\n`);
await rm(profDir, { recursive: true, force: true });
process.stdout.write(`flamegraph: ${path.relative(ROOT, path.join(out, 'flamegraph.html'))}\n`);

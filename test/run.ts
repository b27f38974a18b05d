// `npm test`: node's test runner with the suite's options and its usual output, then a check
// that every test file ran tests and that no file (nor the whole run) ran fewer than
// test/expected-tests.json records. A file whose set-up dies without reporting a failure (it
// once exited 0 having registered nothing) therefore still fails the run.
//
//   node test/run.ts [files or globs…] [--test-name-pattern=… and other node --test flags]
//   node test/run.ts --record     after a complete green run: raise the floors to today's counts
//   node test/run.ts --expected <file>   compare against another floors file
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { glob, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FileCount } from './runner/count-reporter.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const DEFAULT_FILES = 'test/**/*.test.ts';
/** Flags that run only part of a file: per-file floors cannot hold then. */
const FILTERS = [
  '--test-name-pattern',
  '--test-skip-pattern',
  '--test-only',
  '--test-shard',
  '--test-tag-filter',
];

interface Floors {
  /** Minimum of tests (run or skipped) in a complete run of the default files. */
  total: number;
  /** Minimum per file; a file not listed must still run at least one test. */
  files: Record<string, number>;
}

const args = process.argv.slice(2);
let expectedFile = path.join(ROOT, 'test/expected-tests.json');
let record = false;
const nodeFlags: string[] = [];
const patterns: string[] = [];
for (let i = 0; i < args.length; i++) {
  const arg = args[i] as string;
  if (arg === '--record') record = true;
  else if (arg === '--expected') expectedFile = path.resolve(args[++i] ?? '');
  else if (arg.startsWith('--')) nodeFlags.push(arg);
  else patterns.push(arg);
}
const complete = patterns.length === 0;
const filtered = nodeFlags.some((f) => FILTERS.some((name) => f.startsWith(name)));
if (complete) patterns.push(DEFAULT_FILES);

const files = new Set<string>();
for (const pattern of patterns) {
  for await (const f of glob(pattern, { cwd: ROOT })) files.add(path.normalize(f));
}

const scratch = await mkdtemp(path.join(tmpdir(), 'ferrite-test-run-'));
const countsFile = path.join(scratch, 'counts.json');
// Run from inside a test (test/run.test.ts), node would otherwise report to that test's runner.
const env = { ...process.env };
delete env.NODE_TEST_CONTEXT;
const child = spawn(
  process.execPath,
  [
    '--test',
    '--test-concurrency=1',
    '--test-timeout=60000',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    `--test-reporter=${path.join(import.meta.dirname, 'runner/count-reporter.ts')}`,
    `--test-reporter-destination=${countsFile}`,
    ...nodeFlags,
    ...patterns,
  ],
  { cwd: ROOT, env, stdio: 'inherit' },
);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];

let counts: Record<string, FileCount> = {};
try {
  counts = (JSON.parse(await readFile(countsFile, 'utf8')) as { files: Record<string, FileCount> }).files;
} catch {
  // No counts: the runner itself died; the problems below say so.
}
await rm(scratch, { recursive: true, force: true });

const floors: Floors = JSON.parse(await readFile(expectedFile, 'utf8').catch(() => '{"total":0,"files":{}}'));
const problems: string[] = [];
let total = 0;
for (const file of [...files].sort()) {
  const c = counts[file] ?? { ran: 0, skipped: 0, failed: 0 };
  total += c.ran + c.skipped;
  if (filtered) continue;
  if (c.ran === 0) problems.push(`${file} ran no tests${c.skipped ? ` (${c.skipped} skipped)` : ''}`);
  const floor = floors.files[file] ?? 0;
  if (c.ran + c.skipped < floor)
    problems.push(`${file} has ${c.ran + c.skipped} tests, expected at least ${floor}`);
}
if (complete && !filtered) {
  for (const file of Object.keys(floors.files)) {
    if (!files.has(file)) problems.push(`${file} is in ${path.basename(expectedFile)} but no longer exists`);
  }
  if (total < floors.total) problems.push(`the suite has ${total} tests, expected at least ${floors.total}`);
}

if (problems.length > 0) {
  console.log('\n✖ test counts:');
  for (const p of problems) console.log(`  ${p}`);
} else {
  console.log(
    `\n✔ test counts: ${files.size} files, ${total} tests${filtered ? ' (filtered: floors not checked)' : ''}`,
  );
}

const failed = code !== 0 || signal !== null || problems.length > 0;
if (record) {
  if (failed || !complete || filtered) {
    console.log('✖ --record needs a complete, green run of the whole suite; floors unchanged');
  } else {
    const next: Floors = { total, files: {} };
    for (const file of [...files].sort()) {
      const c = counts[file] as FileCount;
      next.files[file] = c.ran + c.skipped;
    }
    await writeFile(expectedFile, `${JSON.stringify(next, null, 2)}\n`);
    console.log(`✔ recorded floors in ${path.relative(ROOT, expectedFile)}`);
  }
}
process.exitCode = failed ? code || 1 : 0;

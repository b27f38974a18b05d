// `npm test`: node's test runner with the suite's options and its usual output, then a check
// that every test file ran tests and that no file (nor the whole run) ran fewer than
// test/expected-tests.json records. A file whose set-up dies without reporting a failure (it
// once exited 0 having registered nothing) therefore still fails the run.
//
//   node test/run.ts [files or globs…] [--test-name-pattern=… and other node --test flags]
//   node test/run.ts --record     after a complete green run: raise the floors to today's counts
//   node test/run.ts --expected <file>   compare against another floors file
//   node test/run.ts --single [files…]   only the single-process pass (below), or these files in it
//
// A complete run has a second pass: SINGLE_FILES again with the service in PROCESS_MODEL=single
// (TEST_PROCESS_MODEL=single; tests about the cluster itself are skipped there, with a reason),
// counted against the floors' `single` section; and a third: the auth suite (FALLBACK_FILES) with
// NATIVE_ADDONS=off, the prebuilt addons' fallbacks, counted against `fallback`.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { glob, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FileCount } from './runner/count-reporter.ts';
import { ensureSystemTools } from './runner/system.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const DEFAULT_FILES = 'test/**/*.test.ts';
/** The single-process pass: the service's behaviour over both protocols, each module, shutdown. */
const SINGLE_FILES = [
  'test/http.test.ts',
  'test/h2-limits.test.ts',
  'test/auth.test.ts',
  'test/rig.test.ts',
  'test/rig-history.test.ts',
  'test/rig-ready.test.ts',
  'test/rig-ws.test.ts',
  'test/gateway.test.ts',
  'test/cutover.test.ts',
  'test/projects.test.ts',
  'test/vfs.test.ts',
  'test/sse.test.ts',
  'test/streams.test.ts',
  'test/workflow.test.ts',
  'test/lifecycle.test.ts',
];
/** The fallbacks pass: the auth suite with the prebuilt addons' fallbacks (NATIVE_ADDONS=off). */
const FALLBACK_FILES = ['test/auth.test.ts', 'test/legacy-tokens.test.ts', 'test/users-import.test.ts'];
/** Flags that run only part of a file: per-file floors cannot hold then. */
const FILTERS = [
  '--test-name-pattern',
  '--test-skip-pattern',
  '--test-only',
  '--test-shard',
  '--test-tag-filter',
];

interface Counted {
  /** Minimum of tests (run or skipped) in a complete run of the default files. */
  total: number;
  /** Minimum per file; a file not listed must still run at least one test. */
  files: Record<string, number>;
}

interface Floors extends Counted {
  /** The single-process pass's. */
  single?: Counted;
  /** The fallbacks pass's. */
  fallback?: Counted;
}

const args = process.argv.slice(2);
let expectedFile = path.join(ROOT, 'test/expected-tests.json');
let record = false;
let singleOnly = false;
const nodeFlags: string[] = [];
const patterns: string[] = [];
for (let i = 0; i < args.length; i++) {
  const arg = args[i] as string;
  if (arg === '--record') record = true;
  else if (arg === '--expected') expectedFile = path.resolve(args[++i] ?? '');
  else if (arg === '--single') singleOnly = true;
  else if (arg.startsWith('--')) nodeFlags.push(arg);
  else patterns.push(arg);
}
const complete = patterns.length === 0;
const filtered = nodeFlags.some((f) => FILTERS.some((name) => f.startsWith(name)));
// Chromium only when browser tests are among the files run.
ensureSystemTools({ browser: complete || patterns.some((p) => /browser|\*/.test(p)) });
const floors: Floors = JSON.parse(await readFile(expectedFile, 'utf8').catch(() => '{"total":0,"files":{}}'));

interface Pass {
  failed: boolean;
  total: number;
  counts: Record<string, FileCount>;
  files: string[];
}

/** One run of node's test runner over `globs`, its counts checked against `floor`. */
async function pass(
  name: string,
  globs: string[],
  floor: Counted,
  extraEnv: Record<string, string>,
): Promise<Pass> {
  const files = new Set<string>();
  for (const pattern of globs) {
    for await (const f of glob(pattern, { cwd: ROOT })) files.add(path.normalize(f));
  }
  const scratch = await mkdtemp(path.join(tmpdir(), 'ferrite-test-run-'));
  const countsFile = path.join(scratch, 'counts.json');
  // Run from inside a test (test/run.test.ts), node would otherwise report to that test's runner.
  const env = { ...process.env, ...extraEnv };
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
      ...globs,
    ],
    { cwd: ROOT, env, stdio: 'inherit' },
  );
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', forward).on('SIGTERM', forward);
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  process.off('SIGINT', forward).off('SIGTERM', forward);

  let counts: Record<string, FileCount> = {};
  try {
    counts = (JSON.parse(await readFile(countsFile, 'utf8')) as { files: Record<string, FileCount> }).files;
  } catch {
    // No counts: the runner itself died; the problems below say so.
  }
  await rm(scratch, { recursive: true, force: true });

  const problems: string[] = [];
  let total = 0;
  for (const file of [...files].sort()) {
    const c = counts[file] ?? { ran: 0, skipped: 0, failed: 0 };
    total += c.ran + c.skipped;
    if (filtered) continue;
    if (c.ran === 0) problems.push(`${file} ran no tests${c.skipped ? ` (${c.skipped} skipped)` : ''}`);
    const least = floor.files[file] ?? 0;
    if (c.ran + c.skipped < least)
      problems.push(`${file} has ${c.ran + c.skipped} tests, expected at least ${least}`);
  }
  if (complete && !filtered) {
    for (const file of Object.keys(floor.files)) {
      if (!files.has(file))
        problems.push(`${file} is in ${path.basename(expectedFile)} but no longer exists`);
    }
    if (total < floor.total) problems.push(`the suite has ${total} tests, expected at least ${floor.total}`);
  }

  if (problems.length > 0) {
    console.log(`\n✖ test counts${name}:`);
    for (const p of problems) console.log(`  ${p}`);
  } else {
    console.log(
      `\n✔ test counts${name}: ${files.size} files, ${total} tests${filtered ? ' (filtered: floors not checked)' : ''}`,
    );
  }
  return {
    failed: code !== 0 || signal !== null || problems.length > 0,
    total,
    counts,
    files: [...files].sort(),
  };
}

const single = (globs: string[]) =>
  pass(' (PROCESS_MODEL=single)', globs, floors.single ?? { total: 0, files: {} }, {
    TEST_PROCESS_MODEL: 'single',
  });
const passes: { key: 'main' | 'single' | 'fallback'; result: Pass }[] = [];
if (singleOnly) {
  passes.push({ key: 'single', result: await single(complete ? SINGLE_FILES : patterns) });
} else {
  passes.push({ key: 'main', result: await pass('', complete ? [DEFAULT_FILES] : patterns, floors, {}) });
  if (complete) passes.push({ key: 'single', result: await single(SINGLE_FILES) });
  if (complete) {
    const fallback = await pass(
      ' (NATIVE_ADDONS=off)',
      FALLBACK_FILES,
      floors.fallback ?? { total: 0, files: {} },
      {
        NATIVE_ADDONS: 'off',
      },
    );
    passes.push({ key: 'fallback', result: fallback });
  }
}

const failed = passes.some((p) => p.result.failed);
if (record) {
  if (failed || !complete || filtered || singleOnly) {
    console.log('✖ --record needs a complete, green run of the whole suite; floors unchanged');
  } else {
    const section = (p: Pass): Counted => ({
      total: p.total,
      files: Object.fromEntries(
        p.files.map((f) => [f, (p.counts[f] as FileCount).ran + (p.counts[f] as FileCount).skipped]),
      ),
    });
    const main = passes.find((p) => p.key === 'main')?.result as Pass;
    const next: Floors = {
      ...section(main),
      single: section(passes.find((p) => p.key === 'single')?.result as Pass),
      fallback: section(passes.find((p) => p.key === 'fallback')?.result as Pass),
    };
    await writeFile(expectedFile, `${JSON.stringify(next, null, 2)}\n`);
    console.log(`✔ recorded floors in ${path.relative(ROOT, expectedFile)}`);
  }
}
process.exitCode = failed ? 1 : 0;

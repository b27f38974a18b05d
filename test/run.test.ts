import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { freePort } from '../src/db/embedded.ts';
import { onPath, plan, TOOLS } from './runner/system.ts';

const RUN = path.join(import.meta.dirname, 'run.ts');
const FIXTURES = 'test/runner/fixtures';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ferrite-run-test-'));
});
after(() => rm(dir, { recursive: true, force: true }));

/** Runs `npm test`'s runner on fixture files with the given floors; resolves with its exit code and output. */
async function runner(
  files: string[],
  floors: Record<string, number> = {},
  env: Record<string, string> = {},
) {
  const expected = path.join(dir, `floors-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(expected, JSON.stringify({ total: 0, files: floors }));
  const paths = files.map((f) => `${FIXTURES}/${f}`);
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [RUN, '--expected', expected, ...paths], {
      cwd: path.resolve(import.meta.dirname, '..'),
      env: { ...process.env, ...env },
    });
    return { code: 0, out: stdout };
  } catch (err) {
    const e = err as { code: number; stdout: string };
    return { code: e.code, out: e.stdout };
  }
}

describe('npm test (test/run.ts)', () => {
  it("passes a green file and prints node's closing lines and the counts", async () => {
    const { code, out } = await runner(['passes.fixture.ts']);
    assert.equal(code, 0, out);
    assert.match(out, /^ℹ tests 3$/m);
    assert.match(out, /^ℹ pass 2$/m);
    assert.match(out, /^ℹ fail 0$/m);
    assert.match(out, /✔ test counts: 1 files, 3 tests/);
  });

  it('fails when the test database cannot be created in a file-level before hook', async () => {
    const closed = await freePort();
    const { code, out } = await runner(
      ['database-down.fixture.ts'],
      {},
      {
        DATABASE_URL: `postgres://nobody:nothing@127.0.0.1:${closed}/none`,
      },
    );
    assert.notEqual(code, 0, out);
    assert.match(out, /ECONNREFUSED/);
    assert.match(out, /^ℹ fail 1$/m, 'the test that needed it fails');
  });

  it('fails when a file exits 0 without having run its tests', async () => {
    const { code, out } = await runner(['exits-early.fixture.ts', 'passes.fixture.ts']);
    assert.notEqual(code, 0, out);
    assert.match(out, /exits-early\.fixture\.ts ran no tests/);
    assert.doesNotMatch(out, /passes\.fixture\.ts ran/);
  });

  it('fails when a file has fewer tests than its recorded floor', async () => {
    const { code, out } = await runner(['passes.fixture.ts'], { [`${FIXTURES}/passes.fixture.ts`]: 4 });
    assert.notEqual(code, 0, out);
    assert.match(out, /passes\.fixture\.ts has 3 tests, expected at least 4/);
  });
});

describe('what the suite needs outside npm (test/runner/system.ts)', () => {
  it('finds commands on PATH, and nothing on an empty one', () => {
    assert.equal(onPath('node', path.dirname(process.execPath)), true);
    assert.equal(onPath('node', ''), false);
    assert.equal(onPath(process.execPath, ''), true, 'an absolute path is checked as it is');
  });

  it('installs what is missing as root with apt-get, else stops with the command to run', () => {
    const chromium = TOOLS.filter((t) => t.command === 'chromium');
    assert.deepEqual(plan([], { root: false, apt: false }), { kind: 'ready' });
    assert.deepEqual(plan(chromium, { root: true, apt: true }), {
      kind: 'install',
      packages: ['chromium'],
      command: ['apt-get', 'install', '-y', '-qq', 'chromium'],
    });
    const stop = plan(TOOLS, { root: false, apt: true });
    assert.equal(stop.kind, 'stop');
    assert.match(
      (stop as { message: string }).message,
      /sudo apt-get install -y procps chromium haproxy openssl/,
    );
    const elsewhere = plan(chromium, { root: true, apt: false });
    assert.match(
      (elsewhere as { message: string }).message,
      /install chromium with your system's package manager/,
    );
  });
});

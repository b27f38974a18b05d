import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

const writer = path.join(import.meta.dirname, 'helpers/log-writer.ts');

/** Runs the writer; its stdout is read only after `stallMs`. Resolves with the lines it wrote. */
async function run(env: Record<string, string>, stallMs = 0): Promise<Record<string, unknown>[]> {
  const child = spawn(process.execPath, [writer], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const chunks: Buffer[] = [];
  child.stdout.pause();
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  await sleep(stallMs);
  child.stdout.on('data', (c: Buffer) => chunks.push(c));
  child.stdout.resume();
  const [code] = await Promise.all([exited, new Promise((resolve) => child.stdout.once('end', resolve))]);
  assert.equal(code, 0);
  const text = Buffer.concat(chunks).toString('utf8');
  assert.ok(text.endsWith('\n'), 'the last line is complete');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const numbers = (lines: Record<string, unknown>[]) => lines.filter((l) => l.msg === 'line').map((l) => l.n);

describe('the log (LineBatch on stdout)', () => {
  it('writes every line, whole and in order, including those still pending at process.exit', async () => {
    const lines = await run({ LINES: '20000' });
    assert.deepEqual(
      numbers(lines),
      Array.from({ length: 20000 }, (_, i) => i),
    );
  });

  it('waits out a full non-blocking pipe (EAGAIN) and loses nothing', async () => {
    // ~6 MB of lines against a 64 KB pipe whose reader starts late.
    const lines = await run({ LINES: '20000', PAD: '300', NONBLOCKING: '1' }, 500);
    assert.deepEqual(
      numbers(lines),
      Array.from({ length: 20000 }, (_, i) => i),
    );
  });

  it('drops lines past its cap while the reader stalls, and says how many', async () => {
    const lines = await run({ LINES: '20000', PAD: '300', NONBLOCKING: '1', MAX_PENDING: '65536' }, 500);
    const written = numbers(lines);
    const notices = lines.filter((l) => l.msg === 'log lines dropped: the log reader fell behind');
    const dropped = notices.reduce((sum, l) => sum + Number(l.dropped), 0);
    assert.ok(dropped > 0, 'some lines were dropped');
    assert.equal(written.length + dropped, 20000, 'every line is either written or counted');
    assert.deepEqual(
      written,
      [...written].sort((a, b) => Number(a) - Number(b)),
      'in order',
    );
  });
});

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createLogger } from '../src/log.ts';
import { SearchError, SearchPool } from '../src/modules/workflow/search.pool.ts';

const pool = new SearchPool({ threads: 2, timeoutMs: 400, maxMatches: 5, log: createLogger('silent', {}) });
after(() => pool.close());

const files = [
  { path: 'src/b.ts', content: 'const Hello = 1;\n// hello again\n' },
  { path: 'README.md', content: '# hello\r\nsay HELLO twice: hello\n' },
  { path: 'empty.txt', content: '' },
];
const never = new AbortController().signal;

describe('vfs.search on the worker-thread pool', () => {
  it('finds literal text with path, 1-based line and column, and a preview, in path order', async () => {
    const r = await pool.search(files, { query: 'hello' }, never);
    assert.deepEqual(r, {
      matches: [
        { path: 'README.md', line: 1, column: 3, preview: '# hello' },
        { path: 'README.md', line: 2, column: 18, preview: 'say HELLO twice: hello' },
        { path: 'src/b.ts', line: 2, column: 4, preview: '// hello again' },
      ],
      truncated: false,
      filesSearched: 3,
    });
  });

  it('treats regex metacharacters literally unless regex is set, and honours ignoreCase', async () => {
    assert.equal((await pool.search(files, { query: 'h.llo' }, never)).matches.length, 0);
    const r = await pool.search(files, { query: 'h[a-z]llo', regex: true, ignoreCase: true }, never);
    assert.equal(r.matches.length, 5);
    assert.deepEqual(r.matches[2], {
      path: 'README.md',
      line: 2,
      column: 18,
      preview: 'say HELLO twice: hello',
    });
  });

  it('stops at the match limit and says so', async () => {
    const many = [{ path: 'x.txt', content: 'a\n'.repeat(100) }];
    const r = await pool.search(many, { query: 'a' }, never);
    assert.equal(r.matches.length, 5);
    assert.equal(r.truncated, true);
  });

  it('terminates when a pattern matches the empty string', async () => {
    const r = await pool.search([{ path: 'x', content: 'ab\ncd' }], { query: '^', regex: true }, never);
    assert.deepEqual(
      r.matches.map((m) => [m.line, m.column]),
      [
        [1, 1],
        [2, 1],
      ],
    );
  });

  it('rejects an invalid regular expression with a message saying so', async () => {
    await assert.rejects(
      pool.search(files, { query: '(unclosed', regex: true }, never),
      (err: unknown) =>
        err instanceof SearchError && /^invalid regular expression: .*unclosed/i.test(err.message),
    );
  });

  it('stops a catastrophically backtracking pattern at its deadline without blocking the event loop', async () => {
    const evil = [{ path: 'evil.txt', content: `${'a'.repeat(40)}!` }];
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    try {
      await assert.rejects(
        pool.search(evil, { query: '^(a+)+$', regex: true }, never),
        (err: unknown) => err instanceof SearchError && /stopped after 400 ms/.test(err.message),
      );
    } finally {
      clearInterval(ticker);
    }
    assert.ok(ticks >= 10, `the event loop kept running during the search (${ticks} ticks)`);
    // The runaway thread was terminated and replaced: the pool still answers.
    assert.equal((await pool.search(files, { query: 'Hello' }, never)).matches.length, 1);
  });

  it('loads no more projects at once than it has threads', async () => {
    let loading = 0;
    let most = 0;
    const load = async () => {
      most = Math.max(most, ++loading);
      await new Promise((resolve) => setTimeout(resolve, 20));
      loading--;
      return files;
    };
    const results = await Promise.all(
      [1, 2, 3, 4, 5].map(() => pool.searchLoaded(load, { query: 'again' }, never)),
    );
    assert.ok(results.every((r) => r.matches.length === 1));
    assert.equal(most, 2);
  });

  it('aborts when its signal aborts (a cancelled step)', async () => {
    const evil = [{ path: 'evil.txt', content: `${'a'.repeat(40)}!` }];
    const ac = new AbortController();
    const pending = pool.search(evil, { query: '^(a+)+$', regex: true }, ac.signal);
    setTimeout(() => ac.abort(new Error('cancelled')), 50);
    await assert.rejects(pending, (err: unknown) => !(err instanceof SearchError));
    assert.equal((await pool.search(files, { query: 'again' }, never)).matches.length, 1);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../src/config.ts';
import { type BreakerState, CircuitBreaker, type Permit } from '../src/modules/gateway/gateway.breaker.ts';
import { jsonDifferences } from '../src/modules/gateway/gateway.diff.ts';
import { connectionTokens, isHopByHop } from '../src/modules/gateway/gateway.headers.ts';
import { canonicalPath } from '../src/modules/gateway/gateway.paths.ts';
import { backoffMs, RetryBudget } from '../src/modules/gateway/gateway.retry.ts';

function clock(start = 1_000_000) {
  let now = start;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
  };
}

describe('CircuitBreaker', () => {
  const make = (t = clock()) => {
    const changes: string[] = [];
    const breaker = new CircuitBreaker({
      windowMs: 10_000,
      minRequests: 4,
      errorPercent: 50,
      openMs: 1000,
      now: t.now,
      onChange: (from: BreakerState, to: BreakerState) => changes.push(`${from}->${to}`),
    });
    return { breaker, changes, t };
  };
  const attempt = (b: CircuitBreaker, result: 'success' | 'failure') => {
    const permit = b.allow() as Permit;
    assert.ok(permit, 'allowed');
    b.record(permit, result);
  };

  it('stays closed below the minimum number of attempts, however many fail', () => {
    const { breaker } = make();
    for (let i = 0; i < 3; i++) attempt(breaker, 'failure');
    assert.equal(breaker.state, 'closed');
  });

  it('opens when the error rate in the window reaches the threshold, and refuses while open', () => {
    const { breaker, changes } = make();
    attempt(breaker, 'success');
    attempt(breaker, 'success');
    attempt(breaker, 'failure');
    assert.equal(breaker.state, 'closed', '1 of 3');
    attempt(breaker, 'failure');
    assert.equal(breaker.state, 'open', '2 of 4 = 50 %');
    assert.equal(breaker.allow(), undefined);
    assert.equal(breaker.retryAfterSeconds(), 1);
    assert.deepEqual(changes, ['closed->open']);
  });

  it('forgets attempts older than the window', () => {
    const { breaker, t } = make();
    for (let i = 0; i < 3; i++) attempt(breaker, 'failure');
    t.advance(11_000);
    attempt(breaker, 'failure');
    assert.equal(breaker.state, 'closed');
    assert.deepEqual(breaker.counts(), { total: 1, failed: 1 });
  });

  it('lets exactly one probe through when half-open; its success closes, its failure reopens', () => {
    const { breaker, changes, t } = make();
    for (let i = 0; i < 4; i++) attempt(breaker, 'failure');
    t.advance(1000);
    assert.equal(breaker.state, 'half-open');
    const probe = breaker.allow() as Permit;
    assert.ok(probe.probe);
    assert.equal(breaker.allow(), undefined, 'one probe at a time');
    breaker.record(probe, 'failure');
    assert.equal(breaker.state, 'open');
    t.advance(1000);
    const second = breaker.allow() as Permit;
    breaker.record(second, 'success');
    assert.equal(breaker.state, 'closed');
    assert.deepEqual(breaker.counts(), { total: 0, failed: 0 });
    assert.deepEqual(changes, [
      'closed->open',
      'open->half-open',
      'half-open->open',
      'open->half-open',
      'half-open->closed',
    ]);
  });

  it('frees the probe slot when the probe ends without a verdict (client gone)', () => {
    const { breaker, t } = make();
    for (let i = 0; i < 4; i++) attempt(breaker, 'failure');
    t.advance(1000);
    breaker.record(breaker.allow() as Permit, 'none');
    assert.equal(breaker.state, 'half-open');
    assert.ok(breaker.allow()?.probe);
  });

  it('ignores results of attempts permitted before the state changed', () => {
    const { breaker, t } = make();
    const stale = breaker.allow() as Permit;
    for (let i = 0; i < 4; i++) attempt(breaker, 'failure');
    t.advance(1000);
    breaker.record(stale, 'success');
    assert.equal(breaker.state, 'half-open', 'a slow success from before does not close it');
  });
});

describe('RetryBudget', () => {
  it('allows retries up to the percentage of requests plus the fixed allowance, per window', () => {
    const t = clock();
    const budget = new RetryBudget({ percent: 10, minPerWindow: 0, now: t.now });
    for (let i = 0; i < 100; i++) budget.request();
    const granted = Array.from({ length: 20 }, () => budget.tryRetry()).filter(Boolean).length;
    assert.equal(granted, 10, '10 % of 100 requests');
    t.advance(10_000);
    assert.equal(budget.tryRetry(), false, 'the requests left the window too');
    for (let i = 0; i < 10; i++) budget.request();
    assert.equal(budget.tryRetry(), true);
    assert.equal(budget.tryRetry(), false);
  });

  it('keeps a small allowance for quiet upstreams', () => {
    const budget = new RetryBudget({ percent: 10, minPerWindow: 3, now: clock().now });
    budget.request();
    const granted = Array.from({ length: 10 }, () => budget.tryRetry()).filter(Boolean).length;
    assert.equal(granted, 3);
  });
});

describe('backoffMs (full jitter)', () => {
  it('waits between 0 and min(max, base × 2^retry)', () => {
    assert.equal(
      backoffMs(0, 25, 250, () => 0.999),
      24,
    );
    assert.equal(
      backoffMs(1, 25, 250, () => 0.999),
      49,
    );
    assert.equal(
      backoffMs(5, 25, 250, () => 0.999),
      249,
    );
    assert.equal(
      backoffMs(3, 25, 250, () => 0),
      0,
    );
  });
});

describe('jsonDifferences', () => {
  const none = new Set<string>();
  it('ignores key order and reports differing places as JSON pointers', () => {
    assert.deepEqual(jsonDifferences({ a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1 }, none), []);
    assert.deepEqual(jsonDifferences({ a: 1, b: { 'c/d': [1, 2] } }, { a: 2, b: { 'c/d': [1, 3] } }, none), [
      '/a',
      '/b/c~1d/1',
    ]);
    assert.deepEqual(jsonDifferences({ a: [1] }, { a: [1, 2] }, none), ['/a/length']);
    assert.deepEqual(jsonDifferences({ a: 1 }, { a: 1, extra: null }, none), ['/extra']);
    assert.deepEqual(jsonDifferences(1, '1', none), ['/']);
  });

  it('skips ignored keys at any depth', () => {
    const ignore = new Set(['at', 'requestId']);
    assert.deepEqual(
      jsonDifferences(
        { at: 1, items: [{ at: 2, v: 1 }] },
        { at: 9, items: [{ at: 8, v: 1 }], requestId: 'x' },
        ignore,
      ),
      [],
    );
  });
});

describe('gateway headers and paths', () => {
  it('knows the hop-by-hop headers and the ones Connection names', () => {
    for (const h of [
      'connection',
      'keep-alive',
      'te',
      'trailer',
      'transfer-encoding',
      'upgrade',
      'proxy-authorization',
    ]) {
      assert.ok(isHopByHop(h), h);
    }
    assert.equal(isHopByHop('authorization'), false);
    assert.deepEqual([...connectionTokens(['keep-alive, X-A', 'x-b'])], ['keep-alive', 'x-a', 'x-b']);
  });

  it('reads a path as a normalising upstream would: decoded until stable, `;` parameters cut off', () => {
    for (const p of [
      '/a/../b',
      '/a/..',
      '/./a',
      '/a/%2e%2E/b',
      '/a%2f..%2fb',
      '/a\\..\\b',
      '/a/..;/b',
      '/a/%2e%2e;/b',
      '/a/..%3b/b',
      '/a/..%00/b',
      '/a/%252e%252e/b',
      '/a//b',
      '/a/%2Fb',
      '/a/%5cb',
      '/a/%25252525252e',
    ])
      assert.ok(canonicalPath(p).problem, p);
    for (const p of [
      '/a/b',
      '/a/.well-known',
      '/a/..b',
      '/v1/task/file.json',
      '/a/b;v=1',
      '/a/',
      '/a/%20b%',
    ]) {
      assert.equal(canonicalPath(p).problem, undefined, p);
    }
    assert.equal(canonicalPath('/V1/%74ask;x/a').loose, '/v1/task/a');
    assert.equal(canonicalPath('/v1//task/').loose, '/v1/task/');
  });
});

describe('gateway configuration', () => {
  it('parses GATEWAY_ROUTES and rejects reserved, repeated or malformed entries', () => {
    const cfg = parseConfig({
      GATEWAY_ROUTES: '/v1/orders=trade:http://orders:8080/base, /v2/jobs=task:https://jobs',
    });
    assert.deepEqual(cfg.GATEWAY_ROUTES, [
      { prefix: '/v1/orders', family: 'trade', url: 'http://orders:8080/base' },
      { prefix: '/v2/jobs', family: 'task', url: 'https://jobs' },
    ]);
    for (const bad of [
      '/api/x=task:http://a',
      '/v1/task=task:http://a',
      '/v1/o=admin:http://a',
      '/v1/o=task:ftp://a',
      '/v1/o=task:http://a?x=1',
      '/v1//o=task:http://a',
      '/a=task:http://x,/a=task:http://y',
    ]) {
      assert.throws(() => parseConfig({ GATEWAY_ROUTES: bad }), /GATEWAY_ROUTES/, bad);
    }
  });

  it('accepts only idempotent retry methods and upstream URLs without credentials', () => {
    assert.deepEqual(parseConfig({ GATEWAY_RETRY_METHODS: 'get, head' }).GATEWAY_RETRY_METHODS, [
      'GET',
      'HEAD',
    ]);
    assert.throws(() => parseConfig({ GATEWAY_RETRY_METHODS: 'GET,POST' }), /GATEWAY_RETRY_METHODS/);
    assert.throws(() => parseConfig({ TASK_UPSTREAM_URL: 'http://user:pw@tasks' }), /TASK_UPSTREAM_URL/);
    assert.throws(() => parseConfig({ GATEWAY_RETRIES: '3' }), /GATEWAY_RETRIES/);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bearer, h2once } from './helpers/clients.ts';
import { PROCESS_MODEL, useCluster } from './helpers/cluster.ts';
import { JWT_SECRET, mint } from './helpers/gateway.ts';
import { NodeDouble } from './helpers/node-double.ts';
import { until } from './helpers/until.ts';

// `/api/ready` reports whether the blockchain node answers (issue 18), from a probe each worker
// makes at most once every 5 s, and never answers 503 for it.

const node = new NodeDouble();
const service = useCluster(
  {
    doubles: [node],
    env: () => ({ JWT_SECRET, NODE_RPC_URL: node.url, NODE_RPC_TIMEOUT_MS: '1000' }),
  },
  async () => {
    admin = bearer((await mint('admin')).token);
  },
);
let admin: Record<string, string>;

const SERVING = PROCESS_MODEL === 'single' ? 1 : 2;
const PROBE_EVERY_MS = 5000;

interface NodeCheck {
  ok: boolean;
  latencyMs?: number;
  error?: string;
}

interface Ready {
  status: string;
  worker: string;
  checks: { node?: NodeCheck; database: unknown; draining: boolean };
}

const probes = () => node.calls.filter((c) => c.method === 'eth_blockNumber').length;

/** One `/api/ready` on a fresh connection (so on the next worker); it must answer 200. */
async function ready(headers: Record<string, string> = {}): Promise<Ready> {
  const res = await h2once(service.cluster.http, '/api/ready', { headers });
  assert.equal(res.status, 200, `the node never makes the worker unready: ${res.text()}`);
  const body = res.json<Ready>();
  assert.equal(body.status, 'ready');
  return body;
}

/** What every serving process reports of the node, once all of them satisfy `wanted`. */
function everyWorker(what: string, wanted: (check: NodeCheck) => boolean, headers = admin) {
  return until(what, async () => {
    const seen = new Map<string, NodeCheck>();
    for (let i = 0; i < 4 * SERVING && seen.size < SERVING; i++) {
      const body = await ready(headers);
      assert.ok(body.checks.node, 'a configured node is reported');
      seen.set(body.worker, body.checks.node);
    }
    return seen.size === SERVING && [...seen.values()].every(wanted) ? [...seen.values()] : undefined;
  });
}

/**
 * Probes made while `fn` ran: however many asked, each worker probes once, then again only
 * PROBE_EVERY_MS after its last answer.
 */
async function atMostOnceEvery5s(fn: () => Promise<void>): Promise<number> {
  const before = probes();
  const started = performance.now();
  await fn();
  const made = probes() - before;
  const allowed = SERVING * (1 + Math.floor((performance.now() - started) / PROBE_EVERY_MS));
  assert.ok(made <= allowed, `${made} probes, more than ${allowed}`);
  return made;
}

describe('GET /api/ready with NODE_RPC_URL', () => {
  it('when the node answers, then every worker reports it ok, with its latency to admins only', async () => {
    const checks = await everyWorker('every worker to have reached the node', (c) => c.ok);
    for (const check of checks) {
      assert.equal(typeof check.latencyMs, 'number');
      assert.equal(check.error, undefined);
    }
    const anonymous = await ready();
    assert.deepEqual(anonymous.checks.node, { ok: true });
    const probe = node.calls.find((c) => c.method === 'eth_blockNumber');
    assert.deepEqual(probe?.params, [], 'the probe is eth_blockNumber with no params');
  });

  it('when many ask, one after the other or at once, then each worker probes the node at most once every 5 s', async () => {
    await atMostOnceEvery5s(async () => {
      // One after the other, each answered before the next: only a cached result spares a probe.
      for (let i = 0; i < 40; i++) assert.equal((await ready()).checks.node?.ok, true);
      const answers = await Promise.all(Array.from({ length: 40 }, () => ready()));
      assert.ok(answers.every((a) => a.checks.node?.ok === true));
    });
  });

  it('when the node is slower than NODE_RPC_TIMEOUT_MS, then it is not ok and the worker stays ready', async () => {
    node.delayMs = 3000;
    try {
      // Bursts while the probes are under way: still one probe per worker at a time.
      await atMostOnceEvery5s(async () => {
        await everyWorker('every worker to time out on the node', (c) => {
          return !c.ok && /did not answer in time/.test(String(c.error));
        });
        await Promise.all(Array.from({ length: 30 }, () => ready()));
      });
      assert.deepEqual((await ready()).checks.node, { ok: false });
    } finally {
      node.delayMs = 0;
    }
  });

  it('when the node answers without JSON-RPC, then it is not ok; a JSON-RPC error object is an answer', async () => {
    node.down = true; // HTTP 503, a plain-text body
    try {
      await everyWorker(
        'every worker to see no JSON-RPC',
        (c) => !c.ok && /not JSON-RPC/.test(String(c.error)),
      );
    } finally {
      node.down = false;
    }
    node.rpcError = true;
    try {
      await everyWorker('every worker to count an error object as an answer', (c) => c.ok);
    } finally {
      node.rpcError = false;
    }
  });

  it('when the node is stopped, then it is not ok and the worker stays ready; started again, ok', async () => {
    const port = Number(new URL(node.url).port);
    await node.close();
    try {
      await everyWorker('every worker to find the node unreachable', (c) => {
        return !c.ok && /unreachable/.test(String(c.error));
      });
      const anonymous = await ready();
      assert.deepEqual(anonymous.checks.node, { ok: false });
      assert.deepEqual(anonymous.checks.database, { ok: true });
    } finally {
      await node.start(port);
    }
    await everyWorker('every worker to reach the node again', (c) => c.ok);
  });
});

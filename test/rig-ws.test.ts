import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { parseConfig } from '../src/config.ts';
import { AccessTokens } from '../src/modules/auth/auth.tokens.ts';
import { bearer, type H1Client } from './helpers/clients.ts';
import { PROCESS_MODEL, type RunningCluster, SIM_MINER_ENV, useCluster } from './helpers/cluster.ts';
import { until } from './helpers/until.ts';
import { newUser } from './helpers/workspace.ts';

const JWT_SECRET = 'ws-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz';
const service = useCluster(
  {
    env: {
      JWT_SECRET,
      DEFAULT_SCOPES: 'miner:read,miner:control',
      ...SIM_MINER_ENV,
      SIM_MINER_INTERVAL_MS: '50',
      SIM_MINER_BLOCK_CHANCE: '0.3',
      STATS_PUSH_INTERVAL_MS: '100',
      WS_PING_INTERVAL_MS: '200',
    },
  },
  async () => {
    ({ cluster, h1 } = service);
    token = (await newUser(h1, cluster.http)).token;
  },
);
let cluster: RunningCluster;
let h1: H1Client;
let token: string;

interface Message {
  type: string;
  data: Record<string, unknown>;
}

/** A connected client that records every message it receives. */
function connect(url: string, options: WebSocket.ClientOptions = {}, protocols?: string[]) {
  const ws = new WebSocket(url, protocols, options);
  const messages: Message[] = [];
  ws.on('message', (data) => messages.push(JSON.parse(String(data)) as Message));
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, messages, opened };
}

/** The HTTP status a refused upgrade answered with. */
function refusal(url: string, protocols?: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols);
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('open', () => reject(new Error('the upgrade was accepted')));
    ws.once('error', () => undefined);
  });
}

describe('GET /ws', () => {
  it('refuses the upgrade without a valid token (401) or without miner:read (403)', async () => {
    const ws = cluster.http.replace('http', 'ws');
    assert.equal(await refusal(`${ws}/ws`), 401);
    assert.equal(await refusal(`${ws}/ws?token=not.a.token`), 401);
    const noScope = await new AccessTokens(parseConfig({ JWT_SECRET })).issue({
      id: randomUUID(),
      scopes: ['projects:read'],
    });
    assert.equal(await refusal(`${ws}/ws?token=${noScope}`), 403);
    assert.equal(await refusal(`${ws}/elsewhere?token=${token}`), 404);
  });

  it('fans miner, stats and block events out to clients on every worker and listener', async () => {
    const ws = cluster.http.replace('http', 'ws');
    const wss = `${cluster.https.replace('https', 'wss')}/ws`;
    // Fresh connections alternate between the two workers.
    const clients = [
      connect(`${ws}/ws?token=${token}`),
      connect(`${ws}/ws?token=${token}`),
      connect(`${ws}/ws`, {}, ['bearer', token]),
      connect(`${ws}/ws`, {}, ['bearer', token]),
      connect(`${wss}?token=${token}`, { ca: cluster.ca }),
    ];
    await Promise.all(clients.map((c) => c.opened));
    assert.equal(clients[2]?.ws.protocol, 'bearer');
    for (const c of clients) {
      await until('the current miner state', () =>
        c.messages.some((m) => m.type === 'miner') ? true : undefined,
      );
    }

    const start = await h1.request(`${cluster.http}/api/miner/start`, {
      method: 'POST',
      headers: bearer(token),
    });
    assert.equal(start.status, 202);
    for (const c of clients) {
      await until('running, stats and a block', () => {
        const running = c.messages.some((m) => m.type === 'miner' && m.data.state === 'running');
        const stats = c.messages.some(
          (m) => m.type === 'stats' && (m.data.hashrate as { current: number }).current > 0,
        );
        const block = c.messages.some((m) => m.type === 'block' && typeof m.data.hash === 'string');
        return running && stats && block ? true : undefined;
      });
    }
    await h1.request(`${cluster.http}/api/miner/stop`, {
      method: 'POST',
      headers: bearer(token),
    });
    for (const c of clients) c.ws.close();
  });

  it('drops a peer that stops answering pings, and keeps one that answers', async () => {
    const url = `${cluster.http.replace('http', 'ws')}/ws?token=${token}`;
    const dead = connect(url, { autoPong: false });
    const live = connect(url);
    await Promise.all([dead.opened, live.opened]);
    const closed = new Promise<number>((resolve) => dead.ws.once('close', (code) => resolve(code)));
    assert.equal(await closed, 1006, 'terminated without a close frame');
    assert.equal(live.ws.readyState, WebSocket.OPEN);
    live.ws.close();
  });

  it('closes clients with 1001 when the worker drains', async () => {
    const c = connect(`${cluster.http.replace('http', 'ws')}/ws?token=${token}`);
    await c.opened;
    const closed = new Promise<number>((resolve) => c.ws.once('close', (code) => resolve(code)));
    // A worker drains in a rolling restart; the single process only when it stops (the last test).
    process.kill(cluster.pid, PROCESS_MODEL === 'single' ? 'SIGTERM' : 'SIGHUP');
    assert.equal(await closed, 1001);
    if (PROCESS_MODEL === 'single') assert.equal(await cluster.exited, 0);
    else await cluster.waitForLog((l) => l.msg === 'rolling restart finished', 60_000);
  });
});

import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { parseConfig } from '../src/config.ts';
import { Database } from '../src/db/pool.ts';
import { createLogger } from '../src/log.ts';
import { appendEvent } from '../src/modules/events/events.repo.ts';
import {
  createEventsService,
  EVENTS_CHANNEL,
  type ProjectEvent,
} from '../src/modules/events/events.service.ts';
import { bearer, type H1Client, h2request } from './helpers/clients.ts';
import { clusterOnly, PROCESS_MODEL, type RunningCluster, useCluster } from './helpers/cluster.ts';
import { dataOf, idsOf, SseStream } from './helpers/sse.ts';
import { until } from './helpers/until.ts';
import { Api, newUser, workerOf, workerOfAgent } from './helpers/workspace.ts';

const MAX_BUFFER = 65_536;
const RETAIN = 100;

interface FileChanged {
  change: string;
  path: string;
  version: number;
  contentHash?: string;
  size?: number;
}

/** 1, 2, …, n */
const upTo = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('GET /api/sse/projects/:id', () => {
  const service = useCluster(
    {
      workers: 2,
      env: {
        SSE_HEARTBEAT_MS: '200',
        SSE_RETRY_MS: '250',
        SSE_MAX_BUFFER_BYTES: String(MAX_BUFFER),
        EVENTS_RETAIN_PER_PROJECT: String(RETAIN),
      },
    },
    async () => {
      ({ cluster, h1 } = service);
      token = (await newUser(h1, cluster.http)).token;
      api = new Api(h1, cluster.http, token);
    },
  );
  let cluster: RunningCluster;
  let h1: H1Client;
  let api: Api;
  let token: string;
  const auth = () => bearer(token);
  const streamPath = (id: string) => `/api/sse/projects/${id}`;
  const openH1 = (id: string, headers: Record<string, string> = {}, agent?: http.Agent) =>
    SseStream.h1(`${cluster.http}${streamPath(id)}`, { ...auth(), ...headers }, agent);

  describe('access', () => {
    it('requires a token (header or ?access_token=), answers 404 for an unknown project and 400 for a bad Last-Event-ID', async () => {
      const id = await api.createProject();
      const anonymous = await SseStream.h1(`${cluster.http}${streamPath(id)}`);
      assert.equal(anonymous.status, 401);
      assert.equal(JSON.parse(await anonymous.text()).code, 'UNAUTHORIZED');

      const viaQuery = await SseStream.h1(`${cluster.http}${streamPath(id)}?access_token=${token}`);
      assert.equal(viaQuery.status, 200);
      viaQuery.close();

      const head = await h1.request(`${cluster.http}${streamPath(id)}`, { method: 'HEAD', headers: auth() });
      assert.equal(head.status, 200, 'HEAD answers without holding a stream open');
      assert.match(String(head.headers['content-type']), /^text\/event-stream/);

      const unknown = await openH1('00000000-0000-4000-8000-000000000000');
      assert.equal(unknown.status, 404);
      for (const bad of ['abc', '-1', '1.5', '9'.repeat(16)]) {
        const res = await openH1(id, { 'last-event-id': bad });
        assert.equal(res.status, 400, bad);
        assert.equal(JSON.parse(await res.text()).code, 'VALIDATION_FAILED');
      }
    });
  });

  describe('delivery', () => {
    it('streams file changes at once over HTTP/1.1, uncompressed, with retry and heartbeats', async () => {
      const id = await api.createProject();
      const stream = await openH1(id, { 'accept-encoding': 'gzip, deflate, br' });
      try {
        assert.equal(stream.status, 200);
        assert.equal(stream.headers['content-type'], 'text/event-stream; charset=utf-8');
        assert.match(String(stream.headers['cache-control']), /no-cache/);
        assert.equal(stream.headers['x-accel-buffering'], 'no');
        assert.equal(stream.headers['content-encoding'], undefined);
        await stream.waitFor('retry', (s) => s.retry === 250);

        await api.put(id, 'one.txt', '1');
        await stream.waitForEvents(1);
        await api.put(id, 'one.txt', '11');
        await api.request(`/api/projects/${id}/files/one.txt`, { method: 'DELETE' });
        await stream.waitForEvents(3);
        assert.deepEqual(idsOf(stream.events), [1, 2, 3]);
        assert.deepEqual(
          stream.events.map((e) => e.event),
          ['file.changed', 'file.changed', 'file.changed'],
        );
        const data = dataOf<FileChanged>(stream.events);
        assert.deepEqual(
          data.map((d) => [d.change, d.path, d.version]),
          [
            ['created', 'one.txt', 1],
            ['updated', 'one.txt', 2],
            ['deleted', 'one.txt', 3],
          ],
        );
        assert.match(String(data[0]?.contentHash), /^[0-9a-f]{16}$/);
        await stream.waitFor(
          'two heartbeats',
          (s) => s.comments.filter((c) => c === 'heartbeat').length >= 2,
        );
      } finally {
        stream.close();
      }
    });

    for (const [label, origin] of [
      ['HTTP/2 (h2c)', () => cluster.http],
      ['HTTP/2 over TLS', () => cluster.https],
    ] as const) {
      it(`streams file changes at once over ${label}`, async () => {
        const id = await api.createProject();
        const session = http2.connect(origin(), { ca: cluster.ca });
        session.on('error', () => undefined);
        try {
          const stream = await SseStream.h2(session, streamPath(id), {
            ...auth(),
            'accept-encoding': 'gzip, br',
          });
          assert.equal(stream.status, 200);
          assert.equal(stream.headers['content-type'], 'text/event-stream; charset=utf-8');
          assert.equal(stream.headers['content-encoding'], undefined);
          await stream.waitFor('retry', (s) => s.retry !== undefined);
          for (let i = 1; i <= 3; i++) {
            await api.put(id, `f${i}.txt`, `${i}`);
            // Each event arrives before the next change is made: nothing sits in a buffer.
            await stream.waitForEvents(i);
          }
          assert.deepEqual(idsOf(stream.events), [1, 2, 3]);
          await stream.waitFor('a heartbeat', (s) => s.comments.includes('heartbeat'));
          stream.close();
        } finally {
          session.close();
        }
      });
    }

    it('sends only what happens after connecting when there is no Last-Event-ID', async () => {
      const id = await api.createProject();
      await api.put(id, 'old.txt', 'old');
      const stream = await openH1(id);
      try {
        await stream.waitFor('retry', (s) => s.retry !== undefined);
        await api.put(id, 'new.txt', 'new');
        await stream.waitForEvents(1);
        assert.deepEqual(idsOf(stream.events), [2]);
        assert.equal(dataOf<FileChanged>(stream.events)[0]?.path, 'new.txt');
      } finally {
        stream.close();
      }
    });

    it('opens only once it knows where it starts: a change made after the client sees it open is on it', async () => {
      const id = await api.createProject();
      // This session holds the event log, so the stream's start-up read waits on it, and commits
      // a change with the lock's release. The client must not see the stream open before its
      // start is known: with the head sent first, a change committed before the start-up read
      // was taken for already seen by a client that had seen the stream open. (The lab's fan-out
      // hit this when start-up queued behind a busy pool: the first write after the streams
      // opened went missing from a few of them.)
      const holder = new pg.Client({ connectionString: service.db.url });
      const watcher = new pg.Client({ connectionString: service.db.url });
      await holder.connect();
      await watcher.connect();
      let stream: SseStream | undefined;
      try {
        await holder.query('BEGIN');
        await holder.query('LOCK TABLE project_events IN ACCESS EXCLUSIVE MODE');
        const opening = openH1(id).then((s) => {
          stream = s;
          return s;
        });
        await until('the start-up read waiting on the event log', async () => {
          const res = await watcher.query(
            `SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
             AND wait_event_type = 'Lock' AND query LIKE '%event_seq AS current%'`,
          );
          return res.rowCount ? true : undefined;
        });
        assert.equal(stream, undefined, 'no head while the start-up read waits');
        const between = await appendEvent(
          holder,
          EVENTS_CHANNEL,
          id,
          'file.changed',
          JSON.stringify({ change: 'created', path: 'between.txt', version: 1 }),
        );
        assert.equal(between, 1);
        await holder.query('COMMIT');

        const s = await opening;
        assert.equal(s.status, 200);
        await api.put(id, 'after.txt', 'x');
        await s.waitFor('the change made after it opened', (x) => idsOf(x.events).includes(2));
        assert.deepEqual(idsOf(s.events), [2], 'the change committed before it opened is not replayed');
      } finally {
        stream?.close();
        await holder.end();
        await watcher.end();
      }
    });
  });

  describe('replay', () => {
    it('replays what came after Last-Event-ID (header or ?lastEventId=), then continues live', async () => {
      const id = await api.createProject();
      for (let i = 1; i <= 5; i++) await api.put(id, `r${i}.txt`, `${i}`);
      const byHeader = await openH1(id, { 'last-event-id': '2' });
      const byQuery = await SseStream.h1(`${cluster.http}${streamPath(id)}?lastEventId=4`, auth());
      try {
        await byHeader.waitForEvents(3);
        await byQuery.waitForEvents(1);
        await api.put(id, 'r6.txt', '6');
        await byHeader.waitForEvents(4);
        await byQuery.waitForEvents(2);
        assert.deepEqual(idsOf(byHeader.events), [3, 4, 5, 6]);
        assert.deepEqual(idsOf(byQuery.events), [5, 6]);
        assert.deepEqual(
          dataOf<FileChanged>(byHeader.events).map((d) => d.path),
          ['r3.txt', 'r4.txt', 'r5.txt', 'r6.txt'],
        );
      } finally {
        byHeader.close();
        byQuery.close();
      }
    });

    it('loses nothing and repeats nothing across reconnections while files keep changing', async () => {
      const id = await api.createProject();
      const total = 80;
      let writing = true;
      const writer = (async () => {
        for (let i = 1; i <= total; i++) {
          const res = await api.put(id, `w/${i % 7}.txt`, `write ${i}`);
          assert.ok(res.status === 200 || res.status === 201, res.text());
        }
        writing = false;
      })();
      const seen: number[] = [];
      let last: string | undefined;
      let connections = 0;
      // Drop the connection after every few events and resume from the last id received,
      // alternating protocols, while the writer keeps going.
      while (writing || seen.length < total) {
        connections++;
        const headers = last === undefined ? { 'last-event-id': '0' } : { 'last-event-id': last };
        const session = connections % 2 === 0 ? http2.connect(cluster.http) : undefined;
        const stream = session
          ? await SseStream.h2(session, streamPath(id), { ...auth(), ...headers })
          : await openH1(id, headers);
        const want = Math.min(total, seen.length + 1 + (connections % 5));
        await stream.waitFor(`event ${want}`, (s) => seen.length + s.events.length >= want, 20_000);
        stream.close();
        session?.close();
        seen.push(...idsOf(stream.events));
        last = stream.lastEventId ?? last;
      }
      await writer;
      assert.ok(connections > 10, `reconnected ${connections} times`);
      assert.deepEqual(seen, upTo(1, total));
    });

    it('answers an id older than the retained log with stream.reset, then what is left', async () => {
      const id = await api.createProject();
      const n = RETAIN * 2 + 10;
      for (let i = 1; i <= n; i++) await api.put(id, 'churn.txt', `${i}`);
      // Events up to n - RETAIN (rounded to the pruning step) are gone.
      const stream = await openH1(id, { 'last-event-id': '5' });
      try {
        await stream.waitFor('the end of the replay', (s) => s.lastEventId === String(n));
        const [reset, ...rest] = stream.events;
        assert.equal(reset?.event, 'stream.reset');
        const info = JSON.parse(reset?.data ?? '{}');
        assert.equal(info.reason, 'pruned');
        assert.equal(info.lastEventId, 5);
        assert.equal(Number(reset?.id), info.resumeAfter);
        assert.deepEqual(idsOf(rest), upTo(info.resumeAfter + 1, n));
        assert.ok(rest.length >= RETAIN, `at least ${RETAIN} events are kept (got ${rest.length})`);
      } finally {
        stream.close();
      }
    });

    it('answers an id the project never issued with stream.reset and carries on from now', async () => {
      const id = await api.createProject();
      await api.put(id, 'a.txt', 'a');
      const stream = await openH1(id, { 'last-event-id': '999' });
      try {
        await stream.waitForEvents(1);
        assert.equal(stream.events[0]?.event, 'stream.reset');
        assert.equal(JSON.parse(stream.events[0]?.data ?? '{}').reason, 'unknown-id');
        assert.equal(stream.events[0]?.id, '1');
        await api.put(id, 'b.txt', 'b');
        await stream.waitForEvents(2);
        assert.equal(stream.events[1]?.id, '2');
      } finally {
        stream.close();
      }
    });
  });

  describe('across workers', () => {
    it(
      'delivers every change to subscribers on every worker, whichever worker made it',
      clusterOnly,
      async () => {
        const id = await api.createProject();
        // One HTTP/2 session is one connection to one worker; open sessions until both answer.
        const byWorker = new Map<string, http2.ClientHttp2Session>();
        const spare: http2.ClientHttp2Session[] = [];
        for (let i = 0; i < 12 && byWorker.size < 2; i++) {
          const session = http2.connect(cluster.http);
          session.on('error', () => undefined);
          const worker = await workerOf(session);
          if (byWorker.has(worker)) spare.push(session);
          else byWorker.set(worker, session);
        }
        for (const s of spare) s.close();
        assert.equal(byWorker.size, 2, 'sessions on both workers');
        // And an HTTP/1.1 subscriber, on whichever worker its connection landed.
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        const h1Worker = await workerOfAgent(cluster.http, agent);
        try {
          const streams = [
            ...(await Promise.all(
              [...byWorker.values()].map((s) => SseStream.h2(s, streamPath(id), auth())),
            )),
            await openH1(id, {}, agent),
          ];
          for (const s of streams) await s.waitFor('retry', (x) => x.retry !== undefined);
          const workers = [...byWorker.keys()];
          // Each change is made through a connection to a given worker.
          for (let i = 0; i < 6; i++) {
            const worker = workers[i % 2] as string;
            const res = await h2request(
              byWorker.get(worker) as http2.ClientHttp2Session,
              `/api/projects/${id}/files/x${i}.txt`,
              {
                method: 'PUT',
                headers: auth(),
                body: `from worker ${worker}`,
              },
            );
            assert.equal(res.status, 201);
          }
          for (const s of streams) {
            await s.waitForEvents(6);
            assert.deepEqual(idsOf(s.events), upTo(1, 6));
          }
          assert.ok(workers.includes(h1Worker));
          for (const s of streams) s.close();
        } finally {
          agent.destroy();
          for (const s of byWorker.values()) s.close();
        }
      },
    );

    it("keeps delivering when a worker's LISTEN session is killed: it reconnects and catches up", async () => {
      const id = await api.createProject();
      const streams = await Promise.all([openH1(id), openH1(id), openH1(id)]);
      for (const s of streams) await s.waitFor('retry', (x) => x.retry !== undefined);
      await api.put(id, 'before.txt', 'x');
      for (const s of streams) await s.waitForEvents(1);

      const logsBefore = cluster.logs.length;
      const admin = new pg.Client({ connectionString: service.db.url });
      await admin.connect();
      try {
        const killed = await admin.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE datname = current_database() AND application_name LIKE 'ferrite-listener-%'`,
        );
        assert.equal(killed.rowCount, PROCESS_MODEL === 'single' ? 1 : 2, 'one listener per serving process');
      } finally {
        await admin.end();
      }
      // Changes made while the listeners are down reach the streams once they are back.
      for (let i = 0; i < 5; i++) await api.put(id, `during-${i}.txt`, 'x');
      for (const s of streams) {
        await s.waitForEvents(6);
        assert.deepEqual(idsOf(s.events), upTo(1, 6));
        s.close();
      }
      await cluster.waitForLog(
        (l) =>
          l.msg === 'LISTEN session lost its postgres connection' && cluster.logs.indexOf(l) >= logsBefore,
      );
    });
  });

  describe('publishing from outside the cluster', () => {
    it('reaches subscribers everywhere, large events included (read back from the log)', async () => {
      const id = await api.createProject();
      const stream = await openH1(id);
      await stream.waitFor('retry', (s) => s.retry !== undefined);
      // Another process on the same database, as another host would be.
      const log = createLogger('silent', {});
      const config = parseConfig({ DATABASE_URL: service.db.url });
      const pool = new Database(
        {
          connectionString: service.db.url,
          max: 2,
          connectTimeoutMs: 3000,
          idleTimeoutMs: 1000,
          statementTimeoutMs: 5000,
          retryAfterSeconds: 1,
          applicationName: 'sse-test',
        },
        log,
      );
      const events = createEventsService({ db: pool, config, log });
      const heard: ProjectEvent[] = [];
      const unsubscribe = events.subscribe(id, {
        offer: (e) => heard.push(e),
        resync: () => undefined,
        end: () => undefined,
      });
      try {
        await until('the listener', () => (events.listening() ? true : undefined));
        const small = { runId: 'r1', stepId: 's1', ok: true };
        // Past NOTIFY's 8000-byte payload limit: only its id travels, the rest is read back.
        const large = { runId: 'r1', stepId: 's2', output: 'x'.repeat(20_000) };
        assert.equal(await events.publishNow(id, 'workflow.step.finished', small), 1);
        assert.equal(await events.publishNow(id, 'workflow.step.finished', large), 2);
        await api.put(id, 'after.txt', 'x');
        await stream.waitForEvents(3);
        assert.deepEqual(idsOf(stream.events), [1, 2, 3]);
        assert.deepEqual(dataOf(stream.events).slice(0, 2), [small, large]);
        assert.deepEqual(
          stream.events.map((e) => e.event),
          ['workflow.step.finished', 'workflow.step.finished', 'file.changed'],
        );
        await until('the local subscriber', () => (heard.length === 3 ? true : undefined));
        assert.deepEqual(
          heard.map((e) => e.seq),
          [1, 2, 3],
        );
        assert.deepEqual(heard[1]?.data, large);
        await assert.rejects(events.publishNow('00000000-0000-4000-8000-000000000000', 'file.changed', {}), {
          code: 'NOT_FOUND',
        });
      } finally {
        unsubscribe();
        stream.close();
        await events.close();
        await pool.close();
      }
    });
  });

  describe('slow clients', () => {
    it('disconnects a client that stops reading once its backlog passes the limit; it resumes with Last-Event-ID', async () => {
      const id = await api.createProject();
      // A client that reads nothing: HTTP/2 flow control stops the server from sending.
      const session = http2.connect(cluster.http, { settings: { initialWindowSize: 0 } });
      session.on('error', () => undefined);
      const stalled = session.request({ ':path': streamPath(id), ...auth(), 'last-event-id': '0' });
      stalled.on('error', () => undefined);
      const status = await new Promise<number>((resolve) =>
        stalled.once('response', (h) => resolve(Number(h[':status']))),
      );
      assert.equal(status, 200);
      const closed = new Promise<void>((resolve) => stalled.once('close', () => resolve()));

      // ~1.3 KB per event (long paths): the backlog passes the limit after about 50 events.
      const dir = 'd'.repeat(250);
      let written = 0;
      let gone = false;
      void closed.then(() => {
        gone = true;
      });
      while (!gone && written < 400) {
        written++;
        await api.put(id, `${dir}/${dir}/${dir}/${String(written).padStart(4, '0')}.txt`, 'x');
      }
      await closed;
      assert.ok(written < 400, `cut off after ${written} events`);
      session.destroy();

      const resumed = await openH1(id, { 'last-event-id': '0' });
      try {
        await resumed.waitForEvents(written);
        assert.deepEqual(idsOf(resumed.events), upTo(1, written));
        const backlog = resumed.events.reduce(
          (n, e) => n + Buffer.byteLength(`id: ${e.id}\nevent: ${e.event}\ndata: ${e.data}\n\n`),
          0,
        );
        assert.ok(backlog > MAX_BUFFER - 1024, `cut off only past the limit (backlog ${backlog} bytes)`);
      } finally {
        resumed.close();
      }
    });
  });

  describe('ending', () => {
    it('ends the streams of a deleted project', async () => {
      const id = await api.createProject();
      const stream = await openH1(id);
      await stream.waitFor('retry', (s) => s.retry !== undefined);
      assert.equal((await api.request(`/api/projects/${id}`, { method: 'DELETE' })).status, 204);
      await stream.ended;
      const again = await openH1(id);
      assert.equal(again.status, 404);
    });

    it(
      'ends streams when their worker drains (rolling restart); clients resume elsewhere without loss',
      clusterOnly,
      async () => {
        const id = await api.createProject();
        const seen: number[] = [];
        let last = '0';
        let current: SseStream | undefined;
        let running = true;
        let reconnects = 0;
        const follower = (async () => {
          while (running) {
            const stream = await openH1(id, { 'last-event-id': last }).catch(() => undefined);
            if (stream?.status !== 200) {
              await sleep(50);
              continue;
            }
            current = stream;
            await Promise.race([stream.ended, until('stop', () => (running ? undefined : true), 600)]);
            stream.close();
            seen.push(...idsOf(stream.events));
            last = stream.lastEventId ?? last;
            if (running) reconnects++;
          }
        })();
        const logStart = cluster.logs.length;
        process.kill(cluster.pid, 'SIGHUP');
        let done = false;
        const rolled = cluster
          .waitForLog(
            (l) => l.msg === 'rolling restart finished' && cluster.logs.indexOf(l) >= logStart,
            60_000,
          )
          .finally(() => {
            done = true;
          });
        // Changes keep coming throughout the restart.
        let written = 0;
        while (!done) {
          const res = await api.put(id, `roll-${written}.txt`, 'x').catch(() => undefined);
          if (res && (res.status === 200 || res.status === 201)) written++;
          await sleep(20);
        }
        await rolled;
        await until('the follower to catch up', () =>
          (current?.lastEventId ?? last) === String(written) ? true : undefined,
        );
        running = false;
        await follower;
        assert.ok(reconnects >= 1, 'the stream ended with its worker and was resumed');
        assert.deepEqual(seen, upTo(1, written));
      },
    );
  });
});

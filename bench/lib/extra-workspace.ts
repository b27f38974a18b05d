// The workspace's lab measurements that are not a request loop: `sse-fanout` (event delivery to
// many subscribers of one project) and `workflow` (runs per second of a 5-step plan).
import { Agent, request } from 'undici';
import { percentile } from './stats.ts';

export interface SseFanoutResult {
  clients: number;
  connected: number;
  events: number;
  /** From sending the file write to one subscriber receiving its `file.changed`. */
  deliveryMs: { p50: number; p99: number; max: number };
  /** Events some subscriber never received within 10 s of the last write (should be 0). */
  missed: number;
}

/**
 * Opens `clients` event streams on one project (HTTP/1.1, one connection each, spread over the
 * workers), then writes a file `rounds` times, one write at a time; every write's
 * `file.changed` must reach every subscriber, whichever worker it is connected to.
 */
export async function sseFanout(
  origin: string,
  token: string,
  project: string,
  clients: number,
  rounds: number,
): Promise<SseFanoutResult> {
  const agent = new Agent({ connections: clients + 16, pipelining: 0 });
  const auth = { authorization: `Bearer ${token}` };
  // Writes go one at a time, so a stream's n-th `file.changed` is the n-th write's.
  const arrivals: number[][] = [];
  let wake: () => void = () => undefined;
  const streams: { destroy: () => void }[] = [];
  const opened = await Promise.allSettled(
    Array.from({ length: clients }, async () => {
      const res = await request(`${origin}/api/sse/projects/${project}`, {
        headers: { ...auth, accept: 'text/event-stream' },
        dispatcher: agent,
      });
      if (res.statusCode !== 200) throw new Error(`SSE answered ${res.statusCode}`);
      streams.push(res.body);
      const mine: number[] = [];
      arrivals.push(mine);
      let buffer = '';
      res.body.setEncoding('utf8');
      res.body.on('data', (chunk: string) => {
        const at = performance.now();
        buffer += chunk;
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (/^event: file\.changed$/m.test(frame)) {
            mine.push(at);
            wake();
          }
          end = buffer.indexOf('\n\n');
        }
      });
      res.body.on('error', () => undefined);
    }),
  );
  const connected = opened.filter((o) => o.status === 'fulfilled').length;
  const sentAt: number[] = [];
  /** Until every stream has `n` events, or `ms` passed. */
  const allHave = (n: number, ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      const check = () => {
        if (arrivals.every((a) => a.length >= n)) {
          clearTimeout(timer);
          resolve();
        }
      };
      wake = check;
      check();
    });
  try {
    for (let i = 0; i < rounds; i++) {
      sentAt.push(performance.now());
      const put = await request(`${origin}/api/projects/${project}/files/bench/fanout.txt`, {
        method: 'PUT',
        headers: { ...auth, 'content-type': 'text/plain' },
        body: `round ${i} ${Date.now()}`,
      });
      await put.body.dump();
      await allHave(i + 1, 5000);
    }
    await allHave(rounds, 10_000); // late events still count, as late
  } finally {
    for (const s of streams) s.destroy();
    await agent.close().catch(() => undefined);
  }
  const samples = arrivals.flatMap((a) => a.slice(0, rounds).map((at, i) => at - (sentAt[i] ?? at)));
  const missed = arrivals.reduce((sum, a) => sum + Math.max(0, rounds - a.length), 0);
  const p = (q: number) => Math.round((percentile(samples, q) ?? 0) * 100) / 100;
  return {
    clients,
    connected,
    events: rounds,
    deliveryMs: { p50: p(50), p99: p(99), max: p(100) },
    missed,
  };
}

export interface WorkflowResult {
  seconds: number;
  concurrency: number;
  runs: number;
  runsPerSec: number;
  failed: number;
  /** Submit to finished, as the client sees it (polling every 20 ms). */
  runMs: { p50: number; p99: number };
}

/** Two independent writes, a search that waits on both, then two deletes: nothing is left. */
export function benchPlan(n: number) {
  const dir = `wf/${n}`;
  return {
    steps: [
      {
        id: 'a',
        tool: 'vfs.write',
        args: { path: `${dir}/a.txt`, content: 'alpha bench line\n' },
        dependsOn: [],
      },
      {
        id: 'b',
        tool: 'vfs.write',
        args: { path: `${dir}/b.txt`, content: 'beta bench line\n' },
        dependsOn: [],
      },
      { id: 's', tool: 'vfs.search', args: { query: 'bench' }, dependsOn: ['a', 'b'] },
      { id: 'da', tool: 'vfs.delete', args: { path: `${dir}/a.txt` }, dependsOn: ['s'] },
      { id: 'db', tool: 'vfs.delete', args: { path: `${dir}/b.txt` }, dependsOn: ['s'] },
    ],
  };
}

/** `concurrency` clients each submitting a 5-step run and waiting for it, for `seconds`. */
export async function workflowRuns(
  origin: string,
  token: string,
  project: string,
  concurrency: number,
  seconds: number,
): Promise<WorkflowResult> {
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const until = performance.now() + seconds * 1000;
  const durations: number[] = [];
  let failed = 0;
  let n = 0;
  const client = async () => {
    while (performance.now() < until) {
      const began = performance.now();
      const res = await request(`${origin}/api/workflow/run`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ projectId: project, plan: benchPlan(n++) }),
      });
      const body = (await res.body.json()) as { runId?: string };
      if (res.statusCode !== 202 || !body.runId) throw new Error(`workflow run answered ${res.statusCode}`);
      for (;;) {
        await new Promise((r) => setTimeout(r, 20));
        const run = await request(`${origin}/api/workflow/runs/${body.runId}`, { headers });
        const state = (await run.body.json()) as { status: string };
        if (state.status === 'succeeded' || state.status === 'failed' || state.status === 'cancelled') {
          if (state.status !== 'succeeded') failed++;
          durations.push(performance.now() - began);
          break;
        }
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, client));
  const elapsed = (performance.now() - started) / 1000;
  const p = (q: number) => Math.round((percentile(durations, q) ?? 0) * 10) / 10;
  return {
    seconds: Math.round(elapsed * 10) / 10,
    concurrency,
    runs: durations.length,
    runsPerSec: Math.round((durations.length / elapsed) * 10) / 10,
    failed,
    runMs: { p50: p(50), p99: p(99) },
  };
}

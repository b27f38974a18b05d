import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import type { H1Client, Reply } from './clients.ts';
import type { GeminiStub } from './gemini-stub.ts';
import { until } from './until.ts';
import { newUser } from './workspace.ts';

/** Points the planner and ai.generate at the Gemini stub. */
export const geminiEnv = (stub: GeminiStub) => ({
  GEMINI_API_KEY: 'test-key',
  GEMINI_BASE_URL: stub.url,
  GEMINI_MODEL: 'gemini-stub',
});

export interface StepView {
  id: string;
  tool: string;
  args: Record<string, unknown>;
  dependsOn: string[];
  status: string;
  output: Record<string, unknown> | null;
  error: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
}

export interface RunView {
  id: string;
  projectId: string;
  status: string;
  reason: string | null;
  planner: string;
  prompt: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  cancelRequestedAt: string | null;
  steps: StepView[];
}

export interface StreamEvent {
  id: number;
  type: string;
  data: Record<string, unknown>;
}

/** A signed-in user of one cluster, with helpers for projects and workflow runs. */
export class WorkflowUser {
  readonly h1: H1Client;
  readonly origin: string;
  token = '';

  constructor(h1: H1Client, origin: string) {
    this.h1 = h1;
    this.origin = origin;
  }

  static async signUp(h1: H1Client, origin: string): Promise<WorkflowUser> {
    const u = new WorkflowUser(h1, origin);
    u.token = (await newUser(h1, origin)).token;
    return u;
  }

  /** A new user and a project of theirs. */
  static async withProject(h1: H1Client, origin: string): Promise<{ u: WorkflowUser; projectId: string }> {
    const u = await WorkflowUser.signUp(h1, origin);
    return { u, projectId: await u.project() };
  }

  get(path: string, via: H1Client = this.h1): Promise<Reply> {
    return via.request(`${this.origin}${path}`, { headers: { authorization: `Bearer ${this.token}` } });
  }

  post(path: string, body: unknown, via: H1Client = this.h1): Promise<Reply> {
    return via.request(`${this.origin}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  }

  async project(): Promise<string> {
    const res = await this.post('/api/projects', { name: `wf ${randomBytes(3).toString('hex')}` });
    assert.equal(res.status, 201, res.text());
    return res.json().id as string;
  }

  /** Starts a run and returns its id (asserting the 202). */
  async start(body: Record<string, unknown>, via?: H1Client): Promise<string> {
    const res = await this.post('/api/workflow/run', body, via);
    assert.equal(res.status, 202, res.text());
    assert.equal(res.headers.location, `/api/workflow/runs/${res.json().runId}`);
    return res.json().runId as string;
  }

  /** Asks for a run of `steps` in the project. */
  postPlan(projectId: string, steps: unknown[]): Promise<Reply> {
    return this.post('/api/workflow/run', { projectId, plan: { steps } });
  }

  /** Starts a run of `steps` in the project and returns its id. */
  startPlan(projectId: string, steps: unknown[], via?: H1Client): Promise<string> {
    return this.start({ projectId, plan: { steps } }, via);
  }

  async run(runId: string): Promise<RunView> {
    const res = await this.get(`/api/workflow/runs/${runId}`);
    assert.equal(res.status, 200, res.text());
    return res.json<RunView>();
  }

  /** Polls the run until it reaches a final state. */
  finished(runId: string, tries = 300): Promise<RunView> {
    return until(
      `run ${runId} to finish`,
      async () => {
        const run = await this.run(runId);
        return ['succeeded', 'failed', 'cancelled'].includes(run.status) ? run : undefined;
      },
      tries,
    );
  }

  /**
   * Reads the project's event stream from the start (Last-Event-ID: 0) until `done` holds for
   * an event, and returns every event read.
   */
  async events(
    projectId: string,
    done: (e: StreamEvent) => boolean,
    timeoutMs = 20_000,
  ): Promise<StreamEvent[]> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), timeoutMs);
    const seen: StreamEvent[] = [];
    try {
      const res = await request(`${this.origin}/api/sse/projects/${projectId}`, {
        headers: { authorization: `Bearer ${this.token}`, 'last-event-id': '0' },
        signal: ac.signal,
      });
      assert.equal(res.statusCode, 200);
      let buffer = '';
      for await (const chunk of res.body) {
        buffer += chunk.toString();
        let end = buffer.indexOf('\n\n');
        while (end !== -1) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          end = buffer.indexOf('\n\n');
          const fields = new Map<string, string>();
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const i = line.indexOf(':');
            if (i > 0) fields.set(line.slice(0, i), line.slice(i + 1).trimStart());
          }
          if (!fields.has('data') || !fields.has('id')) continue;
          const event = {
            id: Number(fields.get('id')),
            type: fields.get('event') ?? 'message',
            data: JSON.parse(fields.get('data') as string) as Record<string, unknown>,
          };
          seen.push(event);
          if (done(event)) {
            ac.abort();
            return seen;
          }
        }
      }
      throw new Error('the event stream ended early');
    } catch (err) {
      if (ac.signal.aborted && seen.length > 0 && done(seen.at(-1) as StreamEvent)) return seen;
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The step the rule-based planner makes of "create PATH with CONTENT". */
export const createStep = (id: string, path: string, content: string, dependsOn: string[] = []) => ({
  id,
  tool: 'vfs.write',
  args: { path, content, createOnly: true },
  dependsOn,
});

export function step(run: RunView, id: string): StepView {
  const s = run.steps.find((x) => x.id === id);
  assert.ok(s, `step ${id} is in the run`);
  return s;
}

export const at = (iso: string | null): number => {
  assert.ok(iso, 'a timestamp was recorded');
  return Date.parse(iso);
};

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import type { H1Client } from './helpers/clients.ts';
import { type RunningCluster, useCluster } from './helpers/cluster.ts';
import { GeminiStub } from './helpers/gemini-stub.ts';
import { until } from './helpers/until.ts';
import { createStep, geminiEnv, step, WorkflowUser } from './helpers/workflow.ts';

// Short leases so a lost worker is noticed within seconds; the rule-based planner plans prompts
// while Gemini (the stub) still serves ai.generate, whose held requests keep steps running.
const stub = new GeminiStub();
let cluster: RunningCluster;
let h1: H1Client;
let sql: pg.Client;
// Held requests are let go before the service stops, and the session ends before the database
// is dropped (hooks run in the order they are registered).
after(async () => {
  for (const name of ['K', 'S']) stub.release(name);
  await sql?.end();
});
const service = useCluster(
  {
    doubles: [stub],
    env: () => ({
      ...geminiEnv(stub),
      WORKFLOW_PLANNER: 'rules',
      WORKFLOW_LEASE_MS: '1500',
      WORKFLOW_HEARTBEAT_MS: '300',
      WORKFLOW_SWEEP_INTERVAL_MS: '300',
    }),
  },
  async () => {
    ({ cluster, h1 } = service);
    sql = new pg.Client({ connectionString: service.db.url });
    await sql.connect();
  },
);

async function ownerPid(runId: string): Promise<number> {
  const { rows } = await sql.query<{ owner: string }>('SELECT owner FROM workflow_runs WHERE id = $1', [
    runId,
  ]);
  const pid = Number((rows[0]?.owner ?? '').split('/')[1]);
  assert.ok(Number.isInteger(pid) && pid > 0, `owner ${rows[0]?.owner} names a pid`);
  return pid;
}

describe('POST /api/workflow/plan with the rule-based planner', () => {
  it('plans a prompt deterministically and says which planner did', async () => {
    const { u, projectId } = await WorkflowUser.withProject(h1, cluster.http);
    const prompt = 'create a.txt with one and create b.txt with two then search one';
    const first = await u.post('/api/workflow/plan', { projectId, prompt });
    assert.equal(first.status, 200, first.text());
    assert.equal(first.headers['workflow-planner'], 'rules');
    assert.deepEqual(first.json(), {
      steps: [
        createStep('s1', 'a.txt', 'one'),
        createStep('s2', 'b.txt', 'two'),
        { id: 's3', tool: 'vfs.search', args: { query: 'one' }, dependsOn: ['s1', 's2'] },
      ],
    });
    assert.deepEqual((await u.post('/api/workflow/plan', { projectId, prompt })).json(), first.json());

    // The plan it returns runs as it is; a prompt runs the same plan.
    const run = await u.finished(await u.start({ projectId, plan: first.json() }));
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    assert.deepEqual(step(run, 's3').output?.matches, [
      { path: 'a.txt', line: 1, column: 1, preview: 'one' },
    ]);
    const again = await u.finished(await u.start({ projectId, prompt }));
    assert.equal(again.planner, 'rules');
    assert.equal(again.status, 'failed', 'create refuses to overwrite what the first run made');
    assert.match(step(again, 's1').error ?? '', /^PRECONDITION_FAILED/);
  });

  it('answers 400 INVALID_PROMPT with the grammar for a prompt it cannot read', async () => {
    const { u, projectId } = await WorkflowUser.withProject(h1, cluster.http);
    const res = await u.post('/api/workflow/plan', { projectId, prompt: 'please tidy everything up' });
    assert.equal(res.status, 400);
    const problem = res.json<{ code: string; detail: string; grammar: string[] }>();
    assert.equal(problem.code, 'INVALID_PROMPT');
    assert.match(problem.detail, /unknown action "please"/);
    assert.ok(problem.grammar.some((line) => line.startsWith('rename|move <from> to <to>')));
  });

  it('lists the tools, the planner and the grammar', async () => {
    const u = await WorkflowUser.signUp(h1, cluster.http);
    const res = await u.get('/api/workflow/tools');
    assert.equal(res.status, 200);
    const catalog = res.json<{ planner: string; tools: { name: string; available: boolean }[] }>();
    assert.equal(catalog.planner, 'rules');
    assert.deepEqual(
      catalog.tools.map((t) => [t.name, t.available]),
      [
        ['vfs.read', true],
        ['vfs.write', true],
        ['vfs.delete', true],
        ['vfs.move', true],
        ['vfs.search', true],
        ['ai.generate', true],
      ],
    );
  });
});

describe('a run whose worker dies', () => {
  it('is marked failed with a reason once its lease expires: the running step failed, the rest skipped', async () => {
    const { u, projectId } = await WorkflowUser.withProject(h1, cluster.http);
    const runId = await u.startPlan(projectId, [
      { id: 'gen', tool: 'ai.generate', args: { prompt: '[hold:K] long answer', path: 'k.md' } },
      { id: 'next', tool: 'vfs.read', args: { path: 'k.md' }, dependsOn: ['gen'] },
    ]);
    await stub.waitForHeld('K');
    const pid = await ownerPid(runId);
    assert.ok(cluster.workerPids().includes(pid), 'the run executes on one of the cluster workers');
    process.kill(pid, 'SIGKILL');

    const run = await u.finished(runId);
    assert.equal(run.status, 'failed');
    assert.match(run.reason ?? '', /^worker lost: .*\/\d+\/[0-9a-f]+ stopped renewing the run's lease$/);
    assert.deepEqual(
      run.steps.map((s) => [s.id, s.status, s.error]),
      [
        ['gen', 'failed', 'worker lost while the step was running'],
        ['next', 'skipped', 'not started: the run failed (worker lost)'],
      ],
    );
    const events = await u.events(projectId, (e) => e.type === 'workflow.run.finished');
    assert.deepEqual(events.at(-1)?.data, {
      runId,
      status: 'failed',
      reason: run.reason,
      finishedAt: run.finishedAt,
    });
    // The cluster replaced the worker and carries on.
    await until('a replacement worker', () => (cluster.workerPids().length === 2 ? true : undefined));
    stub.release('K');
  });
});

describe('a worker that shuts down with a run in flight', () => {
  it('records the run as failed ("the worker shut down") instead of leaving it running', async () => {
    const { u, projectId } = await WorkflowUser.withProject(h1, cluster.http);
    const runId = await u.startPlan(projectId, [
      { id: 'gen', tool: 'ai.generate', args: { prompt: '[hold:S] never ends', path: 's.md' } },
    ]);
    await stub.waitForHeld('S');
    assert.equal(await cluster.stop('SIGTERM'), 0);
    const { rows } = await sql.query<{ status: string; reason: string }>(
      'SELECT status, reason FROM workflow_runs WHERE id = $1',
      [runId],
    );
    assert.deepEqual(rows[0], {
      status: 'failed',
      reason: 'the worker shut down while the run was executing',
    });
    const steps = await sql.query<{ status: string; error: string }>(
      'SELECT status, error FROM workflow_steps WHERE run_id = $1',
      [runId],
    );
    assert.deepEqual(steps.rows, [
      { status: 'failed', error: 'stopped: the worker shut down while the run was executing' },
    ]);
  });
});

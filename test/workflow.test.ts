import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { bearer, H1Client, h2once } from './helpers/clients.ts';
import { clusterOnly, type RunningCluster, useCluster } from './helpers/cluster.ts';
import { GeminiStub } from './helpers/gemini-stub.ts';
import { openapiChecker } from './helpers/openapi.ts';
import { until } from './helpers/until.ts';
import { at, geminiEnv, step, WorkflowUser } from './helpers/workflow.ts';

// One cluster of two workers with Gemini configured (against the local stub), so prompts are
// planned by the model and ai.generate works. The stub holds a request whose prompt says
// [hold:NAME] until the test releases NAME: that is how a step is kept running on purpose.
const stub = new GeminiStub();
// Held requests are let go before the service stops (hooks run in the order they are registered).
after(() => {
  for (const name of ['A', 'B', 'C', 'P', 'Q']) stub.release(name);
});
const service = useCluster(
  {
    doubles: [stub],
    env: () => ({
      ...geminiEnv(stub),
      GEMINI_TIMEOUT_MS: '30000',
      WORKFLOW_MAX_ACTIVE_RUNS: '3',
      SEARCH_TIMEOUT_MS: '1000',
    }),
  },
  () => {
    ({ cluster, h1 } = service);
  },
);
let cluster: RunningCluster;
let h1: H1Client;

const generate = (id: string, prompt: string, path: string, dependsOn: string[] = []) => ({
  id,
  tool: 'ai.generate',
  args: { prompt, path },
  dependsOn,
});

describe('POST /api/workflow/run with an invalid plan', () => {
  it('answers 400 INVALID_PLAN naming each problem: unknown tool, bad args, missing dependency', async () => {
    const { u, projectId } = await WorkflowUser.withProject(h1, cluster.http);
    const res = await u.postPlan(projectId, [
      { id: 's1', tool: 'shell.exec', args: { cmd: 'rm -rf /' } },
      { id: 's2', tool: 'vfs.write', args: { path: 'a.txt' } },
      { id: 's3', tool: 'vfs.read', args: { path: 'a.txt' }, dependsOn: ['s9'] },
      { id: 's4', tool: 'vfs.delete', args: { path: '../outside.txt' } },
    ]);
    assert.equal(res.status, 400);
    assert.match(String(res.headers['content-type']), /application\/problem\+json/);
    const problem = res.json<{ code: string; errors: { path: string; message: string }[] }>();
    assert.equal(problem.code, 'INVALID_PLAN');
    assert.deepEqual(
      problem.errors.map((e) => e.message),
      [
        'unknown tool "shell.exec" in step "s1"',
        'step "s2" (vfs.write): args/content must have required property \'content\'',
        'step "s3" depends on missing "s9"',
        'step "s4" (vfs.delete): args/path is not a usable path: The path must not contain "..".',
      ],
    );
  });

  it('answers 400 INVALID_PLAN for a cycle, and nothing is stored', async () => {
    const { u, projectId } = await WorkflowUser.withProject(h1, cluster.http);
    const res = await u.postPlan(projectId, [
      { id: 'a', tool: 'vfs.read', args: { path: 'x' }, dependsOn: ['b'] },
      { id: 'b', tool: 'vfs.read', args: { path: 'y' }, dependsOn: ['a'] },
    ]);
    assert.equal(res.status, 400);
    assert.equal(res.json().detail, 'cycle: a → b → a');
    const list = await u.get(`/api/workflow/runs?projectId=${projectId}`);
    assert.deepEqual(list.json().items, []);
  });

  it('answers 400 when the body has both or neither of plan and prompt', async () => {
    const { u, projectId } = await WorkflowUser.withProject(h1, cluster.http);
    for (const body of [{ projectId }, { projectId, prompt: 'x', plan: { steps: [] } }]) {
      const res = await u.post('/api/workflow/run', body);
      assert.equal(res.status, 400);
      assert.equal(res.json().code, 'VALIDATION_FAILED');
    }
  });
});

describe('a workflow run', () => {
  it('runs a plan to success, recording each step output, and the files exist afterwards', async () => {
    const { u, projectId } = await WorkflowUser.withProject(h1, cluster.http);
    const runId = await u.startPlan(projectId, [
      { id: 'w1', tool: 'vfs.write', args: { path: 'docs/a.md', content: 'alpha TODO\nbeta' } },
      { id: 'w2', tool: 'vfs.write', args: { path: 'b.txt', content: 'no todo here' } },
      { id: 'mv', tool: 'vfs.move', args: { from: 'b.txt', to: 'c.txt' }, dependsOn: ['w2'] },
      { id: 'rd', tool: 'vfs.read', args: { path: 'docs/a.md' }, dependsOn: ['w1'] },
      {
        id: 'find',
        tool: 'vfs.search',
        args: { query: 'todo', ignoreCase: true },
        dependsOn: ['w1', 'mv'],
      },
      { id: 'rx', tool: 'vfs.search', args: { query: '^be(t)a$', regex: true }, dependsOn: ['w1'] },
    ]);
    const run = await u.finished(runId);
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    assert.equal(run.planner, 'user');
    assert.equal(run.reason, null);
    assert.ok(run.steps.every((s) => s.status === 'succeeded' && s.durationMs !== null && s.durationMs >= 0));
    assert.deepEqual(
      run.steps.map((s) => s.id),
      ['w1', 'w2', 'mv', 'rd', 'find', 'rx'],
    );
    assert.equal(step(run, 'w1').output?.created, true);
    assert.equal(step(run, 'mv').output?.path, 'c.txt');
    assert.equal(step(run, 'rd').output?.content, 'alpha TODO\nbeta');
    assert.deepEqual(step(run, 'find').output?.matches, [
      { path: 'c.txt', line: 1, column: 4, preview: 'no todo here' },
      { path: 'docs/a.md', line: 1, column: 7, preview: 'alpha TODO' },
    ]);
    assert.deepEqual(step(run, 'rx').output?.matches, [
      { path: 'docs/a.md', line: 2, column: 1, preview: 'beta' },
    ]);
    // Dependencies were honoured: a step started only after what it waits for had finished.
    assert.ok(at(step(run, 'mv').startedAt) >= at(step(run, 'w2').finishedAt));
    assert.ok(at(step(run, 'find').startedAt) >= at(step(run, 'mv').finishedAt));
    assert.ok(at(run.finishedAt) >= at(step(run, 'find').finishedAt));

    // The files are in the project, as the files API shows them.
    const file = await u.get(`/api/projects/${projectId}/files/docs/a.md`);
    assert.equal(file.status, 200);
    assert.equal(file.text(), 'alpha TODO\nbeta');
    const listed = await u.get(`/api/projects/${projectId}/files`);
    const paths = JSON.stringify(listed.json());
    assert.ok(
      paths.includes('"c.txt"') && paths.includes('"docs/a.md"') && !paths.includes('"b.txt"'),
      paths,
    );

    // The same over HTTP/2 (h2c): reading the run, and starting one.
    const auth = bearer(u.token);
    const overH2 = await h2once(cluster.http, `/api/workflow/runs/${runId}`, { headers: auth });
    assert.equal(overH2.status, 200);
    assert.deepEqual(overH2.json(), run);
    const startedOverH2 = await h2once(cluster.http, '/api/workflow/run', {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({
        projectId,
        plan: { steps: [{ id: 'r', tool: 'vfs.read', args: { path: 'b.txt' } }] },
      }),
    });
    assert.equal(startedOverH2.status, 202, startedOverH2.text());
    const h2Run = await u.finished(startedOverH2.json().runId as string);
    assert.match(step(h2Run, 'r').error ?? '', /^NOT_FOUND: No file at b\.txt/);

    // A second run sees the files the first one wrote.
    const again = await u.finished(
      await u.startPlan(projectId, [{ id: 'r', tool: 'vfs.read', args: { path: 'c.txt' } }]),
    );
    assert.equal(step(again, 'r').output?.content, 'no todo here');
  });

  it('starts independent steps at once: their recorded start and end times overlap', async () => {
    const { u, projectId } = await WorkflowUser.withProject(h1, cluster.http);
    const runId = await u.startPlan(projectId, [
      generate('a', '[hold:A] first', 'a.md'),
      generate('b', '[hold:B] second', 'b.md'),
      { id: 'both', tool: 'vfs.read', args: { path: 'a.md' }, dependsOn: ['a', 'b'] },
    ]);
    // Both model calls are in flight together before either is answered.
    await stub.waitForHeld('A');
    await stub.waitForHeld('B');
    const midway = await u.run(runId);
    assert.equal(midway.status, 'running');
    assert.deepEqual(
      midway.steps.map((s) => s.status),
      ['running', 'running', 'pending'],
    );
    stub.release('A');
    await until('step a to succeed', async () =>
      step(await u.run(runId), 'a').status === 'succeeded' ? true : undefined,
    );
    stub.release('B');
    const run = await u.finished(runId);
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    const [a, b, both] = [step(run, 'a'), step(run, 'b'), step(run, 'both')];
    assert.ok(at(b.startedAt) < at(a.finishedAt), 'b started before a finished');
    assert.ok(at(a.startedAt) < at(b.finishedAt), 'a started before b finished');
    assert.ok(at(both.startedAt) >= Math.max(at(a.finishedAt), at(b.finishedAt)), 'the join waited for both');
    assert.equal(both.output?.content, 'Generated: [hold:A] first');
    assert.equal(a.output?.model, 'gemini-stub');
  });

  it('skips the dependents of a failed step, finishes independent ones, and fails the run naming the step', async () => {
    const { u, projectId } = await WorkflowUser.withProject(h1, cluster.http);
    const runId = await u.startPlan(projectId, [
      generate('gen', '[fail] please', 'out.md'),
      { id: 'after', tool: 'vfs.read', args: { path: 'out.md' }, dependsOn: ['gen'] },
      { id: 'later', tool: 'vfs.delete', args: { path: 'out.md' }, dependsOn: ['after'] },
      { id: 'side', tool: 'vfs.write', args: { path: 'side.txt', content: 'ok' } },
      {
        id: 'bad-rx',
        tool: 'vfs.search',
        args: { query: '(unclosed', regex: true },
        dependsOn: ['side'],
      },
    ]);
    const run = await u.finished(runId);
    assert.equal(run.status, 'failed');
    assert.match(run.reason ?? '', /^step "gen" failed: MODEL_UNAVAILABLE: the model call failed: HTTP 500/);
    assert.deepEqual(
      run.steps.map((s) => [s.id, s.status]),
      [
        ['gen', 'failed'],
        ['after', 'skipped'],
        ['later', 'skipped'],
        ['side', 'succeeded'],
        ['bad-rx', 'failed'],
      ],
    );
    assert.equal(step(run, 'after').error, 'not started: step "gen" failed');
    assert.equal(step(run, 'after').startedAt, null);
    assert.match(step(run, 'bad-rx').error ?? '', /^invalid regular expression: .*unclosed/i);
  });

  it('fails a step whose search pattern backtracks catastrophically, and the service keeps answering', async () => {
    const { u, projectId } = await WorkflowUser.withProject(h1, cluster.http);
    const run = await u.finished(
      await u.startPlan(projectId, [
        { id: 'w', tool: 'vfs.write', args: { path: 'evil.txt', content: `${'a'.repeat(40)}!` } },
        { id: 's', tool: 'vfs.search', args: { query: '^(a+)+$', regex: true }, dependsOn: ['w'] },
      ]),
    );
    assert.equal(run.status, 'failed');
    assert.match(step(run, 's').error ?? '', /search stopped after 1000 ms/);
    assert.equal((await h1.request(`${cluster.http}/api/health`)).status, 200);
  });
});

describe('POST /api/workflow/runs/:id/cancel', () => {
  it('from another worker aborts the running step and cancels the pending ones', clusterOnly, async () => {
    const { u, projectId } = await WorkflowUser.withProject(h1, cluster.http);
    const [here, there] = await pinnedToTwoWorkers();
    try {
      const runId = await u.startPlan(
        projectId,
        [
          generate('slow', '[hold:C] take your time', 'slow.md'),
          { id: 'next', tool: 'vfs.read', args: { path: 'slow.md' }, dependsOn: ['slow'] },
        ],
        here,
      );
      await stub.waitForHeld('C');
      const res = await u.post(`/api/workflow/runs/${runId}/cancel`, {}, there);
      assert.equal(res.status, 202, res.text());
      const run = await u.finished(runId);
      assert.equal(run.status, 'cancelled');
      assert.equal(run.reason, 'cancelled on request');
      assert.ok(run.cancelRequestedAt);
      assert.deepEqual(
        run.steps.map((s) => [s.id, s.status, s.error]),
        [
          ['slow', 'cancelled', 'cancelled while running'],
          ['next', 'cancelled', 'not started: the run was cancelled'],
        ],
      );
      // Cancelling again is harmless; a run that ended otherwise cannot be cancelled.
      assert.equal((await u.post(`/api/workflow/runs/${runId}/cancel`, {})).status, 200);
      const done = await u.finished(
        await u.startPlan(projectId, [{ id: 'r', tool: 'vfs.write', args: { path: 'x', content: '' } }]),
      );
      const late = await u.post(`/api/workflow/runs/${done.id}/cancel`, {});
      assert.equal(late.status, 409);
      assert.equal(late.json().code, 'CONFLICT');
    } finally {
      await here.close();
      await there.close();
    }
  });
});

describe("runs are the owner's", () => {
  it("answers 404 for another user's run, its cancel, its project's run list and a run on their project", async () => {
    const owner = await WorkflowUser.signUp(h1, cluster.http);
    const other = await WorkflowUser.signUp(h1, cluster.http);
    const projectId = await owner.project();
    const runId = await owner.start({
      projectId,
      plan: { steps: [{ id: 'w', tool: 'vfs.write', args: { path: 'mine.txt', content: 'mine' } }] },
    });
    await owner.finished(runId);
    assert.equal((await other.get(`/api/workflow/runs/${runId}`)).status, 404);
    assert.equal((await other.post(`/api/workflow/runs/${runId}/cancel`, {})).status, 404);
    assert.equal((await other.get(`/api/workflow/runs?projectId=${projectId}`)).status, 404);
    const foreign = await other.post('/api/workflow/run', {
      projectId,
      plan: { steps: [{ id: 'r', tool: 'vfs.read', args: { path: 'mine.txt' } }] },
    });
    assert.equal(foreign.status, 404);
    assert.equal(
      (await other.post('/api/workflow/plan', { projectId, prompt: 'read mine.txt' })).status,
      404,
    );
    const mine = await owner.get(`/api/workflow/runs?projectId=${projectId}`);
    assert.deepEqual(
      mine.json<{ items: { id: string }[] }>().items.map((r) => r.id),
      [runId],
    );
  });

  it('limits unfinished runs per user (WORKFLOW_MAX_ACTIVE_RUNS) with 429', async () => {
    const { u, projectId } = await WorkflowUser.withProject(h1, cluster.http);
    const held = { projectId, plan: { steps: [generate('g', '[hold:Q] wait', 'q.md')] } };
    const ids = [await u.start(held), await u.start(held), await u.start(held)];
    const fourth = await u.post('/api/workflow/run', held);
    assert.equal(fourth.status, 429);
    assert.equal(fourth.json().code, 'TOO_MANY_REQUESTS');
    stub.release('Q');
    for (const id of ids) assert.equal((await u.finished(id)).status, 'succeeded');
    assert.equal((await u.post('/api/workflow/run', held)).status, 202);
  });
});

describe('planning with Gemini (GEMINI_API_KEY set)', () => {
  it('plans a prompt with the model, validates it, and runs it; the model sees the project files', async () => {
    const { u, projectId } = await WorkflowUser.withProject(h1, cluster.http);
    await u.finished(
      await u.startPlan(projectId, [
        { id: 'w', tool: 'vfs.write', args: { path: 'draft.md', content: 'old' } },
      ]),
    );
    const prompt = 'archive the draft and write a summary';
    const plan = {
      steps: [
        { id: 'mv', tool: 'vfs.move', args: { from: 'draft.md', to: 'archive/draft.md' }, dependsOn: [] },
        { id: 'sum', tool: 'ai.generate', args: { prompt: 'summarise', path: 'summary.md' }, dependsOn: [] },
      ],
    };
    stub.planFor(prompt, plan);
    const planned = await u.post('/api/workflow/plan', { projectId, prompt });
    assert.equal(planned.status, 200, planned.text());
    assert.equal(planned.headers['workflow-planner'], 'gemini');
    assert.deepEqual(planned.json(), plan);
    const request = stub.requests.findLast((r) => r.prompt === prompt);
    assert.equal(request?.json, true);
    assert.match(request?.body.systemInstruction?.parts?.[0]?.text ?? '', /The project's files: draft\.md/);

    const run = await u.finished(await u.start({ projectId, prompt }));
    assert.equal(run.status, 'succeeded', JSON.stringify(run));
    assert.equal(run.planner, 'gemini');
    assert.equal(run.prompt, prompt);
    assert.equal(step(run, 'sum').output?.path, 'summary.md');
  });

  it('answers 502 MODEL_UNAVAILABLE when the model fails or its plan is invalid', async () => {
    const { u, projectId } = await WorkflowUser.withProject(h1, cluster.http);
    const failed = await u.post('/api/workflow/plan', { projectId, prompt: '[fail] plan something' });
    assert.equal(failed.status, 502);
    assert.equal(failed.json().code, 'MODEL_UNAVAILABLE');

    stub.planFor('do the impossible', { steps: [{ id: 'x', tool: 'shell.exec', args: {}, dependsOn: [] }] });
    const invalid = await u.post('/api/workflow/run', { projectId, prompt: 'do the impossible' });
    assert.equal(invalid.status, 502);
    const problem = invalid.json<{ code: string; detail: string; errors: { message: string }[] }>();
    assert.equal(problem.code, 'MODEL_UNAVAILABLE');
    assert.match(problem.detail, /^the model's plan is invalid: unknown tool "shell.exec" in step "x"/);
    assert.equal(problem.errors.length, 1);
  });
});

describe('workflow events on the project stream', () => {
  it('publishes run and step events in order, each with the run id', async () => {
    const { u, projectId } = await WorkflowUser.withProject(h1, cluster.http);
    const runId = await u.startPlan(projectId, [
      { id: 'w', tool: 'vfs.write', args: { path: 'e.txt', content: 'e' } },
      { id: 'r', tool: 'vfs.read', args: { path: 'nope.txt' }, dependsOn: ['w'] },
      { id: 'z', tool: 'vfs.delete', args: { path: 'e.txt' }, dependsOn: ['r'] },
    ]);
    const events = await u.events(projectId, (e) => e.type === 'workflow.run.finished');
    const mine = events.filter((e) => e.type.startsWith('workflow.'));
    assert.ok(mine.every((e) => e.data.runId === runId));
    assert.deepEqual(
      mine.map((e) => [e.type, e.data.stepId ?? null, e.data.status ?? null]),
      [
        ['workflow.run.started', null, 'running'],
        ['workflow.step.started', 'w', null],
        ['workflow.step.finished', 'w', 'succeeded'],
        ['workflow.step.started', 'r', null],
        ['workflow.step.finished', 'r', 'failed'],
        ['workflow.step.finished', 'z', 'skipped'],
        ['workflow.run.finished', null, 'failed'],
      ],
    );
    // The write's own file.changed sits between the step's start and finish.
    const types = events.map((e) => e.type);
    assert.ok(types.indexOf('file.changed') > types.indexOf('workflow.step.started'));
    assert.ok(types.indexOf('file.changed') < types.indexOf('workflow.step.finished'));
    const ids = events.map((e) => e.id);
    assert.deepEqual(
      ids,
      [...ids].sort((x, y) => x - y),
      'ids only grow',
    );
  });
});

describe('the workflow routes follow the OpenAPI contract', () => {
  it('for every success and error answered above', async () => {
    const conforms = openapiChecker((await h1.request(`${cluster.http}/api/openapi.json`)).json());
    const { u, projectId } = await WorkflowUser.withProject(h1, cluster.http);
    const prompt = 'write one file';
    stub.planFor(prompt, {
      steps: [{ id: 'w', tool: 'vfs.write', args: { path: 'c.txt', content: 'c' }, dependsOn: [] }],
    });
    conforms(await u.get('/api/workflow/tools'), '/api/workflow/tools', 'get');
    conforms(await u.post('/api/workflow/plan', { projectId, prompt }), '/api/workflow/plan', 'post');
    conforms(
      await u.post('/api/workflow/plan', { projectId, prompt: '[fail]' }),
      '/api/workflow/plan',
      'post',
    );
    const started = await u.post('/api/workflow/run', { projectId, prompt });
    conforms(started, '/api/workflow/run', 'post');
    const runId = started.json().runId as string;
    await u.finished(runId);
    conforms(await u.get(`/api/workflow/runs/${runId}`), '/api/workflow/runs/{id}', 'get');
    conforms(await u.get(`/api/workflow/runs?projectId=${projectId}&limit=1`), '/api/workflow/runs', 'get');
    conforms(
      await u.post(`/api/workflow/runs/${runId}/cancel`, {}),
      '/api/workflow/runs/{id}/cancel',
      'post',
    );
    const invalid = await u.post('/api/workflow/run', {
      projectId,
      plan: { steps: [{ id: 'x', tool: 'y', args: {} }] },
    });
    conforms(invalid, '/api/workflow/run', 'post');
    conforms(await u.get('/api/workflow/runs/not-a-uuid'), '/api/workflow/runs/{id}', 'get');

    const queued = await u.post('/api/workflow/run', {
      projectId,
      plan: { steps: [generate('g', '[hold:P] wait', 'p.md')] },
    });
    await stub.waitForHeld('P');
    conforms(await u.get(`/api/workflow/runs/${queued.json().runId}`), '/api/workflow/runs/{id}', 'get');
    const cancelled = await u.post(`/api/workflow/runs/${queued.json().runId}/cancel`, {});
    assert.equal(cancelled.status, 202);
    conforms(cancelled, '/api/workflow/runs/{id}/cancel', 'post');
    const second = await u.post(`/api/workflow/runs/${queued.json().runId}/cancel`, {});
    conforms(second, '/api/workflow/runs/{id}/cancel', 'post');
  });

  it("pages a project's runs newest first with a cursor", async () => {
    const { u, projectId } = await WorkflowUser.withProject(h1, cluster.http);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push(
        await u.startPlan(projectId, [{ id: 'w', tool: 'vfs.write', args: { path: `${i}`, content: '' } }]),
      );
    }
    const first = (await u.get(`/api/workflow/runs?projectId=${projectId}&limit=2`)).json<{
      items: { id: string }[];
      nextCursor: string;
    }>();
    const rest = (
      await u.get(`/api/workflow/runs?projectId=${projectId}&limit=2&cursor=${first.nextCursor}`)
    ).json<{ items: { id: string }[]; nextCursor: string | null }>();
    assert.deepEqual(
      [...first.items, ...rest.items].map((r) => r.id),
      [...ids].reverse(),
    );
    assert.equal(rest.nextCursor, null);
    const foreign = await u.get(`/api/workflow/runs?projectId=${projectId}&cursor=bm9wZQ`);
    assert.equal(foreign.status, 400);
  });
});

describe('workflow metrics', () => {
  it('counts finished runs by status and times steps by tool and status, across workers', async () => {
    const { u, projectId } = await WorkflowUser.withProject(h1, cluster.http);
    await u.finished(
      await u.startPlan(projectId, [{ id: 'w', tool: 'vfs.write', args: { path: 'm', content: '' } }]),
    );
    const text = (await h1.request(cluster.metrics)).text();
    assert.match(text, /^workflow_runs_finished_total\{[^}]*status="succeeded"[^}]*\} [1-9]/m);
    assert.match(text, /^workflow_runs_finished_total\{[^}]*status="cancelled"[^}]*\} [1-9]/m);
    assert.match(
      text,
      /^workflow_step_duration_seconds_count\{[^}]*tool="vfs.write"[^}]*status="succeeded"[^}]*\} [1-9]/m,
    );
    assert.match(
      text,
      /^workflow_step_duration_seconds_count\{[^}]*tool="ai.generate"[^}]*status="failed"[^}]*\} [1-9]/m,
    );
    assert.match(text, /^workflow_active\{[^}]*what="waiting"[^}]*\} 0$/m);
  });
});

/** Two clients, each holding one connection, to two different workers. */
async function pinnedToTwoWorkers(): Promise<[H1Client, H1Client]> {
  const first = new H1Client(undefined, { connections: 1 });
  const workerOf = async (c: H1Client) =>
    (await c.request(`${cluster.http}/api/health`)).json().worker as string;
  const mine = await workerOf(first);
  for (let i = 0; i < 50; i++) {
    const other = new H1Client(undefined, { connections: 1 });
    if ((await workerOf(other)) !== mine) {
      // The same connection keeps answering from the same worker.
      assert.equal(await workerOf(first), mine);
      return [first, other];
    }
    await other.close();
  }
  throw new Error('every connection landed on the same worker');
}

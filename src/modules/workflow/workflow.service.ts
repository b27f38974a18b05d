import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Config } from '../../config.ts';
import type { Database } from '../../db/pool.ts';
import { AppError } from '../../errors.ts';
import { cursorPart, decodeCursor, encodeCursor } from '../../http/cursor.ts';
import type { Logger } from '../../log.ts';
import { GeminiModel, GeminiPlanner } from './planner.gemini.ts';
import { GRAMMAR, RulesPlanner } from './planner.rules.ts';
import { SearchPool } from './search.pool.ts';
import type { EventsPort, WorkflowMetrics } from './workflow.execution.ts';
import { WorkflowExecutor } from './workflow.executor.ts';
import { CANCEL_CHANNEL, LeaseKeeper } from './workflow.lease.ts';
import { type PathCheck, type Plan, type Planner, PlanValidator } from './workflow.plan.ts';
import {
  findRun,
  findSteps,
  insertRun,
  listRuns,
  notifyCancel,
  type PlannerName,
  type RunRow,
  requestCancel,
  type StepRow,
} from './workflow.repo.ts';
import { createTools, type VfsPort } from './workflow.tools.ts';

export interface WorkflowDeps {
  db: Database;
  config: Config;
  log: Logger;
  /** The projects service: `getOwned` answers NOT_FOUND for a project that is not the user's. */
  projects: { getOwned(userId: string, projectId: string): Promise<unknown> };
  vfs: VfsPort;
  events: EventsPort;
  /** The VFS path rule, so a plan with an unusable path is refused before it runs. */
  checkPath?: PathCheck;
  metrics?: WorkflowMetrics;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

function runView(run: RunRow) {
  return {
    id: run.id,
    projectId: run.project_id,
    status: run.status,
    reason: run.reason,
    planner: run.planner,
    prompt: run.prompt,
    createdAt: run.created_at.toISOString(),
    startedAt: iso(run.started_at),
    finishedAt: iso(run.finished_at),
    cancelRequestedAt: iso(run.cancel_requested_at),
  };
}

function stepView(s: StepRow) {
  return {
    id: s.step_id,
    tool: s.tool,
    args: s.args,
    dependsOn: s.depends_on,
    status: s.status,
    output: s.output,
    error: s.error,
    startedAt: iso(s.started_at),
    finishedAt: iso(s.finished_at),
    durationMs: s.started_at && s.finished_at ? s.finished_at.getTime() - s.started_at.getTime() : null,
  };
}

function runNotFound(runId: string): AppError {
  return new AppError('NOT_FOUND', { detail: `No workflow run ${runId}.` });
}

function runCursor(cursor: string): { createdKey: string; id: string } {
  const [createdKey, id] = decodeCursor(cursor, (c, i) => cursorPart.timestamp(c) && cursorPart.uuid(i));
  return { createdKey, id };
}

export type WorkflowService = ReturnType<typeof createWorkflowService>;

/** Plans, starts, reads and cancels workflow runs; owns this worker's executor, leases and search pool. */
export function createWorkflowService(deps: WorkflowDeps) {
  const { db, config, log, projects, vfs } = deps;
  const owner = `${hostname()}/${process.pid}/${randomBytes(3).toString('hex')}`;
  const search = new SearchPool({
    threads: config.SEARCH_THREADS,
    timeoutMs: config.SEARCH_TIMEOUT_MS,
    maxMatches: config.SEARCH_MAX_MATCHES,
    log,
  });
  const model = config.GEMINI_API_KEY
    ? new GeminiModel({
        apiKey: config.GEMINI_API_KEY,
        baseUrl: config.GEMINI_BASE_URL,
        model: config.GEMINI_MODEL,
        timeoutMs: config.GEMINI_TIMEOUT_MS,
      })
    : undefined;
  const tools = createTools({ vfs, search, model, outputMaxBytes: config.WORKFLOW_OUTPUT_MAX_BYTES });
  const validator = new PlanValidator(tools, config.WORKFLOW_MAX_STEPS, deps.checkPath);
  const planner: Planner =
    model && config.WORKFLOW_PLANNER !== 'rules' ? new GeminiPlanner(model) : new RulesPlanner();
  const executor = new WorkflowExecutor({
    db,
    events: deps.events,
    tools,
    owner,
    log,
    runConcurrency: config.WORKFLOW_RUN_CONCURRENCY,
    workerConcurrency: config.WORKFLOW_WORKER_CONCURRENCY,
    stepTimeoutMs: config.WORKFLOW_STEP_TIMEOUT_MS,
    metrics: deps.metrics,
  });
  const leases = new LeaseKeeper({
    db,
    executor,
    events: deps.events,
    owner,
    leaseMs: config.WORKFLOW_LEASE_MS,
    heartbeatMs: config.WORKFLOW_HEARTBEAT_MS,
    sweepIntervalMs: config.WORKFLOW_SWEEP_INTERVAL_MS,
    log,
    metrics: deps.metrics,
  });
  leases.start();
  let closing = false;

  async function planFromPrompt(
    projectId: string,
    prompt: string,
  ): Promise<{ plan: Plan; planner: PlannerName }> {
    const files = planner.needsFiles ? (await vfs.list(projectId)).map((f) => f.path) : [];
    const raw = await planner.plan(prompt, { tools: validator.tools, files });
    try {
      return { plan: validator.validate(raw), planner: planner.name };
    } catch (err) {
      // The user asked in words; an invalid plan from the model is the model's failure, not theirs.
      if (planner.name === 'gemini' && err instanceof AppError && err.code === 'INVALID_PLAN') {
        throw new AppError('MODEL_UNAVAILABLE', {
          detail: `the model's plan is invalid: ${err.message}`,
          extensions: err.extensions,
        });
      }
      throw err;
    }
  }

  return {
    planner: planner.name,

    /** The tools, their argument schemas and availability, and the rule grammar. */
    catalog() {
      return {
        planner: planner.name,
        tools: validator.tools.map((t) => ({
          name: t.name,
          description: t.description,
          args: t.args,
          available: !t.unavailable,
          ...(t.unavailable ? { unavailableReason: t.unavailable } : {}),
        })),
        grammar: GRAMMAR,
      };
    },

    async plan(
      userId: string,
      projectId: string,
      prompt: string,
    ): Promise<{ plan: Plan; planner: PlannerName }> {
      await projects.getOwned(userId, projectId);
      return planFromPrompt(projectId, prompt);
    },

    async run(
      userId: string,
      body: { projectId: string; plan?: unknown; prompt?: string },
    ): Promise<{ runId: string }> {
      if ((body.plan === undefined) === (body.prompt === undefined)) {
        const message = 'send either "plan" or "prompt"';
        throw new AppError('VALIDATION_FAILED', {
          detail: `body /: ${message}`,
          extensions: { errors: [{ in: 'body', path: '/', message }] },
        });
      }
      if (closing) throw new AppError('SHUTTING_DOWN', { detail: 'This worker is draining; retry.' });
      await projects.getOwned(userId, body.projectId);
      const { plan, planner: plannedBy } =
        body.plan !== undefined
          ? { plan: validator.validate(body.plan), planner: 'user' as const }
          : await planFromPrompt(body.projectId, body.prompt as string);
      const run = await db.transaction((tx) =>
        insertRun(tx, {
          projectId: body.projectId,
          userId,
          prompt: body.prompt ?? null,
          planner: plannedBy,
          plan,
          owner,
          leaseMs: config.WORKFLOW_LEASE_MS,
          maxActive: config.WORKFLOW_MAX_ACTIVE_RUNS,
        }),
      );
      if (!run) {
        throw new AppError('TOO_MANY_REQUESTS', {
          detail: `You already have ${config.WORKFLOW_MAX_ACTIVE_RUNS} unfinished workflow runs; wait for one to finish.`,
          headers: { 'Retry-After': '5' },
        });
      }
      executor.execute(run.id, body.projectId, plan);
      return { runId: run.id };
    },

    async get(userId: string, runId: string) {
      const run = await findRun(db, runId, userId);
      if (!run) throw runNotFound(runId);
      return { ...runView(run), steps: (await findSteps(db, runId)).map(stepView) };
    },

    async list(userId: string, projectId: string, limit: number, cursor: string | undefined) {
      await projects.getOwned(userId, projectId);
      const rows = await listRuns(db, projectId, userId, limit + 1, cursor ? runCursor(cursor) : undefined);
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        items: page.map(runView),
        nextCursor: rows.length > limit && last ? encodeCursor(last.created_key, last.id) : null,
      };
    },

    /** Records the request and wakes the executing worker; `accepted` is false for a run that already ended. */
    async cancel(userId: string, runId: string) {
      const run = await requestCancel(db, runId, userId);
      if (!run) throw runNotFound(runId);
      if (run.status === 'queued' || run.status === 'running') {
        executor.get(runId)?.halt('cancel', 'cancelled on request');
        await notifyCancel(db, CANCEL_CHANNEL, runId);
        return { accepted: true, run: runView(run) };
      }
      if (run.status === 'cancelled') return { accepted: false, run: runView(run) };
      throw new AppError('CONFLICT', {
        detail: `The run already ${run.status}; there is nothing to cancel.`,
      });
    },

    /**
     * Drains: no new runs; runs executing here get `graceMs` to finish, then are stopped and
     * recorded as failed ("the worker shut down") rather than left for the sweeper.
     */
    async close(graceMs: number): Promise<void> {
      closing = true;
      if (!(await executor.idle(graceMs))) {
        const halted = executor.haltAll('shutdown', 'the worker shut down while the run was executing');
        await Promise.race([halted, executor.idle(2000)]);
      }
      await leases.close();
      await search.close();
    },
  };
}

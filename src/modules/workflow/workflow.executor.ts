import type { Database, Queryable } from '../../db/pool.ts';
import type { Logger } from '../../log.ts';
import { inSpan } from '../../tracing/index.ts';
import { Semaphore } from './semaphore.ts';
import {
  type EventsPort,
  Execution,
  errorMessage,
  rejectOnAbort,
  type StopReason,
  type WorkflowMetrics,
} from './workflow.execution.ts';
import { dependentsOf, type Plan, type PlanStep } from './workflow.plan.ts';

import {
  markRunFinished,
  markRunStarted,
  markStepFinished,
  markStepStarted,
  settlePendingSteps,
} from './workflow.repo.ts';
import type { Tool } from './workflow.tools.ts';

export interface ExecutorOptions {
  db: Database;
  events: EventsPort;
  tools: readonly Tool[];
  /** This worker's identity in run leases. */
  owner: string;
  log: Logger;
  runConcurrency: number;
  workerConcurrency: number;
  stepTimeoutMs: number;
  metrics?: WorkflowMetrics;
}

/** Why an execution stops before its plan is done. */
/**
 * Runs plans as DAGs: every step whose dependencies succeeded starts at once, up to
 * `runConcurrency` per run and `workerConcurrency` over all runs of this worker. Every state
 * change is written, fenced by the run's lease, in one transaction with its event.
 */
export class WorkflowExecutor {
  readonly #o: ExecutorOptions;
  readonly #tools: Map<string, Tool>;
  readonly #slots: Semaphore;
  readonly #runs = new Map<string, Execution>();
  #runningSteps = 0;

  constructor(options: ExecutorOptions) {
    this.#o = options;
    this.#tools = new Map(options.tools.map((t) => [t.name, t]));
    this.#slots = new Semaphore(options.workerConcurrency);
    options.metrics?.trackWorkflows(() => ({
      runs: this.#runs.size,
      steps: this.#runningSteps,
      waiting: this.#slots.waiting,
    }));
  }

  /** Run ids this worker is executing (their leases are renewed by the heartbeat). */
  get runIds(): string[] {
    return [...this.#runs.keys()];
  }

  get(runId: string): Execution | undefined {
    return this.#runs.get(runId);
  }

  /** Starts executing a run already inserted and leased to this worker; never throws. */
  execute(runId: string, projectId: string, plan: Plan): Execution {
    const ex = new Execution(runId, projectId, plan);
    this.#runs.set(runId, ex);
    ex.done = inSpan('workflow.run', 'internal', { 'ferrite.run': runId, 'ferrite.project': projectId }, () =>
      this.#execute(ex),
    )
      .catch((err) => this.#o.log.error({ err, runId }, 'workflow run crashed'))
      .finally(() => this.#runs.delete(runId));
    return ex;
  }

  /** A transaction whose failure stops the execution (the sweeper finishes the run if we cannot). */
  async #write<T>(ex: Execution, fn: (tx: Queryable) => Promise<T>): Promise<T | undefined> {
    try {
      return await this.#o.db.transaction(fn);
    } catch (err) {
      this.#o.log.warn({ err, runId: ex.runId }, 'workflow state write failed; stopping the run');
      ex.halt('error', `the run's state could not be saved: ${errorMessage(err)}`);
      return undefined;
    }
  }

  async #execute(ex: Execution): Promise<void> {
    const { events, owner } = this.#o;
    const started = await this.#write(ex, async (tx) => {
      const at = await markRunStarted(tx, ex.runId, owner);
      if (at) {
        await events.publish(tx, ex.projectId, 'workflow.run.started', {
          runId: ex.runId,
          status: 'running',
          steps: ex.plan.steps.length,
          startedAt: at.toISOString(),
        });
      }
      return at;
    });
    if (!started) {
      ex.halt('lost', 'the run was no longer queued for this worker');
      return;
    }

    const inFlight = new Map<string, Promise<void>>();
    for (;;) {
      if (!ex.signal.aborted) {
        for (const step of ex.ready()) {
          if (inFlight.size >= this.#o.runConcurrency) break;
          ex.state.set(step.id, 'dispatched');
          inFlight.set(
            step.id,
            inSpan(
              `workflow.step ${step.tool}`,
              'internal',
              { 'ferrite.run': ex.runId, 'ferrite.step': step.id, 'ferrite.tool': step.tool },
              () => this.#step(ex, step),
            ).finally(() => inFlight.delete(step.id)),
          );
        }
      }
      if (inFlight.size === 0) break;
      await Promise.race(inFlight.values());
    }
    await this.#finish(ex);
  }

  async #step(ex: Execution, step: PlanStep): Promise<void> {
    const { events, owner } = this.#o;
    try {
      await this.#slots.acquire(ex.signal);
    } catch {
      ex.state.set(step.id, 'pending'); // settled with the other unstarted steps
      return;
    }
    let outcome: { status: 'succeeded' | 'failed' | 'cancelled'; output?: unknown; error?: string };
    try {
      const startedAt = await this.#write(ex, async (tx) => {
        const at = await markStepStarted(tx, ex.runId, owner, step.id);
        if (at) {
          await events.publish(tx, ex.projectId, 'workflow.step.started', {
            runId: ex.runId,
            stepId: step.id,
            tool: step.tool,
            startedAt: at.toISOString(),
          });
        }
        return at;
      });
      if (!startedAt) {
        ex.halt('lost', 'the run is no longer leased to this worker');
        ex.state.set(step.id, 'pending');
        return;
      }
      this.#runningSteps++;
      try {
        outcome = await this.#runTool(ex, step);
      } finally {
        this.#runningSteps--;
      }
    } finally {
      this.#slots.release();
    }

    const finished = await this.#write(ex, async (tx) => {
      const row = await markStepFinished(tx, ex.runId, owner, step.id, outcome);
      if (row) {
        await events.publish(tx, ex.projectId, 'workflow.step.finished', {
          runId: ex.runId,
          stepId: step.id,
          tool: step.tool,
          status: outcome.status,
          ...(outcome.error ? { error: outcome.error } : {}),
          startedAt: row.started_at.toISOString(),
          finishedAt: row.finished_at.toISOString(),
        });
      }
      return row;
    });
    if (!finished) {
      ex.halt('lost', 'the run is no longer leased to this worker');
      return;
    }
    this.#o.metrics?.observeWorkflowStep(
      step.tool,
      outcome.status,
      (finished.finished_at.getTime() - finished.started_at.getTime()) / 1000,
    );
    ex.state.set(step.id, outcome.status);
    if (outcome.status === 'failed') {
      ex.failures.push({ stepId: step.id, error: outcome.error ?? 'failed' });
      const dependents = [...dependentsOf(ex.plan, step.id)].filter((id) => ex.state.get(id) === 'pending');
      for (const id of dependents) ex.state.set(id, 'skipped');
      await this.#settle(ex, dependents, 'skipped', `not started: step "${step.id}" failed`);
    }
  }

  async #runTool(
    ex: Execution,
    step: PlanStep,
  ): Promise<{ status: 'succeeded' | 'failed' | 'cancelled'; output?: unknown; error?: string }> {
    const tool = this.#tools.get(step.tool);
    if (!tool) return { status: 'failed', error: `unknown tool "${step.tool}"` };
    const deadline = AbortSignal.timeout(this.#o.stepTimeoutMs);
    try {
      const signal = AbortSignal.any([ex.signal, deadline]);
      // The race keeps a tool that ignores its signal from holding the run (and its lease) forever.
      const output = await Promise.race([
        tool.run(step.args, { projectId: ex.projectId, signal }),
        rejectOnAbort(signal),
      ]);
      // A tool that finished despite an abort did its work: the record says so.
      return { status: 'succeeded', output };
    } catch (err) {
      if (ex.signal.aborted) {
        return ex.stop === 'cancel'
          ? { status: 'cancelled', error: 'cancelled while running' }
          : { status: 'failed', error: `stopped: ${ex.stopDetail}` };
      }
      if (deadline.aborted) return { status: 'failed', error: `timed out after ${this.#o.stepTimeoutMs} ms` };
      this.#o.log.debug({ err, runId: ex.runId, stepId: step.id }, 'workflow step failed');
      return { status: 'failed', error: errorMessage(err) };
    }
  }

  async #settle(ex: Execution, ids: string[], status: 'skipped' | 'cancelled', error: string): Promise<void> {
    if (ids.length === 0) return;
    const { events, owner } = this.#o;
    await this.#write(ex, async (tx) => {
      const changed = await settlePendingSteps(tx, ex.runId, owner, ids, status, error);
      for (const stepId of changed) {
        await events.publish(tx, ex.projectId, 'workflow.step.finished', {
          runId: ex.runId,
          stepId,
          status,
          error,
        });
      }
    });
  }

  async #finish(ex: Execution): Promise<void> {
    if (ex.stop === 'lost') {
      this.#o.log.warn({ runId: ex.runId, detail: ex.stopDetail }, 'workflow run lost');
      return;
    }
    const unstarted = [...ex.state].filter(([, s]) => s === 'pending').map(([id]) => id);
    const cancelled = ex.stop === 'cancel';
    await this.#settle(
      ex,
      unstarted,
      cancelled ? 'cancelled' : 'skipped',
      cancelled ? 'not started: the run was cancelled' : `not started: ${ex.stopDetail || 'the run failed'}`,
    );
    const [status, reason] = ex.outcome();
    const { events, owner } = this.#o;
    // A failed save here leaves the lease to expire: the sweeper then fails the run.
    await this.#o.db
      .transaction(async (tx) => {
        const row = await markRunFinished(tx, ex.runId, owner, status, reason);
        if (row) {
          this.#o.metrics?.workflowRunFinished(status);
          await events.publish(tx, ex.projectId, 'workflow.run.finished', {
            runId: ex.runId,
            status,
            reason,
            finishedAt: row.finished_at?.toISOString(),
          });
        }
      })
      .catch((err) => this.#o.log.warn({ err, runId: ex.runId }, 'saving the run result failed'));
    this.#o.log.info({ runId: ex.runId, status, reason }, 'workflow run finished');
  }

  /** Stops every local run for `reason` and waits for their records (bounded by the caller). */
  async haltAll(reason: StopReason, detail: string): Promise<void> {
    const runs = [...this.#runs.values()];
    for (const ex of runs) ex.halt(reason, detail);
    await Promise.all(runs.map((ex) => ex.done));
  }

  /** Resolves when no run executes here any more, or after `ms`. */
  async idle(ms: number): Promise<boolean> {
    const all = Promise.all([...this.#runs.values()].map((ex) => ex.done)).then(() => true);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    });
    try {
      return await Promise.race([all, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

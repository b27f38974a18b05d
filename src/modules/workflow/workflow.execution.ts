import type { Queryable } from '../../db/pool.ts';
import { AppError } from '../../errors.ts';
import type { Plan, PlanStep } from './workflow.plan.ts';

// A run as the executor holds it while it runs here, what it reports to (events, metrics), and
// the small helpers its steps share.

export type WorkflowEventType =
  | 'workflow.run.started'
  | 'workflow.step.started'
  | 'workflow.step.finished'
  | 'workflow.run.finished';

/** The events service's publish (issue #7 contract): inside the caller's transaction. */
export interface EventsPort {
  publish(
    client: Queryable,
    projectId: string,
    type: WorkflowEventType,
    data: Record<string, unknown>,
  ): Promise<number>;
}

/** What the executor reports to /metrics (WorkerMetrics has these). */
export interface WorkflowMetrics {
  workflowRunFinished(status: string): void;
  observeWorkflowStep(tool: string, status: string, seconds: number): void;
  trackWorkflows(read: () => { runs: number; steps: number; waiting: number }): void;
}

export type StopReason = 'cancel' | 'lost' | 'shutdown' | 'error';

const MAX_ERROR_CHARS = 2000;

export function errorMessage(err: unknown): string {
  const text =
    err instanceof AppError
      ? `${err.code}: ${err.message}`
      : err instanceof Error
        ? err.message
        : String(err);
  return text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS)}…` : text;
}

export function rejectOnAbort(signal: AbortSignal): Promise<never> {
  return new Promise((_resolve, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

type LocalState = 'pending' | 'dispatched' | 'succeeded' | 'failed' | 'skipped' | 'cancelled';

/** One run executing on this worker: its plan, each step's local state, and its abort switch. */
export class Execution {
  readonly controller = new AbortController();
  readonly state: Map<string, LocalState>;
  readonly failures: { stepId: string; error: string }[] = [];
  stop: StopReason | undefined;
  stopDetail = '';
  done: Promise<void> = Promise.resolve();

  readonly runId: string;
  readonly projectId: string;
  readonly plan: Plan;

  constructor(runId: string, projectId: string, plan: Plan) {
    this.runId = runId;
    this.projectId = projectId;
    this.plan = plan;
    this.state = new Map(plan.steps.map((s) => [s.id, 'pending']));
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  halt(reason: StopReason, detail: string): void {
    if (this.stop) return;
    this.stop = reason;
    this.stopDetail = detail;
    this.controller.abort(new Error(detail));
  }

  /** How the run ended, and why when it did not succeed. */
  outcome(): ['succeeded' | 'failed' | 'cancelled', string | null] {
    const first = this.failures[0];
    if (this.stop === 'cancel') return ['cancelled', 'cancelled on request'];
    if (this.stop) return ['failed', this.stopDetail];
    if (first) return ['failed', `step "${first.stepId}" failed: ${first.error}`];
    return ['succeeded', null];
  }

  ready(): PlanStep[] {
    return this.plan.steps.filter(
      (s) =>
        this.state.get(s.id) === 'pending' && s.dependsOn.every((d) => this.state.get(d) === 'succeeded'),
    );
  }
}

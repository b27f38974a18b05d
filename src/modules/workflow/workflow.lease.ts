import type { Subscription } from '../../db/listen.ts';
import type { Database } from '../../db/pool.ts';
import type { Logger } from '../../log.ts';
import type { EventsPort, WorkflowMetrics } from './workflow.execution.ts';
import type { WorkflowExecutor } from './workflow.executor.ts';
import { renewLeases, sweepExpired } from './workflow.lease.repo.ts';

/** NOTIFY channel carrying the id of a run someone asked to cancel. */
export const CANCEL_CHANNEL = 'ferrite_workflow_cancel';

const SWEEP_BATCH = 50;

export interface LeaseOptions {
  db: Database;
  executor: WorkflowExecutor;
  events: EventsPort;
  owner: string;
  leaseMs: number;
  heartbeatMs: number;
  sweepIntervalMs: number;
  log: Logger;
  metrics?: WorkflowMetrics;
}

/**
 * Keeps this worker's runs alive and everyone's runs honest: a heartbeat renews the leases of
 * the runs executing here (and notices cancel requests and runs taken away), a sweeper fails
 * runs whose worker stopped renewing, and the worker's LISTEN session delivers cancel requests
 * made on other workers at once (the heartbeat would notice them within a beat anyway).
 */
export class LeaseKeeper {
  readonly #o: LeaseOptions;
  #heartbeat: NodeJS.Timeout | undefined;
  #sweeper: NodeJS.Timeout | undefined;
  #cancels: Subscription | undefined;
  #closed = false;

  constructor(options: LeaseOptions) {
    this.#o = options;
  }

  start(): void {
    this.#heartbeat = setInterval(() => void this.heartbeat(), this.#o.heartbeatMs);
    this.#heartbeat.unref();
    this.#scheduleSweep();
    this.#cancels = this.#o.db.listen(
      CANCEL_CHANNEL,
      (runId) => this.#o.executor.get(runId)?.halt('cancel', 'cancelled on request'),
      // Requests made while nobody here was listening.
      { onListening: () => void this.heartbeat() },
    );
  }

  async heartbeat(): Promise<void> {
    const { executor } = this.#o;
    const ids = executor.runIds;
    if (ids.length === 0) return;
    let rows: { id: string; cancel_requested: boolean }[];
    try {
      rows = await renewLeases(this.#o.db, ids, this.#o.owner, this.#o.leaseMs);
    } catch (err) {
      // The runs keep going; if this lasts past the lease, another worker's sweeper fails them.
      this.#o.log.warn({ err }, 'renewing workflow leases failed');
      return;
    }
    const kept = new Map(rows.map((r) => [r.id, r.cancel_requested]));
    for (const id of ids) {
      const ex = executor.get(id);
      if (!ex) continue;
      if (!kept.has(id))
        ex.halt('lost', 'the run was finished elsewhere (lease expired, or its project was deleted)');
      else if (kept.get(id)) ex.halt('cancel', 'cancelled on request');
    }
  }

  #scheduleSweep(): void {
    if (this.#closed) return;
    // Jitter spreads the workers' sweeps; SKIP LOCKED would keep them apart anyway.
    const delay = this.#o.sweepIntervalMs * (0.75 + Math.random() * 0.5);
    this.#sweeper = setTimeout(() => {
      void this.sweep().finally(() => this.#scheduleSweep());
    }, delay);
    this.#sweeper.unref();
  }

  /** Fails every run whose lease expired, with its events; returns how many. */
  async sweep(): Promise<number> {
    let total = 0;
    try {
      for (;;) {
        const swept = await this.#o.db.transaction(async (tx) => {
          const runs = await sweepExpired(tx, SWEEP_BATCH);
          for (const { run, failed, skipped } of runs) {
            const publish = (type: Parameters<EventsPort['publish']>[2], data: Record<string, unknown>) =>
              this.#o.events.publish(tx, run.project_id, type, { runId: run.id, ...data });
            for (const stepId of failed) {
              await publish('workflow.step.finished', { stepId, status: 'failed', error: 'worker lost' });
            }
            for (const stepId of skipped) {
              await publish('workflow.step.finished', { stepId, status: 'skipped', error: 'worker lost' });
            }
            await publish('workflow.run.finished', {
              status: 'failed',
              reason: run.reason,
              finishedAt: run.finished_at?.toISOString(),
            });
          }
          return runs;
        });
        for (const { run } of swept) {
          this.#o.metrics?.workflowRunFinished('failed');
          this.#o.log.warn({ runId: run.id, owner: run.owner }, 'workflow run failed: its worker was lost');
        }
        total += swept.length;
        if (swept.length < SWEEP_BATCH) return total;
      }
    } catch (err) {
      this.#o.log.warn({ err }, 'sweeping expired workflow runs failed');
      return total;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#heartbeat);
    clearTimeout(this.#sweeper);
    this.#cancels?.close();
  }
}

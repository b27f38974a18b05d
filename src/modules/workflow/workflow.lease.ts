import pg from 'pg';
import type { Database } from '../../db/pool.ts';
import type { Logger } from '../../log.ts';
import type { EventsPort, WorkflowExecutor, WorkflowMetrics } from './workflow.executor.ts';
import { renewLeases, sweepExpired } from './workflow.repo.ts';

/** NOTIFY channel carrying the id of a run someone asked to cancel. */
export const CANCEL_CHANNEL = 'ferrite_workflow_cancel';

const SWEEP_BATCH = 50;

export interface LeaseOptions {
  db: Database;
  databaseUrl: string;
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
 * runs whose worker stopped renewing, and a LISTEN connection delivers cancel requests made on
 * other workers at once (the heartbeat would notice them within a beat anyway).
 */
export class LeaseKeeper {
  readonly #o: LeaseOptions;
  #heartbeat: NodeJS.Timeout | undefined;
  #sweeper: NodeJS.Timeout | undefined;
  #listener: pg.Client | undefined;
  #reconnect: NodeJS.Timeout | undefined;
  #ping: NodeJS.Timeout | undefined;
  #backoffMs = 500;
  #closed = false;

  constructor(options: LeaseOptions) {
    this.#o = options;
  }

  start(): void {
    this.#heartbeat = setInterval(() => void this.heartbeat(), this.#o.heartbeatMs);
    this.#heartbeat.unref();
    this.#scheduleSweep();
    void this.#listen();
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

  async #listen(): Promise<void> {
    if (this.#closed) return;
    const client = new pg.Client({
      connectionString: this.#o.databaseUrl,
      application_name: 'ferrite-workflow-listen',
      keepAlive: true,
      connectionTimeoutMillis: 5000,
      query_timeout: 5000,
    });
    let lost = false;
    const retry = (err?: unknown) => {
      if (lost) return;
      lost = true;
      clearInterval(this.#ping);
      if (this.#listener === client) this.#listener = undefined;
      client.end().catch(() => undefined);
      if (this.#closed) return;
      this.#o.log.warn({ err, retryInMs: this.#backoffMs }, 'workflow cancel listener lost its connection');
      this.#reconnect = setTimeout(() => void this.#listen(), this.#backoffMs);
      this.#reconnect.unref();
      this.#backoffMs = Math.min(this.#backoffMs * 2, 5000);
    };
    client.on('error', retry);
    client.on('end', () => retry());
    client.on('notification', (msg) => {
      if (msg.channel !== CANCEL_CHANNEL || !msg.payload) return;
      this.#o.executor.get(msg.payload)?.halt('cancel', 'cancelled on request');
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CANCEL_CHANNEL}`);
    } catch (err) {
      retry(err);
      return;
    }
    if (this.#closed || lost) {
      client.end().catch(() => undefined);
      return;
    }
    this.#listener = client;
    this.#backoffMs = 500;
    // A half-open connection delivers nothing and reports nothing; a periodic round trip finds it.
    this.#ping = setInterval(() => {
      client.query('SELECT 1').catch(retry);
    }, 15_000);
    this.#ping.unref();
    // Requests made while nobody here was listening.
    await this.heartbeat();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#heartbeat);
    clearTimeout(this.#sweeper);
    clearTimeout(this.#reconnect);
    clearInterval(this.#ping);
    const client = this.#listener;
    this.#listener = undefined;
    await client?.end().catch(() => undefined);
  }
}

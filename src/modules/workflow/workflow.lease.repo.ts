import type { Queryable } from '../../db/pool.ts';
import { ACTIVE, RUN_COLUMNS, type RunRow, type StepStatus } from './workflow.repo.ts';

// The SQL of run leases: renewal by the owner, and the sweep that fails runs whose owner
// stopped renewing (another host's worker died).

/** Extends the leases of this owner's unfinished runs; runs not returned are no longer its own. */
export async function renewLeases(
  db: Queryable,
  runIds: string[],
  owner: string,
  leaseMs: number,
): Promise<{ id: string; cancel_requested: boolean }[]> {
  const res = await db.query<{ id: string; cancel_requested: boolean }>(
    `UPDATE workflow_runs SET lease_expires_at = now() + $3 * interval '1 millisecond'
     WHERE id = ANY($1::uuid[]) AND owner = $2 AND status IN ${ACTIVE}
     RETURNING id, cancel_requested_at IS NOT NULL AS cancel_requested`,
    [runIds, owner, leaseMs],
  );
  return res.rows;
}

export interface SweptRun {
  run: RunRow;
  failed: string[];
  skipped: string[];
}

/**
 * Fails up to `limit` unfinished runs whose lease expired, with their running steps failed and
 * pending ones skipped. SKIP LOCKED lets every worker sweep at once without waiting on each other.
 */
export async function sweepExpired(tx: Queryable, limit: number): Promise<SweptRun[]> {
  const expired = await tx.query<{ id: string; owner: string | null }>(
    `SELECT id, owner FROM workflow_runs
     WHERE status IN ${ACTIVE} AND lease_expires_at < now()
     ORDER BY lease_expires_at LIMIT $1 FOR UPDATE SKIP LOCKED`,
    [limit],
  );
  const swept: SweptRun[] = [];
  for (const { id, owner } of expired.rows) {
    const reason = `worker lost: ${owner ?? 'its worker'} stopped renewing the run's lease`;
    const run = await tx.query<RunRow>(
      `UPDATE workflow_runs SET status = 'failed', reason = $2, finished_at = clock_timestamp(),
         lease_expires_at = NULL
       WHERE id = $1 RETURNING ${RUN_COLUMNS}`,
      [id, reason],
    );
    const steps = await tx.query<{ step_id: string; status: StepStatus }>(
      `UPDATE workflow_steps SET
         status = CASE status WHEN 'running' THEN 'failed' ELSE 'skipped' END,
         error = CASE status WHEN 'running' THEN 'worker lost while the step was running'
                 ELSE 'not started: the run failed (worker lost)' END,
         finished_at = clock_timestamp()
       WHERE run_id = $1 AND status IN ('pending', 'running')
       RETURNING step_id, status`,
      [id],
    );
    swept.push({
      run: run.rows[0] as RunRow,
      failed: steps.rows.filter((s) => s.status === 'failed').map((s) => s.step_id),
      skipped: steps.rows.filter((s) => s.status === 'skipped').map((s) => s.step_id),
    });
  }
  return swept;
}

import { one, type Queryable } from '../../db/pool.ts';
import type { Plan } from './workflow.plan.ts';

export type RunStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export type StepStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped' | 'cancelled';
export type PlannerName = 'user' | 'rules' | 'gemini';

export interface RunRow {
  id: string;
  project_id: string;
  user_id: string;
  status: RunStatus;
  reason: string | null;
  prompt: string | null;
  planner: PlannerName;
  owner: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  cancel_requested_at: Date | null;
}

export interface StepRow {
  step_id: string;
  tool: string;
  args: Record<string, unknown>;
  depends_on: string[];
  status: StepStatus;
  output: Record<string, unknown> | null;
  error: string | null;
  started_at: Date | null;
  finished_at: Date | null;
}

export const RUN_COLUMNS = `id, project_id, user_id, status, reason, prompt, planner, owner, created_at, started_at,
  finished_at, cancel_requested_at`;
const STEP_COLUMNS = 'step_id, tool, args, depends_on, status, output, error, started_at, finished_at';
export const ACTIVE = `('queued', 'running')`;

// Every write the executing worker makes is fenced: it only lands while the run is still
// unfinished and leased to that worker. FOR SHARE keeps the sweeper (FOR UPDATE SKIP LOCKED)
// off the run for the length of the write, so a step can never finish after its run was failed.
const FENCE = `WITH fence AS (
  SELECT id FROM workflow_runs WHERE id = $1 AND owner = $2 AND status = 'running' FOR SHARE
)`;

/**
 * Inserts a queued run and its pending steps, leased to `owner`, unless the user already has
 * `maxActive` unfinished runs (then undefined). A per-user advisory lock makes the count exact
 * across workers.
 */
export async function insertRun(
  tx: Queryable,
  r: {
    projectId: string;
    userId: string;
    prompt: string | null;
    planner: PlannerName;
    plan: Plan;
    owner: string;
    leaseMs: number;
    maxActive: number;
  },
): Promise<RunRow | undefined> {
  await tx.query(`SELECT pg_advisory_xact_lock(hashtext('workflow_runs:' || $1::text))`, [r.userId]);
  const active = await tx.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM workflow_runs WHERE user_id = $1 AND status IN ${ACTIVE}`,
    [r.userId],
  );
  if ((active.rows[0]?.n ?? 0) >= r.maxActive) return undefined;
  const run = await tx.query<RunRow>(
    `INSERT INTO workflow_runs (project_id, user_id, prompt, planner, plan, owner, lease_expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, now() + $7 * interval '1 millisecond')
     RETURNING ${RUN_COLUMNS}`,
    [r.projectId, r.userId, r.prompt, r.planner, JSON.stringify(r.plan), r.owner, r.leaseMs],
  );
  const row = run.rows[0] as RunRow;
  await tx.query(
    `INSERT INTO workflow_steps (run_id, step_id, position, tool, args, depends_on)
     SELECT $1, e.step->>'id', e.ord - 1, e.step->>'tool', e.step->'args',
            ARRAY(SELECT jsonb_array_elements_text(e.step->'dependsOn'))
     FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS e(step, ord)`,
    [row.id, JSON.stringify(r.plan.steps)],
  );
  return row;
}

/** queued → running; undefined when the run is no longer this owner's to start. */
export async function markRunStarted(tx: Queryable, runId: string, owner: string): Promise<Date | undefined> {
  const res = await tx.query<{ started_at: Date }>(
    `UPDATE workflow_runs SET status = 'running', started_at = clock_timestamp()
     WHERE id = $1 AND owner = $2 AND status = 'queued' RETURNING started_at`,
    [runId, owner],
  );
  return res.rows[0]?.started_at;
}

/** pending → running, fenced; undefined when the run was lost or the step is not pending. */
export async function markStepStarted(
  tx: Queryable,
  runId: string,
  owner: string,
  stepId: string,
): Promise<Date | undefined> {
  const res = await tx.query<{ started_at: Date }>(
    `${FENCE}
     UPDATE workflow_steps s SET status = 'running', started_at = clock_timestamp()
     FROM fence WHERE s.run_id = fence.id AND s.step_id = $3 AND s.status = 'pending'
     RETURNING s.started_at`,
    [runId, owner, stepId],
  );
  return res.rows[0]?.started_at;
}

/** running → succeeded|failed|cancelled, fenced. */
export async function markStepFinished(
  tx: Queryable,
  runId: string,
  owner: string,
  stepId: string,
  outcome: { status: 'succeeded' | 'failed' | 'cancelled'; output?: unknown; error?: string },
): Promise<{ started_at: Date; finished_at: Date } | undefined> {
  return one<{ started_at: Date; finished_at: Date }>(
    tx,
    `${FENCE}
     UPDATE workflow_steps s SET status = $4, output = $5, error = $6, finished_at = clock_timestamp()
     FROM fence WHERE s.run_id = fence.id AND s.step_id = $3 AND s.status = 'running'
     RETURNING s.started_at, s.finished_at`,
    [
      runId,
      owner,
      stepId,
      outcome.status,
      outcome.output === undefined ? null : JSON.stringify(outcome.output),
      outcome.error ?? null,
    ],
  );
}

/** pending → skipped|cancelled for the given steps, fenced; the ids that changed. */
export async function settlePendingSteps(
  tx: Queryable,
  runId: string,
  owner: string,
  stepIds: string[],
  status: 'skipped' | 'cancelled',
  error: string,
): Promise<string[]> {
  if (stepIds.length === 0) return [];
  const res = await tx.query<{ step_id: string }>(
    `${FENCE}
     UPDATE workflow_steps s SET status = $4, error = $5, finished_at = clock_timestamp()
     FROM fence WHERE s.run_id = fence.id AND s.step_id = ANY($3::text[]) AND s.status = 'pending'
     RETURNING s.step_id`,
    [runId, owner, stepIds, status, error],
  );
  return res.rows.map((r) => r.step_id).sort();
}

/** The run's final state, if it is still this owner's unfinished run. */
export async function markRunFinished(
  tx: Queryable,
  runId: string,
  owner: string,
  status: 'succeeded' | 'failed' | 'cancelled',
  reason: string | null,
): Promise<RunRow | undefined> {
  return one<RunRow>(
    tx,
    `UPDATE workflow_runs SET status = $3, reason = $4, finished_at = clock_timestamp(), lease_expires_at = NULL
     WHERE id = $1 AND owner = $2 AND status IN ${ACTIVE} RETURNING ${RUN_COLUMNS}`,
    [runId, owner, status, reason],
  );
}

/** Records a cancel request on the user's run; the run as it is now (undefined: no such run of theirs). */
export async function requestCancel(
  db: Queryable,
  runId: string,
  userId: string,
): Promise<RunRow | undefined> {
  return one<RunRow>(
    db,
    `WITH target AS (SELECT id FROM workflow_runs WHERE id = $1 AND user_id = $2),
     marked AS (
       UPDATE workflow_runs r SET cancel_requested_at = coalesce(r.cancel_requested_at, clock_timestamp())
       FROM target WHERE r.id = target.id AND r.status IN ${ACTIVE} RETURNING r.*
     )
     SELECT ${RUN_COLUMNS} FROM marked
     UNION ALL
     SELECT ${RUN_COLUMNS} FROM workflow_runs WHERE id = $1 AND user_id = $2 AND NOT EXISTS (SELECT 1 FROM marked)`,
    [runId, userId],
  );
}

export async function findRun(db: Queryable, runId: string, userId: string): Promise<RunRow | undefined> {
  return one<RunRow>(db, `SELECT ${RUN_COLUMNS} FROM workflow_runs WHERE id = $1 AND user_id = $2`, [
    runId,
    userId,
  ]);
}

export async function findSteps(db: Queryable, runId: string): Promise<StepRow[]> {
  const res = await db.query<StepRow>(
    `SELECT ${STEP_COLUMNS} FROM workflow_steps WHERE run_id = $1 ORDER BY position`,
    [runId],
  );
  return res.rows;
}

/** A project's runs, newest first, after the keyset position when given. */
export async function listRuns(
  db: Queryable,
  projectId: string,
  userId: string,
  limit: number,
  after: { createdKey: string; id: string } | undefined,
): Promise<(RunRow & { created_key: string })[]> {
  // created_key is created_at as text: exact to the microsecond, unlike a JS Date.
  const columns = `${RUN_COLUMNS}, created_at::text AS created_key`;
  const res = after
    ? await db.query<RunRow & { created_key: string }>(
        `SELECT ${columns} FROM workflow_runs
         WHERE project_id = $1 AND user_id = $2 AND (created_at, id) < ($3::timestamptz, $4::uuid)
         ORDER BY created_at DESC, id DESC LIMIT $5`,
        [projectId, userId, after.createdKey, after.id, limit],
      )
    : await db.query<RunRow & { created_key: string }>(
        `SELECT ${columns} FROM workflow_runs WHERE project_id = $1 AND user_id = $2
         ORDER BY created_at DESC, id DESC LIMIT $3`,
        [projectId, userId, limit],
      );
  return res.rows;
}

/** Wakes every worker's cancel listener (the run's executor halts it at once). */
export async function notifyCancel(db: Queryable, channel: string, runId: string): Promise<void> {
  await db.query('SELECT pg_notify($1, $2)', [channel, runId]);
}

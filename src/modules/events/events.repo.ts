import type { Queryable } from '../../db/pool.ts';

export interface EventRow {
  seq: string;
  type: string;
  data: unknown;
}

// NOTIFY payloads are limited to 8000 bytes; larger events travel as {p, s} and are read back.
const INLINE_DATA_BYTES = 7000;

/**
 * Takes the project's next sequence number, stores the event and queues a NOTIFY, in one round
 * trip. The sequence lives on the project row: the UPDATE holds its lock until the
 * transaction ends, so numbers are dense and become visible in order, and a rollback returns
 * the number. Undefined when the project does not exist.
 */
export async function appendEvent(
  db: Queryable,
  channel: string,
  projectId: string,
  type: string,
  data: string,
): Promise<number | undefined> {
  const res = await db.query<{ seq: string }>(
    `WITH s AS (
       UPDATE projects SET event_seq = event_seq + 1 WHERE id = $1 RETURNING event_seq
     ), e AS (
       INSERT INTO project_events (project_id, seq, type, data)
       SELECT $1, event_seq, $2, $3::jsonb FROM s
       RETURNING seq, data
     )
     SELECT seq, pg_notify($4, json_build_object(
       'p', $1::text, 's', seq, 't', $2::text,
       'd', CASE WHEN octet_length(data::text) <= $5 THEN data END
     )::text) FROM e`,
    [projectId, type, data, channel, INLINE_DATA_BYTES],
  );
  const row = res.rows[0];
  return row ? Number(row.seq) : undefined;
}

/** Queues a NOTIFY with a JSON payload; delivered when the transaction commits. */
export async function notify(db: Queryable, channel: string, payload: string): Promise<void> {
  await db.query('SELECT pg_notify($1, $2)', [channel, payload]);
}

/** Events after `afterSeq`, oldest first. */
export async function eventsAfter(
  db: Queryable,
  projectId: string,
  afterSeq: number,
  limit: number,
): Promise<EventRow[]> {
  const res = await db.query<EventRow>(
    `SELECT seq, type, data FROM project_events
     WHERE project_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
    [projectId, afterSeq, limit],
  );
  return res.rows;
}

/** The project's last sequence number and its oldest retained event; undefined without the project. */
export async function sequenceState(
  db: Queryable,
  projectId: string,
): Promise<{ current: number; oldest: number | null } | undefined> {
  const res = await db.query<{ current: string; oldest: string | null }>(
    `SELECT p.event_seq AS current,
            (SELECT min(seq) FROM project_events e WHERE e.project_id = p.id) AS oldest
     FROM projects p WHERE p.id = $1`,
    [projectId],
  );
  const row = res.rows[0];
  if (!row) return undefined;
  return { current: Number(row.current), oldest: row.oldest === null ? null : Number(row.oldest) };
}

/** Deletes a project's events up to and including `uptoSeq`. */
export async function pruneProjectEvents(db: Queryable, projectId: string, uptoSeq: number): Promise<void> {
  await db.query('DELETE FROM project_events WHERE project_id = $1 AND seq <= $2', [projectId, uptoSeq]);
}

/** Deletes every event older than `seconds`; returns how many. */
export async function pruneEventsOlderThan(db: Queryable, seconds: number): Promise<number> {
  const res = await db.query(
    'DELETE FROM project_events WHERE created_at < now() - make_interval(secs => $1)',
    [seconds],
  );
  return res.rowCount ?? 0;
}

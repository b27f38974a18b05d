import { one, type Queryable } from '../../db/pool.ts';

export interface ProjectRow {
  id: string;
  owner_id: string;
  name: string;
  description: string;
  revision: string;
  file_count: number;
  total_bytes: string;
  created_at: Date;
  updated_at: Date;
  /** created_at as Postgres prints it, microseconds included: the keyset position of a page. */
  created_key: string;
}

const COLUMNS =
  'id, owner_id, name, description, revision, file_count, total_bytes, created_at, updated_at, created_at::text AS created_key';

export async function insertProject(
  db: Queryable,
  ownerId: string,
  name: string,
  description: string,
): Promise<ProjectRow> {
  const res = await db.query<ProjectRow>(
    `INSERT INTO projects (owner_id, name, description) VALUES ($1, $2, $3) RETURNING ${COLUMNS}`,
    [ownerId, name, description],
  );
  return res.rows[0] as ProjectRow;
}

/** The project when it exists and belongs to `ownerId`. */
export async function ownedProject(
  db: Queryable,
  ownerId: string,
  id: string,
): Promise<ProjectRow | undefined> {
  return one<ProjectRow>(db, `SELECT ${COLUMNS} FROM projects WHERE id = $1 AND owner_id = $2`, [
    id,
    ownerId,
  ]);
}

/** An owner's projects, newest first, after the keyset position (createdAt, id) when given. */
export async function projectsPage(
  db: Queryable,
  ownerId: string,
  limit: number,
  after: { createdAt: string; id: string } | undefined,
): Promise<ProjectRow[]> {
  const res = after
    ? await db.query<ProjectRow>(
        `SELECT ${COLUMNS} FROM projects
         WHERE owner_id = $1 AND (created_at, id) < ($2::timestamptz, $3::uuid)
         ORDER BY created_at DESC, id DESC LIMIT $4`,
        [ownerId, after.createdAt, after.id, limit],
      )
    : await db.query<ProjectRow>(
        `SELECT ${COLUMNS} FROM projects WHERE owner_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`,
        [ownerId, limit],
      );
  return res.rows;
}

export async function updateProject(
  db: Queryable,
  ownerId: string,
  id: string,
  patch: { name?: string; description?: string },
): Promise<ProjectRow | undefined> {
  return one<ProjectRow>(
    db,
    `UPDATE projects SET name = coalesce($3, name), description = coalesce($4, description), updated_at = now()
     WHERE id = $1 AND owner_id = $2 RETURNING ${COLUMNS}`,
    [id, ownerId, patch.name ?? null, patch.description ?? null],
  );
}

/** Deletes the project with its files and events; false when there was none to delete. */
export async function deleteProject(db: Queryable, ownerId: string, id: string): Promise<boolean> {
  const res = await db.query('DELETE FROM projects WHERE id = $1 AND owner_id = $2', [id, ownerId]);
  return (res.rowCount ?? 0) > 0;
}

/**
 * Locks the owner's row (the owner of `projectId` when `by` is 'project') for the rest of the
 * transaction: one user's project creations and growing file writes then run one at a time, so
 * the per-user limits are checked against settled numbers. `FOR NO KEY UPDATE` leaves the
 * foreign-key checks of other tables (tokens, projects) free. Returns the user's id, or undefined
 * when there is no such user or project.
 */
export async function lockOwner(
  db: Queryable,
  by: 'user' | 'project',
  id: string,
): Promise<string | undefined> {
  const res = await db.query<{ id: string }>(
    by === 'user'
      ? 'SELECT id FROM users WHERE id = $1 FOR NO KEY UPDATE'
      : 'SELECT id FROM users WHERE id = (SELECT owner_id FROM projects WHERE id = $1) FOR NO KEY UPDATE',
    [id],
  );
  return res.rows[0]?.id;
}

/** How many projects a user owns and the bytes of all their files. */
export async function ownerUsage(
  db: Queryable,
  ownerId: string,
): Promise<{ projects: number; bytes: number }> {
  const res = await db.query<{ projects: string; bytes: string }>(
    'SELECT count(*) AS projects, coalesce(sum(total_bytes), 0) AS bytes FROM projects WHERE owner_id = $1',
    [ownerId],
  );
  const row = res.rows[0];
  return { projects: Number(row?.projects ?? 0), bytes: Number(row?.bytes ?? 0) };
}

import { one, type Queryable } from '../../db/pool.ts';

export interface FileRow {
  path: string;
  size: number;
  content_hash: string;
  version: string;
  updated_at: Date;
}

export interface ProjectUsage {
  revision: string;
  file_count: number;
  total_bytes: string;
}

const META = 'path, size, content_hash, version, updated_at';

/**
 * Locks the project row for the rest of the transaction. Every change to a project's files
 * takes this lock first, so changes apply one at a time: quota and file counts are checked
 * against settled numbers, revisions never collide, and a conditional write compares against
 * the latest content.
 */
export async function lockProject(db: Queryable, projectId: string): Promise<ProjectUsage | undefined> {
  return one<ProjectUsage>(
    db,
    'SELECT revision, file_count, total_bytes FROM projects WHERE id = $1 FOR UPDATE',
    [projectId],
  );
}

export async function fileMeta(db: Queryable, projectId: string, path: string): Promise<FileRow | undefined> {
  return one<FileRow>(db, `SELECT ${META} FROM files WHERE project_id = $1 AND path = $2`, [projectId, path]);
}

export async function sameContent(
  db: Queryable,
  projectId: string,
  path: string,
  content: Buffer,
): Promise<boolean> {
  const res = await db.query<{ same: boolean }>(
    'SELECT content = $3 AS same FROM files WHERE project_id = $1 AND path = $2',
    [projectId, path, content],
  );
  return res.rows[0]?.same === true;
}

/**
 * A file that stands where `path` needs a directory (an ancestor), or a file below `path`
 * when `path` needs to be a file; `except` is left out (the source of a move).
 */
export async function pathConflict(
  db: Queryable,
  projectId: string,
  path: string,
  ancestors: string[],
  except: string | null,
): Promise<string | undefined> {
  // '0' follows '/' byte-wise: [path/, path0) is everything below path.
  const res = await db.query<{ path: string }>(
    `SELECT path FROM files
     WHERE project_id = $1 AND (path = ANY($2::text[]) OR (path >= $3 AND path < $4))
       AND path IS DISTINCT FROM $5
     LIMIT 1`,
    [projectId, ancestors, `${path}/`, `${path}0`, except],
  );
  return res.rows[0]?.path;
}

/** Bumps the project's revision and adjusts its usage; returns the new revision. */
export async function bumpRevision(
  db: Queryable,
  projectId: string,
  deltaBytes: number,
  deltaFiles: number,
): Promise<number> {
  const res = await db.query<{ revision: string }>(
    `UPDATE projects SET revision = revision + 1, total_bytes = total_bytes + $2,
       file_count = file_count + $3, updated_at = now()
     WHERE id = $1 RETURNING revision`,
    [projectId, deltaBytes, deltaFiles],
  );
  return Number(res.rows[0]?.revision);
}

export async function upsertFile(
  db: Queryable,
  projectId: string,
  path: string,
  content: Buffer,
  hash: string,
  version: number,
): Promise<FileRow> {
  const res = await db.query<FileRow>(
    `INSERT INTO files (project_id, path, content, size, content_hash, version)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (project_id, path) DO UPDATE
       SET content = excluded.content, size = excluded.size, content_hash = excluded.content_hash,
           version = excluded.version, updated_at = now()
     RETURNING ${META}`,
    [projectId, path, content, content.length, hash, version],
  );
  return res.rows[0] as FileRow;
}

export async function deleteFile(
  db: Queryable,
  projectId: string,
  path: string,
): Promise<FileRow | undefined> {
  return one<FileRow>(db, `DELETE FROM files WHERE project_id = $1 AND path = $2 RETURNING ${META}`, [
    projectId,
    path,
  ]);
}

/** Every file below `dir`, path order. */
export async function filesBelow(db: Queryable, projectId: string, dir: string): Promise<FileRow[]> {
  const res = await db.query<FileRow>(
    `SELECT ${META} FROM files WHERE project_id = $1 AND path >= $2 AND path < $3 ORDER BY path`,
    [projectId, `${dir}/`, `${dir}0`],
  );
  return res.rows;
}

export async function deleteBelow(db: Queryable, projectId: string, dir: string): Promise<void> {
  await db.query('DELETE FROM files WHERE project_id = $1 AND path >= $2 AND path < $3', [
    projectId,
    `${dir}/`,
    `${dir}0`,
  ]);
}

/** Renames files (`from[i]` → `to[i]`) and stamps them with `version`. */
export async function renameFiles(
  db: Queryable,
  projectId: string,
  from: string[],
  to: string[],
  version: number,
): Promise<FileRow[]> {
  const res = await db.query<FileRow>(
    `UPDATE files f SET path = m.dst, version = $4, updated_at = now()
     FROM unnest($2::text[], $3::text[]) AS m(src, dst)
     WHERE f.project_id = $1 AND f.path = m.src COLLATE "C"
     RETURNING f.path, f.size, f.content_hash, f.version, f.updated_at`,
    [projectId, from, to, version],
  );
  return res.rows;
}

/** A project's files (metadata), path order; only those below `dir` when given. */
export async function listFiles(db: Queryable, projectId: string, dir?: string): Promise<FileRow[]> {
  if (dir === undefined) {
    const res = await db.query<FileRow>(`SELECT ${META} FROM files WHERE project_id = $1 ORDER BY path`, [
      projectId,
    ]);
    return res.rows;
  }
  return filesBelow(db, projectId, dir);
}

export interface ReadRow extends Partial<FileRow> {
  project: string;
  content: Buffer | null;
}

/**
 * One round trip for a read: the project (owned by `ownerId` when given), the file if any, and
 * its content unless its hash is in `unlessHashes` (a conditional GET that will answer 304).
 * No row: no such project (for this owner); a row without `path`: no such file.
 */
export async function readFile(
  db: Queryable,
  projectId: string,
  ownerId: string | null,
  path: string,
  unlessHashes: string[],
): Promise<ReadRow | undefined> {
  return one<ReadRow>(
    db,
    `SELECT p.id AS project, f.path, f.size, f.content_hash, f.version, f.updated_at,
            CASE WHEN f.content_hash = ANY($4::text[]) THEN NULL ELSE f.content END AS content
     FROM projects p LEFT JOIN files f ON f.project_id = p.id AND f.path = $3
     WHERE p.id = $1 AND ($2::uuid IS NULL OR p.owner_id = $2)`,
    [projectId, ownerId, path, unlessHashes],
  );
}

/** Every file with its content, path order (a project is bounded by its quota). */
export async function allContents(
  db: Queryable,
  projectId: string,
): Promise<{ path: string; content: Buffer }[]> {
  const res = await db.query<{ path: string; content: Buffer }>(
    'SELECT path, content FROM files WHERE project_id = $1 ORDER BY path',
    [projectId],
  );
  return res.rows;
}

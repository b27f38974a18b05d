import type { Database } from '../../db/pool.ts';
import { AppError } from '../../errors.ts';
import type { EventsService } from '../events/index.ts';
import { conflict, fileNotFound, type VfsChecks } from './vfs.checks.ts';
import { type FileEntry, toEntry } from './vfs.entry.ts';
import { within } from './vfs.paths.ts';
import * as repo from './vfs.repo.ts';

export interface MoveDeps {
  db: Database;
  events: EventsService;
  checks: VfsChecks;
  normalise: (path: string) => string;
}

/**
 * Moves a file, or a directory with everything below it; returns the moved files at their
 * new paths. `overwrite` lets a file replace a file already at `to` (else 409).
 */
export async function moveAny(
  { db, events, checks, normalise }: MoveDeps,
  projectId: string,
  rawFrom: string,
  rawTo: string,
  opts: { overwrite?: boolean } = {},
): Promise<{ directory: boolean; files: FileEntry[] }> {
  const from = normalise(rawFrom);
  const to = normalise(rawTo);
  if (from === to) {
    throw new AppError('VALIDATION_FAILED', {
      detail: 'body /to: must differ from from',
      extensions: { errors: [{ in: 'body', path: '/to', message: 'must differ from from' }] },
    });
  }
  return db.transaction(async (tx) => {
    await checks.locked(tx, projectId);
    const file = await repo.fileMeta(tx, projectId, from);
    if (file) {
      const target = await repo.fileMeta(tx, projectId, to);
      if (target && !opts.overwrite) throw conflict(`A file exists at ${to}.`, to);
      if (target) await repo.deleteFile(tx, projectId, to);
      else await checks.ensureNoConflict(tx, projectId, to, from);
      const revision = await repo.bumpRevision(tx, projectId, -(target?.size ?? 0), target ? -1 : 0);
      const [row] = await repo.renameFiles(tx, projectId, [from], [to], revision);
      const entry = toEntry(row as repo.FileRow);
      await events.publish(tx, projectId, 'file.changed', { change: 'moved', from, ...entry });
      return { directory: false, files: [entry] };
    }
    const below = await repo.filesBelow(tx, projectId, from);
    if (below.length === 0) throw fileNotFound(from);
    if (within(to, from)) throw conflict(`${from} cannot move into itself.`, to);
    if (await repo.fileMeta(tx, projectId, to)) throw conflict(`A file exists at ${to}.`, to);
    await checks.ensureNoConflict(tx, projectId, to, null);
    // Each new path must itself be valid: a deeper destination can break the limits.
    const targets = below.map((f) => normalise(`${to}${f.path.slice(from.length)}`));
    const revision = await repo.bumpRevision(tx, projectId, 0, 0);
    const rows = await repo.renameFiles(
      tx,
      projectId,
      below.map((f) => f.path),
      targets,
      revision,
    );
    const files = rows.map(toEntry).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    await events.publish(tx, projectId, 'file.changed', {
      change: 'moved',
      from,
      path: to,
      directory: true,
      files: files.length,
      version: revision,
    });
    return { directory: true, files };
  });
}

import type { Config } from '../../config.ts';
import type { Database } from '../../db/pool.ts';
import { AppError } from '../../errors.ts';
import { contentHash } from '../../native/xxhash.ts';
import type { EventsService } from '../events/index.ts';
import { lockOwner } from './projects.repo.ts';
import { fileNotFound, precondition, projectNotFound, vfsChecks } from './vfs.checks.ts';
import { etagOf, ifMatchHolds, ifNoneMatchHolds, noneMatchHashes } from './vfs.conditions.ts';
import { type FileEntry, toEntry } from './vfs.entry.ts';
import { moveAny } from './vfs.move.ts';
import { normalisePath, type PathLimits } from './vfs.paths.ts';
import * as repo from './vfs.repo.ts';

export type { FileEntry } from './vfs.entry.ts';

/** Preconditions as HTTP sends them (`"hash"`, `W/"hash"`, lists, `*`); bare hashes are accepted too. */
export interface WriteConditions {
  ifMatch?: string;
  ifNoneMatch?: string;
}

export interface VfsDeps {
  db: Database;
  config: Config;
  events: EventsService;
}

/**
 * The project's files. Content lives in Postgres (files are small and every host sees the same
 * bytes). Every change is one transaction that locks the project row, checks preconditions,
 * quota and path conflicts against settled state, bumps the project revision, and publishes
 * `file.changed` in the same transaction, so an event exists exactly when its change does.
 */
export function createVfsService({ db, config, events }: VfsDeps) {
  const limits: PathLimits = { maxBytes: config.VFS_MAX_PATH_BYTES, maxDepth: config.VFS_MAX_PATH_DEPTH };
  const normalise = (path: string) => normalisePath(path, limits);
  const checks = vfsChecks(config);
  const { locked, ensureNoConflict, quotaCheck, ownerQuotaCheck } = checks;
  const move = (projectId: string, from: string, to: string, opts: { overwrite?: boolean } = {}) =>
    moveAny({ db, events, checks, normalise }, projectId, from, to, opts);

  const read = async (projectId: string, ownerId: string | null, rawPath: string, unless: string[]) => {
    const path = normalise(rawPath);
    const row = await repo.readFile(db, projectId, ownerId, path, unless);
    if (!row) throw projectNotFound();
    if (row.path === undefined || row.path === null) throw fileNotFound(path);
    return { entry: toEntry(row as repo.FileRow), content: row.content };
  };

  return {
    normalise,

    /** Every file of the project (metadata), path order; only those below `dir` when given. */
    async list(projectId: string, dir?: string): Promise<FileEntry[]> {
      return (await repo.listFiles(db, projectId, dir === undefined ? undefined : normalise(dir))).map(
        toEntry,
      );
    },

    async read(projectId: string, path: string): Promise<{ entry: FileEntry; content: Buffer }> {
      const { entry, content } = await read(projectId, null, path, []);
      return { entry, content: content ?? Buffer.alloc(0) };
    },

    /**
     * A read on behalf of `ownerId` (another user's project is NOT_FOUND) that skips the
     * content when its hash is among `ifNoneMatch`'s: `content` is null, answer 304.
     */
    async readIfChanged(
      ownerId: string,
      projectId: string,
      path: string,
      ifNoneMatch: string | undefined,
    ): Promise<{ entry: FileEntry; content: Buffer | null }> {
      const tags = noneMatchHashes(ifNoneMatch);
      const got = await read(projectId, ownerId, path, tags === '*' ? [] : tags);
      // `*` matches any current file; the content was fetched but is not needed.
      return tags === '*' ? { entry: got.entry, content: null } : got;
    },

    /** Creates or replaces a file; `created` tells which. Writing the same bytes changes nothing. */
    async write(
      projectId: string,
      rawPath: string,
      content: Buffer,
      cond: WriteConditions = {},
    ): Promise<{ entry: FileEntry; created: boolean }> {
      const path = normalise(rawPath);
      if (content.length > config.VFS_MAX_FILE_BYTES) {
        throw new AppError('PAYLOAD_TOO_LARGE', {
          detail: `A file is limited to ${config.VFS_MAX_FILE_BYTES} bytes.`,
          extensions: { limit: config.VFS_MAX_FILE_BYTES },
        });
      }
      const hash = contentHash(content);
      return db.transaction(async (tx) => {
        // Any write may grow the owner's total: every one takes the owner's lock, then the project's.
        const ownerId = content.length > 0 ? await lockOwner(tx, 'project', projectId) : undefined;
        const usage = await locked(tx, projectId);
        const current = await repo.fileMeta(tx, projectId, path);
        if (cond.ifMatch !== undefined && !ifMatchHolds(cond.ifMatch, current?.content_hash)) {
          throw precondition(
            current
              ? `${path} has changed (its ETag is now ${etagOf(current.content_hash)}).`
              : `No file at ${path}.`,
          );
        }
        if (cond.ifNoneMatch !== undefined && !ifNoneMatchHolds(cond.ifNoneMatch, current?.content_hash)) {
          throw precondition(`${path} already exists.`);
        }
        if (!current) await ensureNoConflict(tx, projectId, path, null);
        quotaCheck(usage, content.length - (current?.size ?? 0), current ? 0 : 1);
        if (ownerId) await ownerQuotaCheck(tx, ownerId, content.length - (current?.size ?? 0));
        if (
          current &&
          current.content_hash === hash &&
          current.size === content.length &&
          (await repo.sameContent(tx, projectId, path, content))
        ) {
          return { entry: toEntry(current), created: false };
        }
        const revision = await repo.bumpRevision(
          tx,
          projectId,
          content.length - (current?.size ?? 0),
          current ? 0 : 1,
        );
        const entry = toEntry(await repo.upsertFile(tx, projectId, path, content, hash, revision));
        await events.publish(tx, projectId, 'file.changed', {
          change: current ? 'updated' : 'created',
          ...entry,
        });
        return { entry, created: !current };
      });
    },

    /** Deletes a file; with `recursive`, a directory (every file below the path) instead. */
    async remove(
      projectId: string,
      rawPath: string,
      cond: { ifMatch?: string; recursive?: boolean } = {},
    ): Promise<void> {
      const path = normalise(rawPath);
      await db.transaction(async (tx) => {
        await locked(tx, projectId);
        const current = await repo.fileMeta(tx, projectId, path);
        if (!current) {
          const below = cond.recursive ? await repo.filesBelow(tx, projectId, path) : [];
          if (below.length === 0) throw fileNotFound(path);
          if (cond.ifMatch !== undefined) throw precondition(`${path} is a directory; it has no ETag.`);
          const bytes = below.reduce((n, f) => n + f.size, 0);
          await repo.deleteBelow(tx, projectId, path);
          const revision = await repo.bumpRevision(tx, projectId, -bytes, -below.length);
          await events.publish(tx, projectId, 'file.changed', {
            change: 'deleted',
            path,
            directory: true,
            files: below.length,
            version: revision,
          });
          return;
        }
        if (cond.ifMatch !== undefined && !ifMatchHolds(cond.ifMatch, current.content_hash)) {
          throw precondition(`${path} has changed (its ETag is now ${etagOf(current.content_hash)}).`);
        }
        await repo.deleteFile(tx, projectId, path);
        const revision = await repo.bumpRevision(tx, projectId, -current.size, -1);
        await events.publish(tx, projectId, 'file.changed', { change: 'deleted', path, version: revision });
      });
    },

    /** Moves a file; `overwrite` replaces a file already at `to` (else 409). For files only. */
    async move(
      projectId: string,
      from: string,
      to: string,
      opts: { overwrite?: boolean } = {},
    ): Promise<FileEntry> {
      const moved = await move(projectId, from, to, opts);
      if (moved.directory) throw fileNotFound(normalise(from));
      return moved.files[0] as FileEntry;
    },

    moveAny: move,

    /** Every text file's content (UTF-8; binary files are left out), for search. */
    async contents(projectId: string): Promise<{ path: string; content: string }[]> {
      const decoder = new TextDecoder('utf-8', { fatal: true });
      const out: { path: string; content: string }[] = [];
      for (const f of await repo.allContents(db, projectId)) {
        if (f.content.includes(0)) continue;
        try {
          out.push({ path: f.path, content: decoder.decode(f.content) });
        } catch {
          // Not UTF-8: binary.
        }
      }
      return out;
    },
  };
}

export type VfsService = ReturnType<typeof createVfsService>;

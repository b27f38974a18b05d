import type { Config } from '../../config.ts';
import type { Database, Queryable } from '../../db/pool.ts';
import { AppError } from '../../errors.ts';
import { contentHash } from '../../native/xxhash.ts';
import type { EventsService } from '../events/events.service.ts';
import { lockOwner, ownerUsage } from './projects.repo.ts';
import { ancestors, normalisePath, type PathLimits, within } from './vfs.paths.ts';
import * as repo from './vfs.repo.ts';

export interface FileEntry {
  path: string;
  size: number;
  /** 64-bit xxHash of the content (src/native/xxhash.ts), 16 hex digits; the ETag is this in quotes. */
  contentHash: string;
  /** The project revision that last changed this file. */
  version: number;
  updatedAt: string;
}

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

function toEntry(r: repo.FileRow): FileEntry {
  return {
    path: r.path,
    size: r.size,
    contentHash: r.content_hash,
    version: Number(r.version),
    updatedAt: r.updated_at.toISOString(),
  };
}

/** The entity tag of a file: its content hash, quoted. */
export function etagOf(hash: string): string {
  return `"${hash}"`;
}

interface Tag {
  weak: boolean;
  hash: string;
}

function parseTags(header: string): Tag[] | '*' {
  if (header.trim() === '*') return '*';
  return header
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean)
    .map((t) => {
      const weak = t.startsWith('W/');
      const bare = weak ? t.slice(2) : t;
      return { weak, hash: bare.startsWith('"') && bare.endsWith('"') ? bare.slice(1, -1) : bare };
    });
}

/** If-Match: strong comparison (RFC 9110 §13.1.1); `*` holds when the file exists. */
export function ifMatchHolds(header: string, current: string | undefined): boolean {
  const tags = parseTags(header);
  if (current === undefined) return false;
  return tags === '*' || tags.some((t) => !t.weak && t.hash === current);
}

/** If-None-Match: weak comparison (RFC 9110 §13.1.2); `*` fails when the file exists. */
export function ifNoneMatchHolds(header: string, current: string | undefined): boolean {
  const tags = parseTags(header);
  if (current === undefined) return true;
  return tags !== '*' && !tags.some((t) => t.hash === current);
}

/** The hashes an If-None-Match names (for a conditional read); `*` names every one. */
export function noneMatchHashes(header: string | undefined): string[] | '*' {
  if (!header) return [];
  const tags = parseTags(header);
  return tags === '*' ? '*' : tags.map((t) => t.hash);
}

function precondition(detail: string): AppError {
  return new AppError('PRECONDITION_FAILED', { detail });
}

function fileNotFound(path: string): AppError {
  return new AppError('NOT_FOUND', { detail: `No file at ${path}.`, extensions: { path } });
}

function projectNotFound(): AppError {
  return new AppError('NOT_FOUND', { detail: 'No such project.' });
}

function conflict(detail: string, path: string): AppError {
  return new AppError('CONFLICT', { detail, extensions: { path } });
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

  const locked = async (tx: Queryable, projectId: string) => {
    const usage = await repo.lockProject(tx, projectId);
    if (!usage) throw projectNotFound();
    return { files: usage.file_count, bytes: Number(usage.total_bytes) };
  };

  const ensureNoConflict = async (tx: Queryable, projectId: string, path: string, except: string | null) => {
    const clash = await repo.pathConflict(tx, projectId, path, ancestors(path), except);
    if (clash === undefined) return;
    throw within(path, clash)
      ? conflict(`${clash} is a file, so it cannot hold ${path}.`, path)
      : conflict(`${path} is a directory (it holds ${clash}).`, path);
  };

  const quotaCheck = (usage: { files: number; bytes: number }, deltaBytes: number, deltaFiles: number) => {
    if (deltaFiles > 0 && usage.files + deltaFiles > config.VFS_MAX_FILES) {
      throw new AppError('QUOTA_EXCEEDED', {
        detail: `A project holds at most ${config.VFS_MAX_FILES} files.`,
        extensions: { limit: config.VFS_MAX_FILES, used: usage.files, kind: 'files' },
      });
    }
    // Writes that shrink a project are always allowed, even one over a since-lowered quota.
    if (deltaBytes > 0 && usage.bytes + deltaBytes > config.VFS_QUOTA_BYTES) {
      throw new AppError('QUOTA_EXCEEDED', {
        detail: `The project would exceed its quota of ${config.VFS_QUOTA_BYTES} bytes.`,
        extensions: { limit: config.VFS_QUOTA_BYTES, used: usage.bytes, kind: 'bytes' },
      });
    }
  };

  // The owner's files across all their projects, checked under the owner's row lock (taken
  // first, before the project's, as project creation and account deletion take it too).
  const ownerQuotaCheck = async (tx: Queryable, ownerId: string, deltaBytes: number) => {
    if (deltaBytes <= 0) return;
    const { bytes } = await ownerUsage(tx, ownerId);
    if (bytes + deltaBytes > config.USER_QUOTA_BYTES) {
      throw new AppError('QUOTA_EXCEEDED', {
        detail: `Your projects would exceed your quota of ${config.USER_QUOTA_BYTES} bytes.`,
        extensions: { limit: config.USER_QUOTA_BYTES, used: bytes, kind: 'userBytes' },
      });
    }
  };

  const read = async (projectId: string, ownerId: string | null, rawPath: string, unless: string[]) => {
    const path = normalise(rawPath);
    const row = await repo.readFile(db, projectId, ownerId, path, unless);
    if (!row) throw projectNotFound();
    if (row.path === undefined || row.path === null) throw fileNotFound(path);
    return { entry: toEntry(row as repo.FileRow), content: row.content };
  };

  /**
   * Moves a file, or a directory with everything below it; returns the moved files at their
   * new paths. `overwrite` lets a file replace a file already at `to` (else 409).
   */
  const moveAny = async (
    projectId: string,
    rawFrom: string,
    rawTo: string,
    opts: { overwrite?: boolean } = {},
  ): Promise<{ directory: boolean; files: FileEntry[] }> => {
    const from = normalise(rawFrom);
    const to = normalise(rawTo);
    if (from === to) {
      throw new AppError('VALIDATION_FAILED', {
        detail: 'body /to: must differ from from',
        extensions: { errors: [{ in: 'body', path: '/to', message: 'must differ from from' }] },
      });
    }
    return db.transaction(async (tx) => {
      await locked(tx, projectId);
      const file = await repo.fileMeta(tx, projectId, from);
      if (file) {
        const target = await repo.fileMeta(tx, projectId, to);
        if (target && !opts.overwrite) throw conflict(`A file exists at ${to}.`, to);
        if (target) await repo.deleteFile(tx, projectId, to);
        else await ensureNoConflict(tx, projectId, to, from);
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
      await ensureNoConflict(tx, projectId, to, null);
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
      const moved = await moveAny(projectId, from, to, opts);
      if (moved.directory) throw fileNotFound(normalise(from));
      return moved.files[0] as FileEntry;
    },

    moveAny,

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

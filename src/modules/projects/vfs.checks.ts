import type { Config } from '../../config.ts';
import type { Queryable } from '../../db/pool.ts';
import { AppError } from '../../errors.ts';
import { ownerUsage } from './projects.repo.ts';
import { ancestors, within } from './vfs.paths.ts';
import * as repo from './vfs.repo.ts';

// The checks every change to a project's files makes inside its transaction, and the errors
// they answer with.

export function precondition(detail: string): AppError {
  return new AppError('PRECONDITION_FAILED', { detail });
}

export function fileNotFound(path: string): AppError {
  return new AppError('NOT_FOUND', { detail: `No file at ${path}.`, extensions: { path } });
}

export function projectNotFound(): AppError {
  return new AppError('NOT_FOUND', { detail: 'No such project.' });
}

export function conflict(detail: string, path: string): AppError {
  return new AppError('CONFLICT', { detail, extensions: { path } });
}

/** The checks, bound to the limits in `config`. */
export function vfsChecks(config: Config) {
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

  return { locked, ensureNoConflict, quotaCheck, ownerQuotaCheck };
}

export type VfsChecks = ReturnType<typeof vfsChecks>;

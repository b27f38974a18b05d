import type * as repo from './vfs.repo.ts';

/** A file as the API describes it (no content). */
export interface FileEntry {
  path: string;
  size: number;
  /** 64-bit xxHash of the content (src/native/xxhash.ts), 16 hex digits; the ETag is this in quotes. */
  contentHash: string;
  /** The project revision that last changed this file. */
  version: number;
  updatedAt: string;
}

export function toEntry(r: repo.FileRow): FileEntry {
  return {
    path: r.path,
    size: r.size,
    contentHash: r.content_hash,
    version: Number(r.version),
    updatedAt: r.updated_at.toISOString(),
  };
}

import type { Database } from '../../db/pool.ts';
import { AppError } from '../../errors.ts';
import { statsHistory, validatedBlocks } from './rig.repo.ts';

export interface BlockItem {
  height: number;
  hash: string;
  foundAt: string;
  validatedAt: string;
  difficulty: number | null;
}

function badCursor(): AppError {
  return new AppError('VALIDATION_FAILED', {
    detail: 'query /cursor: not a cursor this service issued',
    extensions: { errors: [{ in: 'query', path: '/cursor', message: 'not a cursor this service issued' }] },
  });
}

// A cursor is the (height, hash) of the last item of a page, opaque to clients.
function encodeCursor(height: string, hash: string): string {
  return Buffer.from(JSON.stringify([height, hash])).toString('base64url');
}

function decodeCursor(cursor: string): { height: string; hash: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw badCursor();
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 2 ||
    typeof parsed[0] !== 'string' ||
    !/^\d{1,18}$/.test(parsed[0]) ||
    typeof parsed[1] !== 'string' ||
    parsed[1].length > 200
  ) {
    throw badCursor();
  }
  return { height: parsed[0], hash: parsed[1] };
}

/** One keyset page of validated blocks, newest first. */
export async function blocksPage(
  db: Database,
  limit: number,
  cursor: string | undefined,
): Promise<{ items: BlockItem[]; nextCursor: string | null }> {
  const rows = await validatedBlocks(db, limit + 1, cursor ? decodeCursor(cursor) : undefined);
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    items: page.map((r) => ({
      height: Number(r.height),
      hash: r.hash,
      foundAt: r.found_at.toISOString(),
      validatedAt: (r.validated_at as Date).toISOString(),
      difficulty: r.difficulty === null ? null : Number(r.difficulty),
    })),
    nextCursor: rows.length > limit && last ? encodeCursor(last.height, last.hash) : null,
  };
}

const MAX_POINTS = 10_000;

function badRange(path: string, message: string): AppError {
  return new AppError('VALIDATION_FAILED', {
    detail: `query ${path}: ${message}`,
    extensions: { errors: [{ in: 'query', path, message }] },
  });
}

/** The persisted stats series between `from` and `to` (default: the last hour), in `step` buckets. */
export async function history(db: Database, q: { from?: string; to?: string; step: number }) {
  const to = q.to ? new Date(q.to) : new Date();
  const from = q.from ? new Date(q.from) : new Date(to.getTime() - 3600_000);
  if (from >= to) throw badRange('/from', 'must be before to');
  if ((to.getTime() - from.getTime()) / 1000 / q.step > MAX_POINTS) {
    throw badRange('/step', `too small for this range (at most ${MAX_POINTS} points)`);
  }
  const rows = await statsHistory(db, from, to, q.step);
  return {
    from: from.toISOString(),
    to: to.toISOString(),
    step: q.step,
    points: rows.map((r) => ({
      at: r.at.toISOString(),
      hashrate: Math.round(Number(r.hashrate)),
      shares: { accepted: Number(r.accepted), rejected: Number(r.rejected), stale: Number(r.stale) },
    })),
  };
}

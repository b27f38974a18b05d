import type { Database } from '../../db/pool.ts';
import { AppError } from '../../errors.ts';
import { cursorPart, decodeCursor, encodeCursor } from '../../http/cursor.ts';
import {
  foundBlocks,
  minerEvents,
  statsHistory,
  streamStatsSamples,
  streamValidatedBlocks,
  validatedBlocks,
} from './rig.repo.ts';

export interface BlockItem {
  height: number;
  hash: string;
  foundAt: string;
  validatedAt: string;
  difficulty: number | null;
}

function blockCursor(cursor: string): { height: string; hash: string } {
  const [height, hash] = decodeCursor(cursor, (h, x) => cursorPart.integer(h) && cursorPart.text(200)(x));
  return { height, hash };
}

/** One keyset page of validated blocks, newest first. */
export async function blocksPage(
  db: Database,
  limit: number,
  cursor: string | undefined,
): Promise<{ items: BlockItem[]; nextCursor: string | null }> {
  const rows = await validatedBlocks(db, limit + 1, cursor ? blockCursor(cursor) : undefined);
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    items: page.map((r) => ({
      height: Number(r.height),
      hash: r.hash,
      foundAt: r.found_at,
      validatedAt: r.validated_at,
      difficulty: r.difficulty === null ? null : Number(r.difficulty),
    })),
    nextCursor: rows.length > limit && last ? encodeCursor(last.height, last.hash) : null,
  };
}

const MAX_POINTS = 10_000;
/** Most miner events and found blocks one history carries: the newest, when there are more. */
const MAX_MARKS = 1000;

function badRange(path: string, message: string): AppError {
  return new AppError('VALIDATION_FAILED', {
    detail: `query ${path}: ${message}`,
    extensions: { errors: [{ in: 'query', path, message }] },
  });
}

// The schema's date-time format admits what Date cannot represent (a leap second, `23:59:60`).
function instant(path: string, value: string): Date {
  const at = new Date(value);
  if (Number.isNaN(at.getTime())) throw badRange(path, 'must be a date-time that can be represented');
  return at;
}

/**
 * The persisted stats series between `from` and `to` (default: the last hour), in `step` buckets
 * with each GPU's averages, and the miner's state changes and the blocks found in the range.
 */
export async function history(db: Database, q: { from?: string; to?: string; step: number }) {
  const to = q.to ? instant('/to', q.to) : new Date();
  const from = q.from ? instant('/from', q.from) : new Date(to.getTime() - 3600_000);
  if (from >= to) throw badRange('/from', 'must be before to');
  if ((to.getTime() - from.getTime()) / 1000 / q.step > MAX_POINTS) {
    throw badRange('/step', `too small for this range (at most ${MAX_POINTS} points)`);
  }
  // One after the other: a history holds one pooled client at a time, however many ask for it.
  const rows = await statsHistory(db, from, to, q.step);
  const events = await minerEvents(db, from, to, MAX_MARKS);
  const blocks = await foundBlocks(db, from, to, MAX_MARKS);
  return {
    from: from.toISOString(),
    to: to.toISOString(),
    step: q.step,
    points: rows.map((r) => ({
      at: r.at.toISOString(),
      hashrate: Math.round(Number(r.hashrate)),
      shares: { accepted: Number(r.accepted), rejected: Number(r.rejected), stale: Number(r.stale) },
      gpus: r.gpus,
    })),
    events: events.map((e) => ({
      at: e.at,
      state: e.state,
      restarts: e.restarts,
      // The exit belongs to the states an exit leads to; the recorder stores it only with them.
      exit:
        e.state === 'crashed' || e.state === 'stopped' ? { code: e.exit_code, signal: e.exit_signal } : null,
    })),
    blocks: blocks.map((b) => ({
      height: Number(b.height),
      hash: b.hash,
      foundAt: b.found_at,
      validatedAt: b.validated_at,
    })),
  };
}

/** The stats samples in [from, to) (the whole series when neither is given), as a row stream. */
export function statsSamples(db: Database, q: { from?: string; to?: string }) {
  const from = q.from ? instant('/from', q.from) : new Date(0);
  const to = q.to ? instant('/to', q.to) : new Date(8.64e15);
  return streamStatsSamples(db, from, to);
}

/** The validated blocks found in [from, to) (every one when neither is given), newest first, as a row stream. */
export function validatedBlocksFound(db: Database, q: { from?: string; to?: string }) {
  const from = q.from ? instant('/from', q.from) : '-infinity';
  const to = q.to ? instant('/to', q.to) : 'infinity';
  return streamValidatedBlocks(db, from, to);
}

import { type Database, one, type Queryable } from '../../db/pool.ts';
import type { MinerBlock, StatsSnapshot } from './miner.protocol.ts';

export interface BlockRow {
  height: string;
  hash: string;
  difficulty: string | null;
  found_at: Date;
  validated_at: Date | null;
}

export async function insertFoundBlock(db: Queryable, b: MinerBlock): Promise<void> {
  await db.query(
    `INSERT INTO blocks (hash, height, difficulty, found_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT (hash) DO NOTHING`,
    [b.hash, b.height, b.difficulty, b.foundAt],
  );
}

export async function pendingBlocks(db: Queryable, limit: number): Promise<{ hash: string }[]> {
  const res = await db.query<{ hash: string }>(
    'SELECT hash FROM blocks WHERE validated_at IS NULL ORDER BY found_at LIMIT $1',
    [limit],
  );
  return res.rows;
}

export async function markValidated(db: Queryable, hash: string): Promise<BlockRow | undefined> {
  return one<BlockRow>(
    db,
    `UPDATE blocks SET validated_at = now(), attempts = attempts + 1, last_error = NULL
     WHERE hash = $1 AND validated_at IS NULL
     RETURNING height, hash, difficulty, found_at, validated_at`,
    [hash],
  );
}

export async function markAttempt(db: Queryable, hash: string, error: string): Promise<void> {
  await db.query('UPDATE blocks SET attempts = attempts + 1, last_error = $2 WHERE hash = $1', [hash, error]);
}

/** A validated block as a page lists it: times already in the API's ISO 8601 form. */
export interface ValidatedBlockRow {
  height: string;
  hash: string;
  difficulty: string | null;
  found_at: string;
  validated_at: string;
}

// Postgres writes the times as JavaScript's toISOString would (UTC, milliseconds, `Z`): parsing
// each into a Date and formatting it again was a fifth of a worker's CPU on a page of 50
// (`profiles/blocks`, issue 12).
const isoUtc = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
const PAGE_COLUMNS = `height, hash, difficulty, ${isoUtc('found_at')} AS found_at, ${isoUtc('validated_at')} AS validated_at`;

/** Validated blocks, newest first, after the keyset position (height, hash) when given. */
export async function validatedBlocks(
  db: Queryable,
  limit: number,
  after: { height: string; hash: string } | undefined,
): Promise<ValidatedBlockRow[]> {
  const res = after
    ? await db.query<ValidatedBlockRow>(
        `SELECT ${PAGE_COLUMNS} FROM blocks
         WHERE validated_at IS NOT NULL AND (height, hash) < ($1::bigint, $2)
         ORDER BY height DESC, hash DESC LIMIT $3`,
        [after.height, after.hash, limit],
      )
    : await db.query<ValidatedBlockRow>(
        `SELECT ${PAGE_COLUMNS} FROM blocks
         WHERE validated_at IS NOT NULL ORDER BY height DESC, hash DESC LIMIT $1`,
        [limit],
      );
  return res.rows;
}

export async function insertStatsSample(db: Queryable, host: string, s: StatsSnapshot): Promise<void> {
  await db.query(
    `INSERT INTO stats_samples (at, host, hashrate, accepted, rejected, stale, gpus)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
    [
      s.updatedAt,
      host,
      s.hashrate.current,
      s.shares.accepted,
      s.shares.rejected,
      s.shares.stale,
      JSON.stringify(s.gpus),
    ],
  );
}

export interface StatsPointRow {
  at: Date;
  hashrate: number;
  accepted: string;
  rejected: string;
  stale: string;
}

/** Samples averaged (hashrate) or maxed (share counters) into `stepSeconds` buckets. */
export async function statsHistory(
  db: Queryable,
  from: Date,
  to: Date,
  stepSeconds: number,
): Promise<StatsPointRow[]> {
  const res = await db.query<StatsPointRow>(
    `SELECT date_bin(make_interval(secs => $3), at, $1::timestamptz) AS at,
            avg(hashrate) AS hashrate, max(accepted) AS accepted, max(rejected) AS rejected, max(stale) AS stale
     FROM stats_samples WHERE at >= $1 AND at < $2
     GROUP BY 1 ORDER BY 1`,
    [from, to, stepSeconds],
  );
  return res.rows;
}

/** Every stats sample in [from, to), oldest first, as a row stream. */
export function streamStatsSamples(db: Database, from: Date, to: Date) {
  return db.stream(
    `SELECT at, host, hashrate, accepted, rejected, stale, gpus FROM stats_samples
     WHERE at >= $1 AND at < $2 ORDER BY at, host`,
    [from, to],
  );
}

/** Every validated block, newest first, as a row stream. */
export function streamValidatedBlocks(db: Database) {
  return db.stream(
    `SELECT height, hash, difficulty, found_at, validated_at FROM blocks
     WHERE validated_at IS NOT NULL ORDER BY height DESC, hash DESC`,
    [],
  );
}

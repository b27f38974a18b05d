import { type Database, one, type Queryable } from '../../db/pool.ts';
import type { MinerBlock, MinerStatus, StatsSnapshot } from './miner.protocol.ts';

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
  /** Per GPU index, its averages over the bucket's samples, by index; numbers as JSON numbers. */
  gpus: { index: number; hashrate: number; temperatureC: number }[];
}

// A GPU's reading counts only when its index is an integer and its hashrate and temperature are
// numbers: whatever else a row holds (hand-written, another miner's) must not fail the history.
// CASE, because Postgres may evaluate the operands of AND in any order (and the cast would fail).
const GPU_READING = `CASE WHEN jsonb_typeof(g->'index') = 'number' AND jsonb_typeof(g->'hashrate') = 'number'
    AND jsonb_typeof(g->'temperatureC') = 'number'
  THEN (g->>'index')::numeric BETWEEN 0 AND 2147483647
    AND (g->>'index')::numeric = trunc((g->>'index')::numeric)
  ELSE false END`;

/**
 * Samples averaged (hashrate) or maxed (share counters) into `stepSeconds` buckets, with each
 * GPU's hashrate (rounded) and temperature (to a tenth) averaged per bucket, in exact numerics.
 */
export async function statsHistory(
  db: Queryable,
  from: Date,
  to: Date,
  stepSeconds: number,
): Promise<StatsPointRow[]> {
  const res = await db.query<StatsPointRow>(
    `WITH s AS (
       SELECT date_bin(make_interval(secs => $3), at, $1::timestamptz) AS at,
              hashrate, accepted, rejected, stale, gpus
       FROM stats_samples WHERE at >= $1 AND at < $2
     ), points AS (
       SELECT at, avg(hashrate) AS hashrate, max(accepted) AS accepted, max(rejected) AS rejected,
              max(stale) AS stale
       FROM s GROUP BY at
     ), per_gpu AS (
       SELECT s.at, (g->>'index')::int AS index, round(avg((g->>'hashrate')::numeric)) AS hashrate,
              round(avg((g->>'temperatureC')::numeric), 1) AS temperature_c
       FROM s CROSS JOIN LATERAL jsonb_array_elements(
         CASE WHEN jsonb_typeof(s.gpus) = 'array' THEN s.gpus ELSE '[]'::jsonb END) AS g
       WHERE ${GPU_READING}
       GROUP BY 1, 2
     ), gpus AS (
       SELECT at, json_agg(json_build_object('index', index, 'hashrate', hashrate,
                                             'temperatureC', temperature_c) ORDER BY index) AS gpus
       FROM per_gpu GROUP BY at
     )
     SELECT points.*, coalesce(gpus.gpus, '[]'::json) AS gpus
     FROM points LEFT JOIN gpus USING (at) ORDER BY at`,
    [from, to, stepSeconds],
  );
  return res.rows;
}

export async function insertMinerEvent(db: Queryable, host: string, at: Date, s: MinerStatus): Promise<void> {
  const exit = s.state === 'crashed' || s.state === 'stopped' ? s.lastExit : null;
  await db.query(
    `INSERT INTO miner_events (at, host, state, restarts, exit_code, exit_signal)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [at, host, s.state, s.restarts, exit?.code ?? null, exit?.signal ?? null],
  );
}

export interface MinerEventRow {
  at: string;
  state: string;
  restarts: number;
  exit_code: number | null;
  exit_signal: string | null;
}

/** The miner's state changes in [from, to), oldest first: the newest `limit` when there are more. */
export async function minerEvents(
  db: Queryable,
  from: Date,
  to: Date,
  limit: number,
): Promise<MinerEventRow[]> {
  const res = await db.query<MinerEventRow>(
    `SELECT ${isoUtc('at')} AS at, state, restarts, exit_code, exit_signal FROM (
       SELECT id, at, state, restarts, exit_code, exit_signal FROM miner_events
       WHERE at >= $1 AND at < $2 ORDER BY at DESC, id DESC LIMIT $3
     ) newest ORDER BY newest.at, id`,
    [from, to, limit],
  );
  return res.rows;
}

export interface FoundBlockRow {
  height: string;
  hash: string;
  found_at: string;
  validated_at: string | null;
}

/** Blocks found in [from, to), validated or not, oldest first: the newest `limit` when there are more. */
export async function foundBlocks(
  db: Queryable,
  from: Date,
  to: Date,
  limit: number,
): Promise<FoundBlockRow[]> {
  const res = await db.query<FoundBlockRow>(
    `SELECT height, hash, ${isoUtc('found_at')} AS found_at, ${isoUtc('validated_at')} AS validated_at FROM (
       SELECT height, hash, found_at, validated_at FROM blocks
       WHERE found_at >= $1 AND found_at < $2 ORDER BY found_at DESC, hash DESC LIMIT $3
     ) newest ORDER BY newest.found_at, hash`,
    [from, to, limit],
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

/**
 * Every validated block found in [from, to) (a bound given as `-infinity`/`infinity` is open),
 * newest first, as a row stream.
 */
export function streamValidatedBlocks(db: Database, from: Date | string, to: Date | string) {
  return db.stream(
    `SELECT height, hash, difficulty, found_at, validated_at FROM blocks
     WHERE validated_at IS NOT NULL AND found_at >= $1::timestamptz AND found_at < $2::timestamptz
     ORDER BY height DESC, hash DESC`,
    [from, to],
  );
}

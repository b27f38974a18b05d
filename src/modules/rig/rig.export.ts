import http2 from 'node:http2';
import type { Readable } from 'node:stream';
import type { Request, Response } from 'express';
import { AppError } from '../../errors.ts';

export type ExportFormat = 'csv' | 'ndjson';
type Row = Record<string, unknown>;

export interface Column {
  name: string;
  value: (row: Row) => string | number | boolean | null | object;
}

const CHUNK_CHARS = 64 * 1024;
// What a refused export is told: exports are long, so a second is too eager.
const RETRY_AFTER_SECONDS = 5;

/**
 * How many exports this worker streams at once, in all and per user. Each holds one client of
 * the export pool for as long as its client reads, so more than the pool has are refused with
 * 429 at once instead of waiting for a connection (issue 11: unread exports queued up on, and
 * then held, every connection of the worker).
 */
export class ExportSlots {
  readonly #total: number;
  readonly #perUser: number;
  readonly #byUser = new Map<string, number>();
  #inUse = 0;

  constructor(total: number, perUser: number) {
    this.#total = total;
    this.#perUser = perUser;
  }

  /** Takes a slot for `userId` or throws 429; the returned function gives it back (once). */
  take(userId: string): () => void {
    const mine = this.#byUser.get(userId) ?? 0;
    if (mine >= this.#perUser || this.#inUse >= this.#total) {
      throw new AppError('TOO_MANY_REQUESTS', {
        detail:
          mine >= this.#perUser
            ? `At most ${this.#perUser} export${this.#perUser > 1 ? 's' : ''} per user at a time.`
            : 'This worker is streaming as many exports as it can; try again shortly.',
        headers: { 'Retry-After': String(RETRY_AFTER_SECONDS) },
      });
    }
    this.#inUse++;
    this.#byUser.set(userId, mine + 1);
    let given = false;
    return () => {
      if (given) return;
      given = true;
      this.#inUse--;
      const left = (this.#byUser.get(userId) ?? 1) - 1;
      if (left > 0) this.#byUser.set(userId, left);
      else this.#byUser.delete(userId);
    };
  }
}

// Ends a response its client stopped reading. HTTP/1.1: a reset, because a FIN would queue behind
// the unread bytes and never arrive; HTTP/2: the stream only, never the client's whole session.
function cutOff(res: Response): void {
  const stream = (res as unknown as { stream?: http2.ServerHttp2Stream }).stream;
  if (stream) stream.close(http2.constants.NGHTTP2_CANCEL);
  else res.socket?.resetAndDestroy();
  res.destroy();
}

function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = v instanceof Date ? v.toISOString() : typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

function line(format: ExportFormat, columns: readonly Column[], row: Row): string {
  if (format === 'csv') return `${columns.map((c) => csvField(c.value(row))).join(',')}\n`;
  const obj: Row = {};
  for (const c of columns) {
    const v = c.value(row);
    obj[c.name] = v instanceof Date ? v.toISOString() : v;
  }
  return `${JSON.stringify(obj)}\n`;
}

/**
 * Streams rows from a database cursor to the client as CSV or NDJSON, a line per row, waiting
 * for 'drain' whenever the response (or its compressor) is full, so memory stays flat however
 * many rows there are. A client that goes away stops the query; one that takes nothing for
 * `drainTimeoutMs` is cut off, which stops it too (and so gives its database client back).
 */
export async function streamExport(
  req: Request,
  res: Response,
  rows: Readable,
  columns: readonly Column[],
  name: string,
  format: ExportFormat,
  drainTimeoutMs: number,
): Promise<void> {
  res.status(200);
  res.type(format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson');
  res.attachment(`${name}.${format}`);
  const stop = () => rows.destroy();
  req.once('close', stop);
  // One 'drain' and one 'close' listener for the whole export, resolving whichever wait is
  // pending: a listener pair per wait (events.once in a race) left the loser attached every
  // time, thousands on a long export (MaxListenersExceededWarning in the lab). Through the
  // compression middleware 'drain' listeners land on the compressor, where `off` cannot reach.
  let wake: (() => void) | undefined;
  const onDrain = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  res.on('drain', onDrain);
  res.once('close', onDrain);
  const drained = () =>
    new Promise<void>((resolve) => {
      const stalled = setTimeout(() => {
        req.log.warn({ drainTimeoutMs }, 'export client stopped reading; cutting it off');
        cutOff(res);
        onDrain();
      }, drainTimeoutMs);
      wake = () => {
        clearTimeout(stalled);
        resolve();
      };
    });
  try {
    // Lines are gathered into chunks: one write per row would cost a compressor round trip each.
    let chunk = format === 'csv' ? `${columns.map((c) => c.name).join(',')}\n` : '';
    for await (const row of rows) {
      if (res.destroyed) break;
      chunk += line(format, columns, row as Row);
      if (chunk.length < CHUNK_CHARS) continue;
      const flushed = res.write(chunk);
      chunk = '';
      if (!flushed && !res.destroyed) await drained();
    }
    if (chunk && !res.destroyed) res.write(chunk);
  } finally {
    req.off('close', stop);
    res.off('close', onDrain);
    rows.destroy();
  }
  if (!res.destroyed) res.end();
}

export const statsColumns: Column[] = [
  { name: 'at', value: (r) => r.at as Date },
  { name: 'host', value: (r) => r.host as string },
  { name: 'hashrate', value: (r) => r.hashrate as number },
  { name: 'accepted', value: (r) => Number(r.accepted) },
  { name: 'rejected', value: (r) => Number(r.rejected) },
  { name: 'stale', value: (r) => Number(r.stale) },
  { name: 'gpus', value: (r) => r.gpus as object },
];

export const blockColumns: Column[] = [
  { name: 'height', value: (r) => Number(r.height) },
  { name: 'hash', value: (r) => r.hash as string },
  { name: 'difficulty', value: (r) => (r.difficulty === null ? null : Number(r.difficulty)) },
  { name: 'foundAt', value: (r) => r.found_at as Date },
  { name: 'validatedAt', value: (r) => r.validated_at as Date },
];

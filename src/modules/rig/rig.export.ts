import type { Readable } from 'node:stream';
import type { Request, Response } from 'express';

export type ExportFormat = 'csv' | 'ndjson';
type Row = Record<string, unknown>;

export interface Column {
  name: string;
  value: (row: Row) => string | number | boolean | null | object;
}

const CHUNK_CHARS = 64 * 1024;

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
 * many rows there are. A client that goes away stops the query.
 */
export async function streamExport(
  req: Request,
  res: Response,
  rows: Readable,
  columns: readonly Column[],
  name: string,
  format: ExportFormat,
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
      wake = resolve;
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

// Answers as the migration tools read them (the shadow, the capture, the replay): what a handler
// wrote, decoded and parsed, and where two answers' headers differ.
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { Response } from 'express';

/** A response body as sent, up to a bound (past it: none, and `overflow`). */
export interface Sent {
  chunks: Buffer[];
  size: number;
  overflow: boolean;
}

export const header = (v: unknown) =>
  (Array.isArray(v) ? v.join(', ') : v === undefined ? '' : String(v)).toLowerCase();
export const isJson = (type: string) => /^application\/([\w.+-]*\+)?json\b/.test(type);

const DECODERS: Record<string, (b: Buffer, o: zlib.ZlibOptions) => Promise<Buffer>> = {
  gzip: promisify(zlib.gunzip),
  'x-gzip': promisify(zlib.gunzip),
  deflate: promisify(zlib.inflate),
  br: promisify(zlib.brotliDecompress) as (b: Buffer, o: zlib.ZlibOptions) => Promise<Buffer>,
};

// Off the event loop (zlib's thread pool), bounded like the bodies themselves.
export async function decode(body: Buffer, encoding: string, max: number): Promise<Buffer> {
  if (encoding === '' || encoding === 'identity') return body;
  const decoder = DECODERS[encoding];
  if (!decoder) throw new Error(`unsupported content-encoding ${encoding}`);
  return decoder(body, { maxOutputLength: max });
}

/** A response body read whole, or undefined (and the rest dropped) once it passes `max` bytes. */
export async function readBounded(body: AsyncIterable<unknown> & { destroy(): unknown }, max: number) {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > max) {
      body.destroy();
      return undefined;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export function parse(body: Buffer): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(body.toString('utf8')) };
  } catch {
    return { ok: false };
  }
}

/** Adds a written chunk to `c`, up to `max` bytes in all (past it: none, and `overflow`). */
function keep(c: Sent, max: number, chunk: unknown, encoding: unknown): void {
  if (c.overflow || chunk === undefined || chunk === null || typeof chunk === 'function') return;
  const buf =
    typeof chunk === 'string'
      ? Buffer.from(chunk, (typeof encoding === 'string' ? encoding : 'utf8') as BufferEncoding)
      : Buffer.from(
          (chunk as Uint8Array).buffer,
          (chunk as Uint8Array).byteOffset,
          (chunk as Uint8Array).byteLength,
        );
  c.size += buf.length;
  if (c.size > max) {
    c.overflow = true;
    c.chunks = [];
  } else c.chunks.push(buf);
}

/**
 * Records, up to `max` bytes, the body as sent: installed ahead of the compressor, which sets
 * itself up inside a handler's first write or end and then feeds its output back through the
 * methods it found (these). A chunk written while no compressor sat in front is kept unless a
 * compressor set itself up during that very call (its compressed form follows); one arriving
 * with a compressor in front is the compressor's output. `Content-Encoding`, read when the
 * response is done, says how the kept bytes are encoded.
 */
export function captureSent(res: Response, max: number): Sent {
  const c = { chunks: [] as Buffer[], size: 0, overflow: false };
  const r = res as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of ['write', 'end'] as const) {
    const original = r[name] as (...a: unknown[]) => unknown;
    const mine = function (this: Response, ...args: unknown[]) {
      const direct = r[name] === mine;
      const result = original.apply(this, args);
      // Direct and still in front: no compressor took this chunk over.
      if (!direct || r[name] === mine) keep(c, max, args[0], args[1]);
      return result;
    };
    r[name] = mine;
  }
  return c;
}

// Headers that differ between any two answers (hop-by-hop, per-request, per-connection).
export const VOLATILE_HEADERS = [
  'date',
  'x-request-id',
  'traceparent',
  'tracestate',
  'content-length',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'age',
  'server',
  'x-response-time',
];

/** Header names whose values differ (names lower-case; `ignore` lower-case too), sorted. */
export function headerDifferences(
  a: Record<string, unknown>,
  b: Record<string, unknown>,
  ignore: ReadonlySet<string>,
): string[] {
  // HTTP/2's pseudo-headers (`:status`) are the status line, compared on their own.
  const norm = (h: Record<string, unknown>) =>
    new Map(
      Object.entries(h)
        .filter(([k]) => k.charCodeAt(0) !== 58 /* : */)
        .map(([k, v]) => [k.toLowerCase(), Array.isArray(v) ? v.join(', ') : String(v)]),
    );
  const [x, y] = [norm(a), norm(b)];
  const out: string[] = [];
  for (const name of new Set([...x.keys(), ...y.keys()])) {
    if (ignore.has(name) || x.get(name) === y.get(name)) continue;
    out.push(
      `header ${name}: ${JSON.stringify(x.get(name) ?? null)} vs ${JSON.stringify(y.get(name) ?? null)}`,
    );
  }
  return out.sort();
}

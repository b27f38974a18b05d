// Capture (issue 15): a sample of real requests and their answers, secrets redacted, appended as
// NDJSON under DATA_DIR/capture, for `npm run replay` to send to two services and compare. What
// was served, by ferrite or the legacy service, is recorded as the client got it.
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { NextFunction, Request, Response } from 'express';
import { redactUrl } from '../../http/context.ts';
import type { Logger } from '../../log.ts';
import { captureSent, decode, header, isJson, parse, type Sent } from './gateway.answers.ts';

export interface CaptureOptions {
  dir: string;
  /** Percent of requests recorded. */
  percent: number;
  /** Lower-case header names whose values are replaced. */
  redactHeaders: ReadonlySet<string>;
  /** JSON member names whose values are replaced, at any depth. */
  redactFields: ReadonlySet<string>;
  maxBodyBytes: number;
  /** This worker's file stops growing here (later samples are dropped, counted). */
  maxFileBytes: number;
  worker: string;
}

export const REDACTED = '[redacted]';

/** One line of a capture file. */
export interface CaptureRecord {
  at: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  /** Parsed JSON, redacted; absent when there was none; `{omitted}` when it was not read here. */
  body?: unknown;
  status: number;
  responseHeaders: Record<string, string>;
  responseBody?: unknown;
  durationMs: number;
}

export function redactFields(value: unknown, names: ReadonlySet<string>): unknown {
  if (Array.isArray(value)) return value.map((v) => redactFields(v, names));
  if (!value || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, names.has(k) ? REDACTED : redactFields(v, names)]),
  );
}

function redactHeaders(headers: Record<string, unknown>, names: ReadonlySet<string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    // HTTP/2's pseudo-headers (:method, :path…) are the request line, recorded on their own.
    if (value === undefined || name.startsWith(':')) continue;
    const key = name.toLowerCase();
    out[key] = names.has(key) ? REDACTED : Array.isArray(value) ? value.join(', ') : String(value);
  }
  return out;
}

/** The request body as the record holds it: parsed JSON, nothing, or why it is not there. */
function requestBody(req: Request, fields: ReadonlySet<string>): unknown {
  if (req.body !== undefined && typeof req.body === 'object' && !Buffer.isBuffer(req.body)) {
    return redactFields(req.body, fields);
  }
  const length = req.headers['content-length'];
  const hasBody = req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
  return hasBody ? { omitted: 'not read by ferrite (streamed to an upstream, or not JSON)' } : undefined;
}

async function responseBody(res: Response, mine: Sent, opts: CaptureOptions): Promise<unknown> {
  if (mine.size === 0) return undefined;
  if (mine.overflow) return { omitted: `over CAPTURE_MAX_BODY_BYTES (${opts.maxBodyBytes})` };
  const type = header(res.getHeader('content-type'));
  // The bytes as sent (captureSent); the final Content-Encoding says how they are encoded.
  const encoding = header(res.getHeader('content-encoding'));
  let body: Buffer;
  try {
    body = await decode(Buffer.concat(mine.chunks), encoding, opts.maxBodyBytes);
  } catch {
    return { omitted: `content-encoding ${encoding} not decoded` };
  }
  if (isJson(type)) {
    const parsed = parse(body);
    return parsed.ok ? redactFields(parsed.value, opts.redactFields) : { omitted: 'invalid JSON' };
  }
  return type.startsWith('text/')
    ? { text: body.toString('utf8') }
    : { omitted: `${type || 'untyped'} body` };
}

export function createCapture(opts: CaptureOptions, log: Logger) {
  mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  const file = path.join(opts.dir, `capture-${stamp}-worker-${opts.worker}-${process.pid}.ndjson`);
  // Requests and answers hold users' data: readable by the service's user only.
  const out = createWriteStream(file, { flags: 'a', mode: 0o600 });
  out.on('error', (err) => log.error({ err, file }, 'capture file failed; capturing stops'));
  let bytes = 0;
  let dropped = 0;
  let announcedFull = false;

  const write = (record: CaptureRecord) => {
    const line = `${JSON.stringify(record)}\n`;
    // A slow disk or a full file drops samples; it never holds the service back.
    if (out.destroyed || out.writableNeedDrain || bytes + line.length > opts.maxFileBytes) {
      dropped++;
      if (!announcedFull && bytes + line.length > opts.maxFileBytes) {
        announcedFull = true;
        log.warn({ file, bytes }, 'capture file reached CAPTURE_MAX_FILE_BYTES; later samples are dropped');
      }
      return;
    }
    bytes += line.length;
    out.write(line);
  };

  async function record(req: Request, res: Response, mine: Sent, started: number, at: number): Promise<void> {
    const durationMs = Math.round(performance.now() - started);
    write({
      at: new Date(at).toISOString(),
      method: req.method,
      url: redactUrl(req.originalUrl),
      headers: redactHeaders(req.headers, opts.redactHeaders),
      body: requestBody(req, opts.redactFields),
      status: res.statusCode,
      responseHeaders: redactHeaders(res.getHeaders(), opts.redactHeaders),
      responseBody: await responseBody(res, mine, opts),
      durationMs,
    });
  }

  function middleware(req: Request, res: Response, next: NextFunction): void {
    if (!(Math.random() * 100 < opts.percent)) {
      next();
      return;
    }
    const started = performance.now();
    const at = Date.now();
    const mine = captureSent(res, opts.maxBodyBytes);
    res.once('close', () => {
      // A response cut short is not what a client got: nothing to replay against.
      if (!res.writableFinished) return;
      record(req, res, mine, started, at).catch((err) =>
        log.warn({ err }, 'a capture sample could not be recorded'),
      );
    });
    next();
  }

  return {
    middleware,
    file,
    dropped: () => dropped,
    close: () => new Promise<void>((resolve) => out.end(resolve)),
  };
}

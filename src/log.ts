import fs from 'node:fs';
import { type Logger, pino } from 'pino';

export type { Logger };

// Secrets never reach the log, wherever they appear in a logged object.
// Top-level and named paths only: wildcard paths make pino's redaction walk every logged object,
// which the lab measured at ~20 % of a small route's throughput. Request lines carry none of
// these; errors and ad-hoc objects that might are logged under these names.
const redactPaths = [
  'authorization',
  'cookie',
  'password',
  'refreshToken',
  'accessToken',
  'token',
  'headers.authorization',
  'headers.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'body.password',
  'body.refreshToken',
];

// pino's isoTime formats a Date per line (3 % of a worker's CPU on /api/health, issue 12's
// profile); lines logged within the same millisecond share one formatted time.
let lastMs = -1;
let lastTime = '';
function isoTime(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastTime = `,"time":"${new Date(ms).toISOString()}"`;
  }
  return lastTime;
}

/**
 * The log's way out: lines logged during one turn of the event loop are written to `fd`
 * together, in one synchronous `write` when the turn ends (`setImmediate`), so a busy worker
 * makes one syscall per turn, not one per request line, and nothing is in flight on another
 * thread when the process exits. pino's asynchronous destination (sonic-boom 4) re-measures the
 * byte length of its whole pending buffer on every line, which flattens the growing string each
 * time: ~3.3 µs per request line against well under 1 µs here
 * (`bench/decisions/hot-path/request-log.ts`, issue 12).
 *
 * A short write keeps the rest for the next try; a full non-blocking pipe (EAGAIN) is tried
 * again 10 ms later. Past `maxPendingBytes` waiting (a reader that stopped reading), lines are
 * dropped and counted, and the count is logged once writing resumes. Whatever is pending at
 * exit is written then.
 */
export class LineBatch {
  readonly #fd: number;
  readonly #maxPendingBytes: number;
  #pending: string[] = [];
  /** Bytes of an earlier batch the fd has not taken yet; they go first. */
  #rest: Buffer | undefined;
  #pendingBytes = 0;
  #dropped = 0;
  #scheduled = false;
  #blocked = false;

  constructor(fd: number, maxPendingBytes = 16 * 1024 * 1024) {
    this.#fd = fd;
    this.#maxPendingBytes = maxPendingBytes;
    process.once('exit', () => this.flushSync());
  }

  write(line: string): boolean {
    if (this.#pendingBytes > this.#maxPendingBytes) {
      this.#dropped++;
      return false;
    }
    this.#pending.push(line);
    this.#pendingBytes += line.length;
    if (!this.#scheduled && !this.#blocked) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        this.#flush();
      });
    }
    return true;
  }

  /** Writes what is pending now; at exit, gives a full pipe a second (1 ms waits) to take it. */
  flushSync(): void {
    for (let tries = 0; tries < 1000 && !this.#flush(); tries++) {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }

  /** One attempt to write everything pending; true when nothing is left. */
  #flush(): boolean {
    if (this.#pending.length > 0 || this.#dropped > 0) {
      let text = this.#pending.join('');
      if (this.#dropped > 0) {
        text += `${JSON.stringify({ level: 'warn', time: new Date().toISOString(), pid: process.pid, dropped: this.#dropped, msg: 'log lines dropped: the log reader fell behind' })}\n`;
        this.#dropped = 0;
      }
      this.#pending = [];
      const batch = Buffer.from(text);
      this.#rest = this.#rest ? Buffer.concat([this.#rest, batch]) : batch;
    }
    const rest = this.#rest;
    if (!rest) return true;
    let written = 0;
    try {
      while (written < rest.length) written += fs.writeSync(this.#fd, rest, written);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EAGAIN') {
        // The log's reader is gone (EPIPE, EBADF): nothing can be logged any more.
        this.#rest = undefined;
        this.#pendingBytes = 0;
        return true;
      }
    }
    this.#rest = written < rest.length ? rest.subarray(written) : undefined;
    this.#pendingBytes = this.#rest?.length ?? 0;
    if (this.#rest && !this.#blocked) {
      this.#blocked = true;
      setTimeout(() => {
        this.#blocked = false;
        this.#flush();
      }, 10).unref();
    }
    return this.#rest === undefined;
  }
}

export function createLogger(level: string, base: Record<string, unknown>): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid, ...base },
      redact: { paths: redactPaths, censor: '[redacted]' },
      timestamp: isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    // One write per turn of the event loop: a write per request line cost ~18 % of
    // /api/health's throughput in the lab.
    new LineBatch(1),
  );
}

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

export function createLogger(level: string, base: Record<string, unknown>): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid, ...base },
      redact: { paths: redactPaths, censor: '[redacted]' },
      timestamp: isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    // Asynchronous writes: lines logged while a write is in flight go out together in one
    // syscall instead of one each (the lab measured a sync write per request line at ~18 % of
    // /api/health's throughput). pino flushes synchronously on exit, so nothing is lost there.
    pino.destination({ dest: 1, sync: false }),
  );
}

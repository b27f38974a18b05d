import { type Logger, pino } from 'pino';

export type { Logger };

// Secrets never reach the log, wherever they appear in a logged object.
const redactPaths = [
  'authorization',
  'cookie',
  'password',
  'refreshToken',
  'accessToken',
  '*.authorization',
  '*.cookie',
  '*.password',
  '*.refreshToken',
  '*.accessToken',
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'body.password',
];

export function createLogger(level: string, base: Record<string, unknown>): Logger {
  return pino({
    level,
    base: { pid: process.pid, ...base },
    redact: { paths: redactPaths, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}

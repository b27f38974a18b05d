// How a driver error reads to the service: the database unreachable (503, fail fast), the
// pool exhausted (503, busy), or anything else (a bug: 500).

// Errors that mean "the database cannot be reached right now", as opposed to a bad query.
const UNAVAILABLE_SQLSTATE = /^(08|57P0[1-3]|53300)/;
const UNAVAILABLE_SYSCALL = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);

// pg-pool's error when no client became free within the connect timeout: every client is in
// use. The database answers; this worker is busy. Not an outage (issue 11: unread exports held
// every client and the worker then declared the database down).
const POOL_BUSY = 'timeout exceeded when trying to connect';

export function isPoolBusyError(err: unknown): boolean {
  return err instanceof Error && err.message === POOL_BUSY;
}

/** Whether `err` calls for a 503 (unreachable, or every pooled client busy) rather than a 500. */
export function isUnavailableError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (UNAVAILABLE_SYSCALL.has(code) || UNAVAILABLE_SQLSTATE.test(code))) {
    return true;
  }
  return /timeout exceeded when trying to connect|Connection terminated|connection timeout/i.test(
    err.message,
  );
}

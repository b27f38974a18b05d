import { AppError } from '../errors.ts';

/**
 * Long-lived streams (SSE and WebSockets) one user holds open at once in this worker. Each
 * stream pins memory, a socket and a LISTEN fan-out slot for as long as it lives, so a user past
 * STREAMS_MAX_PER_USER is refused (429) instead of being allowed to exhaust the worker.
 */
export class StreamQuota {
  readonly #max: number;
  readonly #open = new Map<string, number>();

  constructor(max: number) {
    this.#max = max;
  }

  /** Takes a slot for the user, or undefined when they hold the maximum; release is idempotent. */
  tryAcquire(userId: string): (() => void) | undefined {
    const held = this.#open.get(userId) ?? 0;
    if (held >= this.#max) return undefined;
    this.#open.set(userId, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const now = (this.#open.get(userId) ?? 1) - 1;
      if (now <= 0) this.#open.delete(userId);
      else this.#open.set(userId, now);
    };
  }

  /** Like tryAcquire, but a user at the maximum gets 429 TOO_MANY_REQUESTS. */
  acquire(userId: string): () => void {
    const release = this.tryAcquire(userId);
    if (release) return release;
    throw new AppError('TOO_MANY_REQUESTS', {
      detail: `At most ${this.#max} event streams and WebSockets per user at once; close one first.`,
      headers: { 'Retry-After': '5' },
    });
  }
}

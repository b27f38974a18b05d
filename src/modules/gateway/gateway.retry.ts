export interface RetryBudgetOptions {
  /** Retries allowed as a share of the requests in the window, in percent. */
  percent: number;
  /** Retries always allowed per window, so a quiet upstream can still be retried. */
  minPerWindow: number;
  windowMs?: number;
  now?: () => number;
}

const BUCKETS = 10;

/**
 * Caps retries to a share of the traffic (Finagle's retry budget): over a rolling 10 s window,
 * a retry is allowed while retries stay under `percent` % of first attempts plus a small fixed
 * allowance. When an upstream fails for everyone, retries then add at most ~`percent` % load
 * instead of tripling it.
 *
 * Per worker, in memory: a budget is an optimisation of failure handling, not correctness
 * state; each worker keeping its own share keeps the whole within the same ratio.
 */
export class RetryBudget {
  readonly #opts: RetryBudgetOptions;
  readonly #now: () => number;
  readonly #bucketMs: number;
  readonly #stamp = new Array<number>(BUCKETS).fill(-1);
  readonly #requests = new Array<number>(BUCKETS).fill(0);
  readonly #retries = new Array<number>(BUCKETS).fill(0);

  constructor(opts: RetryBudgetOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    this.#bucketMs = Math.max(1, Math.floor((opts.windowMs ?? 10_000) / BUCKETS));
  }

  /** Counts a first attempt. */
  request(): void {
    const slot = this.#slot();
    this.#requests[slot] = (this.#requests[slot] as number) + 1;
  }

  /** Takes one retry from the budget; false when it is spent. */
  tryRetry(): boolean {
    const slot = this.#slot();
    const current = Math.floor(this.#now() / this.#bucketMs);
    let requests = 0;
    let retries = 0;
    for (let i = 0; i < BUCKETS; i++) {
      if ((this.#stamp[i] as number) > current - BUCKETS) {
        requests += this.#requests[i] as number;
        retries += this.#retries[i] as number;
      }
    }
    if ((retries + 1) * 100 > requests * this.#opts.percent + this.#opts.minPerWindow * 100) return false;
    this.#retries[slot] = (this.#retries[slot] as number) + 1;
    return true;
  }

  #slot(): number {
    const current = Math.floor(this.#now() / this.#bucketMs);
    const slot = current % BUCKETS;
    if (this.#stamp[slot] !== current) {
      this.#stamp[slot] = current;
      this.#requests[slot] = 0;
      this.#retries[slot] = 0;
    }
    return slot;
  }
}

/**
 * Exponential backoff with full jitter (AWS architecture blog): a uniformly random wait
 * between 0 and min(max, base × 2^retry), so clients that failed together do not retry
 * together.
 */
export function backoffMs(retry: number, baseMs: number, maxMs: number, random = Math.random): number {
  return Math.floor(random() * Math.min(maxMs, baseMs * 2 ** retry));
}

/** Upstream statuses that say "try again elsewhere or later" before any work was done. */
export function retryableStatus(status: number): boolean {
  return status === 502 || status === 503;
}

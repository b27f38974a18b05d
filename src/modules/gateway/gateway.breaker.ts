export type BreakerState = 'closed' | 'open' | 'half-open';

/** gobreaker's numbering, which the seed's dashboards expect of `router_circuit_breaker_state`. */
export const BREAKER_STATE_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };

export interface BreakerOptions {
  /** Length of the rolling window the error rate is computed over. */
  windowMs: number;
  /** Fewer attempts than this in the window never open the breaker. */
  minRequests: number;
  /** Error rate (failed attempts, in percent) at which it opens. */
  errorPercent: number;
  /** How long it stays open before letting one probe through. */
  openMs: number;
  now?: () => number;
  onChange?: (from: BreakerState, to: BreakerState) => void;
}

/** What allow() hands out; results are reported with it, so stale results cannot flip the state. */
export interface Permit {
  probe: boolean;
  generation: number;
}

const BUCKETS = 10;

/**
 * A circuit breaker for one upstream: closed while the error rate over a rolling window stays
 * under the threshold; open (every request refused at once) for `openMs` when it crosses it;
 * then half-open, letting exactly one probe through, whose success closes it and whose failure
 * opens it again.
 *
 * Per worker, in memory, by design: the breaker only saves work and latency while an upstream
 * is failing. A worker that opens a little earlier or later than another costs a few extra
 * errors or refusals, never a wrong answer, so it needs no shared state.
 */
export class CircuitBreaker {
  readonly #opts: BreakerOptions;
  readonly #now: () => number;
  readonly #bucketMs: number;
  readonly #stamp = new Array<number>(BUCKETS).fill(-1);
  readonly #total = new Array<number>(BUCKETS).fill(0);
  readonly #failed = new Array<number>(BUCKETS).fill(0);
  #state: 'closed' | 'open' | 'half-open' = 'closed';
  #openUntil = 0;
  #probing = false;
  #generation = 0;

  constructor(opts: BreakerOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    this.#bucketMs = Math.max(1, Math.floor(opts.windowMs / BUCKETS));
  }

  /** The state as observers should see it: an open breaker past its open time is half-open. */
  get state(): BreakerState {
    if (this.#state === 'open' && this.#now() >= this.#openUntil) return 'half-open';
    return this.#state;
  }

  /** A permit to send one attempt upstream, or undefined when the breaker refuses it. */
  allow(): Permit | undefined {
    if (this.#state === 'closed') return { probe: false, generation: this.#generation };
    if (this.#state === 'open') {
      if (this.#now() < this.#openUntil) return undefined;
      this.#transition('half-open');
    }
    if (this.#probing) return undefined;
    this.#probing = true;
    return { probe: true, generation: this.#generation };
  }

  /** Reports an attempt: 'none' when it ended without a verdict (the client went away). */
  record(permit: Permit, result: 'success' | 'failure' | 'none'): void {
    if (permit.generation !== this.#generation) return;
    if (permit.probe) {
      this.#probing = false;
      if (result === 'success') this.#transition('closed');
      else if (result === 'failure') this.#transition('open');
      return;
    }
    if (result === 'none' || this.#state !== 'closed') return;
    const slot = this.#slot();
    this.#total[slot] = (this.#total[slot] as number) + 1;
    if (result === 'success') return;
    this.#failed[slot] = (this.#failed[slot] as number) + 1;
    const { total, failed } = this.counts();
    if (total >= this.#opts.minRequests && failed * 100 >= this.#opts.errorPercent * total) {
      this.#transition('open');
    }
  }

  /** Seconds a refused client should wait before trying again (at least 1). */
  retryAfterSeconds(): number {
    return Math.max(1, Math.ceil((this.#openUntil - this.#now()) / 1000));
  }

  /** Attempts and failures in the current window. */
  counts(): { total: number; failed: number } {
    const current = Math.floor(this.#now() / this.#bucketMs);
    let total = 0;
    let failed = 0;
    for (let i = 0; i < BUCKETS; i++) {
      if ((this.#stamp[i] as number) > current - BUCKETS) {
        total += this.#total[i] as number;
        failed += this.#failed[i] as number;
      }
    }
    return { total, failed };
  }

  #slot(): number {
    const current = Math.floor(this.#now() / this.#bucketMs);
    const slot = current % BUCKETS;
    if (this.#stamp[slot] !== current) {
      this.#stamp[slot] = current;
      this.#total[slot] = 0;
      this.#failed[slot] = 0;
    }
    return slot;
  }

  #transition(to: 'closed' | 'open' | 'half-open'): void {
    const from = this.#state;
    this.#state = to;
    if (to !== 'half-open') this.#generation++;
    if (to === 'open') this.#openUntil = this.#now() + this.#opts.openMs;
    if (to === 'closed') {
      this.#stamp.fill(-1);
      this.#total.fill(0);
      this.#failed.fill(0);
    }
    if (from !== to) this.#opts.onChange?.(from, to);
  }
}

// Judges a canary route from the answers this worker gave on it: ferrite's against the legacy's
// over a sliding window, by 5xx ratio and p99 (issue 15's automatic rollback).
import type { RollbackBudget } from './cutover.file.ts';

const SLOTS = 10;
// Latency buckets: upper bounds in ms, doubling from 1 ms to ~65 s, then everything above.
const BOUNDS = Array.from({ length: 17 }, (_, i) => 2 ** i);

interface Slot {
  /** Which window slice this slot holds (time ÷ slice length). */
  epoch: number;
  count: number;
  errors: number;
  buckets: number[];
}

/** Answers of one target over the last `windowSeconds`, in SLOTS slices. */
class Window {
  readonly #sliceMs: number;
  readonly #slots: Slot[];

  constructor(windowSeconds: number) {
    this.#sliceMs = (windowSeconds * 1000) / SLOTS;
    this.#slots = Array.from({ length: SLOTS }, () => ({
      epoch: -1,
      count: 0,
      errors: 0,
      buckets: new Array(BOUNDS.length + 1).fill(0),
    }));
  }

  record(now: number, status: number, ms: number): void {
    const epoch = Math.floor(now / this.#sliceMs);
    const slot = this.#slots[epoch % SLOTS] as Slot;
    if (slot.epoch !== epoch) {
      slot.epoch = epoch;
      slot.count = 0;
      slot.errors = 0;
      slot.buckets.fill(0);
    }
    slot.count++;
    if (status >= 500) slot.errors++;
    let b = 0;
    while (b < BOUNDS.length && ms > (BOUNDS[b] as number)) b++;
    slot.buckets[b] = (slot.buckets[b] as number) + 1;
  }

  /** Count, 5xx ratio and p99 (the upper bound of its bucket, ms) over the window. */
  read(now: number): { count: number; errorRatio: number; p99: number } {
    const current = Math.floor(now / this.#sliceMs);
    let count = 0;
    let errors = 0;
    const buckets = new Array(BOUNDS.length + 1).fill(0) as number[];
    for (const slot of this.#slots) {
      if (slot.epoch <= current - SLOTS || slot.epoch > current) continue;
      count += slot.count;
      errors += slot.errors;
      slot.buckets.forEach((n, i) => {
        buckets[i] = (buckets[i] as number) + n;
      });
    }
    let seen = 0;
    let p99 = 0;
    for (let i = 0; i < buckets.length; i++) {
      seen += buckets[i] as number;
      if (seen >= count * 0.99) {
        p99 = BOUNDS[i] ?? Number.POSITIVE_INFINITY;
        break;
      }
    }
    return { count, errorRatio: count > 0 ? errors / count : 0, p99 };
  }
}

export interface Verdict {
  reason: string;
  ferrite: { count: number; errorRatio: number; p99: number };
  legacy: { count: number; errorRatio: number; p99: number };
}

export class CanaryJudge {
  readonly #budget: RollbackBudget;
  readonly #ferrite: Window;
  readonly #legacy: Window;

  constructor(budget: RollbackBudget) {
    this.#budget = budget;
    this.#ferrite = new Window(budget.windowSeconds);
    this.#legacy = new Window(budget.windowSeconds);
  }

  record(target: 'ferrite' | 'legacy', status: number, ms: number, now = Date.now()): void {
    (target === 'ferrite' ? this.#ferrite : this.#legacy).record(now, status, ms);
  }

  /** A breach of the budget, or undefined (also while ferrite has fewer than minSamples answers). */
  judge(now = Date.now()): Verdict | undefined {
    const b = this.#budget;
    const ferrite = this.#ferrite.read(now);
    if (ferrite.count < b.minSamples) return undefined;
    const legacy = this.#legacy.read(now);
    const legacyKnown = legacy.count >= b.minSamples;
    const baseline = legacyKnown ? legacy.errorRatio : 0;
    const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
    if (ferrite.errorRatio > baseline + b.errorRatio) {
      return {
        reason: `5xx ratio ${pct(ferrite.errorRatio)} over ${ferrite.count} answers in ${b.windowSeconds} s, against the legacy's ${legacyKnown ? pct(baseline) : 'unknown (taken as 0)'} + ${pct(b.errorRatio)}`,
        ferrite,
        legacy,
      };
    }
    if (legacyKnown && ferrite.p99 > legacy.p99 * b.latencyFactor + b.latencyMarginMs) {
      return {
        reason: `p99 ≤ ${ferrite.p99} ms over ${ferrite.count} answers in ${b.windowSeconds} s, against the legacy's ≤ ${legacy.p99} ms × ${b.latencyFactor} + ${b.latencyMarginMs} ms`,
        ferrite,
        legacy,
      };
    }
    return undefined;
  }
}

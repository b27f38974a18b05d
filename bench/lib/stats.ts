/** Pure numbers for the lab: percentiles, medians, and the regression decision. Unit-tested. */

/** Nearest-rank percentile (p in 0..100) of unsorted samples; undefined for none. */
export function percentile(samples: readonly number[], p: number): number | undefined {
  if (samples.length === 0) return undefined;
  if (p < 0 || p > 100) throw new RangeError(`percentile ${p} is outside 0..100`);
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

export function median(samples: readonly number[]): number | undefined {
  return percentile(samples, 50);
}

export interface ScenarioNumbers {
  rps: number;
  p99Ms: number;
}

export interface Comparison {
  scenario: string;
  baseline: ScenarioNumbers;
  current: ScenarioNumbers;
  /** current/baseline throughput after dividing each by its run's calibration throughput. */
  rpsRatio: number;
  /** current/baseline p99 after scaling the baseline by the machines' speed ratio. */
  p99Ratio: number;
  regressed: boolean;
  reasons: string[];
}

export interface Tolerance {
  /** Largest accepted loss of normalised throughput (0.10 = 10 %). */
  rps: number;
  /** Largest accepted rise of normalised p99 (0.20 = 20 %). */
  p99: number;
  /** p99 differences below this many ms are noise at millisecond resolution, never a regression. */
  p99FloorMs: number;
}

export const DEFAULT_TOLERANCE: Tolerance = { rps: 0.1, p99: 0.2, p99FloorMs: 2 };

/**
 * Calibration speeds within this band of the baseline's count as the same machine, and the
 * numbers are compared as they are: on one machine the calibration server itself varied ±15 %
 * between runs, so dividing by it added that noise instead of removing a difference.
 */
export const SAME_MACHINE_BAND = 0.15;

/**
 * Compares one scenario with its baseline. Machines differ, so when this run's calibration server
 * is clearly faster or slower than the baseline's (outside SAME_MACHINE_BAND), the baseline is
 * scaled by that speed: throughput expected to move with it, p99 against it.
 */
export function compare(
  scenario: string,
  baseline: ScenarioNumbers,
  current: ScenarioNumbers,
  calibration: { baselineRps: number; currentRps: number },
  tolerance: Tolerance = DEFAULT_TOLERANCE,
): Comparison {
  const measured = calibration.currentRps / calibration.baselineRps;
  const speed = Math.abs(measured - 1) <= SAME_MACHINE_BAND ? 1 : measured;
  const rpsRatio = current.rps / baseline.rps / speed;
  const expectedP99 = baseline.p99Ms / speed;
  const p99Ratio = expectedP99 > 0 ? current.p99Ms / expectedP99 : 1;
  const reasons: string[] = [];
  if (rpsRatio < 1 - tolerance.rps) {
    reasons.push(
      `throughput ${(rpsRatio * 100).toFixed(1)} % of baseline (tolerance ${tolerance.rps * 100} %)`,
    );
  }
  if (p99Ratio > 1 + tolerance.p99 && current.p99Ms - expectedP99 >= tolerance.p99FloorMs) {
    reasons.push(`p99 ${(p99Ratio * 100).toFixed(1)} % of baseline (tolerance ${tolerance.p99 * 100} %)`);
  }
  return { scenario, baseline, current, rpsRatio, p99Ratio, regressed: reasons.length > 0, reasons };
}

/** CPU % of one core used between two /proc tick readings. */
export function cpuPercent(
  ticksBefore: number,
  ticksAfter: number,
  seconds: number,
  ticksPerSecond = 100,
): number {
  if (seconds <= 0) return 0;
  return ((ticksAfter - ticksBefore) / ticksPerSecond / seconds) * 100;
}

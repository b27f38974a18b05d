// What follows from the configuration, without the schema: the primary, which never parses the
// environment itself (src/prepare.ts does), imports these and no zod.
import type { Config } from '../config.ts';

/** Whether this host runs a miner: MINER_CMD, or the simulated one outside production. */
export function minerConfigured(cfg: Pick<Config, 'MINER_CMD' | 'NODE_ENV'>): boolean {
  return Boolean(cfg.MINER_CMD) || cfg.NODE_ENV !== 'production';
}

/**
 * Connections of one serving process's pool: an equal share of the total per worker, all of it
 * in the single process; every pool keeps at least two.
 */
export function poolSize(cfg: Pick<Config, 'PG_POOL_TOTAL' | 'WORKERS' | 'PROCESS_MODEL'>): number {
  const processes = cfg.PROCESS_MODEL === 'single' ? 1 : cfg.WORKERS;
  return Math.max(2, Math.floor(cfg.PG_POOL_TOTAL / processes));
}

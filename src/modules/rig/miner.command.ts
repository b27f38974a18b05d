import { fileURLToPath } from 'node:url';
import { minerConfigured } from '../../config/derived.ts';
import type { Config } from '../../config.ts';
import type { Logger } from '../../log.ts';
import { MinerSupervisor, minerEnvironment } from './miner.supervisor.ts';

export const SIM_MINER = fileURLToPath(new URL('./sim-miner.ts', import.meta.url));

/**
 * The host's miner: MINER_CMD (+ MINER_ARGS) when set; outside production the simulated miner by
 * default; in production without MINER_CMD, none (miner routes answer 503).
 */
export async function createMiner(cfg: Config, log: Logger): Promise<MinerSupervisor | undefined> {
  let cmd = cfg.MINER_CMD;
  let args = cfg.MINER_ARGS;
  if (!minerConfigured(cfg)) return undefined;
  // The miner's environment is built from ferrite's own, which only this and config.ts read:
  // SIM_MINER_* tune the bundled simulated miner (however it is started) and hold no secret.
  // Their names come from its schema, loaded only here (the primary loads no zod otherwise).
  const { SIM_MINER_KEYS } = await import('../../config/sim-miner.ts');
  const env = minerEnvironment(process.env, [...cfg.MINER_ENV_PASSTHROUGH, ...SIM_MINER_KEYS]);
  if (!cmd) {
    cmd = process.execPath;
    args = [SIM_MINER];
  }
  return new MinerSupervisor({
    cmd,
    args,
    stopTimeoutMs: cfg.MINER_STOP_TIMEOUT_MS,
    restart: cfg.MINER_RESTART,
    restartBackoffMaxMs: cfg.MINER_RESTART_BACKOFF_MAX_MS,
    env,
    log: log.child({ component: 'miner' }),
  });
}

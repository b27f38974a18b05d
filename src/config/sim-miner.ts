// The simulated miner's knobs. It is a program of its own (spawned like any miner binary, or run by
// `npm run sim-miner`), so it parses only these; ferrite's schema includes them too, which checks
// them at start and documents them with the rest.
import { z } from 'zod';
import { int, parseEnv } from './parsers.ts';

export const simMinerKeys = {
  SIM_MINER_INTERVAL_MS: int(1000, 1, 3_600_000).describe(
    'how often the simulated miner prints a stats line',
  ),
  SIM_MINER_GPUS: int(4, 1, 64).describe('GPUs it simulates'),
  SIM_MINER_BLOCK_CHANCE: z.coerce
    .number()
    .min(0)
    .max(1)
    .default(0.02)
    .describe('probability that a stats tick also finds a block'),
  SIM_MINER_TEMPERATURE_C: int(55, 0, 120).describe('temperature every simulated GPU starts at (°C)'),
  SIM_MINER_HEAT_PER_TICK_C: z.coerce
    .number()
    .min(-10)
    .max(10)
    .default(0)
    .describe(
      'how much each GPU warms (or cools) per stats tick on top of its random walk, so tests can cross a temperature alert',
    ),
  SIM_MINER_SLOWDOWN_AFTER_MS: int(0, 0).describe(
    'after this long every simulated GPU hashes at half its rate, so tests can cross the hashrate alert; `0`: never',
  ),
  SIM_MINER_CRASH_AFTER_MS: int(0, 0).describe(
    'exit with code 1 after this long, so tests can exercise crash handling; `0`: never',
  ),
};

/** The names the miner supervisor passes on to the miner (see MINER_ENV_PASSTHROUGH). */
export const SIM_MINER_KEYS: readonly string[] = Object.keys(simMinerKeys);

export type SimMinerConfig = z.infer<z.ZodObject<typeof simMinerKeys>>;

export function parseSimMinerConfig(env: NodeJS.ProcessEnv = process.env): SimMinerConfig {
  return parseEnv(z.object(simMinerKeys), env);
}

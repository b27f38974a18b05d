// How a process ferrite's start-up starts (a worker, or the app in the single process) gets its
// configuration: parsed and checked once by src/prepare.ts, handed on as JSON in FERRITE_CONFIG
// (with what the start-up created: DATABASE_URL of the embedded server, the dev certificate and
// secret). The serving side so loads no zod and parses nothing at start.
import type { Config } from '../config.ts';

export const HANDED_CONFIG = 'FERRITE_CONFIG';

/** The configuration as JSON for `FERRITE_CONFIG`, with `extra` keys set on top. */
export function handOn(cfg: Config, extra: Record<string, string>): string {
  return JSON.stringify({ ...cfg, ...extra });
}

/** The configuration this process was handed; throws when it was started otherwise. */
export function handedConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const json = env[HANDED_CONFIG];
  if (!json)
    throw new Error(`${HANDED_CONFIG} is unset: this process is started by ferrite's start-up (src/main.js)`);
  const cfg = JSON.parse(json) as Config;
  for (const value of Object.values(cfg)) if (Array.isArray(value)) Object.freeze(value);
  return Object.freeze(cfg);
}

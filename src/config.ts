import { z } from 'zod';
import { authKeys, SCOPES, type Scope } from './config/auth.ts';
import { type GatewayRoute, gatewayKeys } from './config/gateway.ts';
import { ConfigError, parseEnv } from './config/parsers.ts';
import { rigKeys } from './config/rig.ts';
import { httpKeys, postgresKeys, processKeys } from './config/server.ts';
import { simMinerKeys } from './config/sim-miner.ts';
import { projectKeys, workflowKeys } from './config/workspace.ts';

export { minerConfigured, poolSize } from './config/derived.ts';
export { ConfigError, type GatewayRoute, SCOPES, type Scope };

/**
 * Every environment key ferrite reads, each declared once (src/config/*.ts) with its parsing, its
 * default and a description; docs/configuration.md is generated from these groups (`npm run docs`).
 */
export const configGroups = [
  { title: 'Process and cluster', keys: processKeys },
  { title: 'HTTP', keys: httpKeys },
  { title: 'Postgres', keys: postgresKeys },
  { title: 'Auth', keys: authKeys },
  { title: 'Rig: miner, live updates, node', keys: rigKeys },
  { title: 'Simulated miner', keys: simMinerKeys },
  { title: 'Gateway and shadow traffic', keys: gatewayKeys },
  { title: 'Workflows, search and the model', keys: workflowKeys },
  { title: 'Projects, files and events', keys: projectKeys },
] as const;

export const configSchema = z.object({
  ...processKeys,
  ...httpKeys,
  ...postgresKeys,
  ...authKeys,
  ...rigKeys,
  ...simMinerKeys,
  ...gatewayKeys,
  ...workflowKeys,
  ...projectKeys,
});

export type Config = Readonly<z.infer<typeof configSchema>>;

/** Parses the environment once; reports every bad key together. */
export function parseConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const cfg = parseEnv(configSchema, env);
  const issues: string[] = [];
  if ((cfg.TLS_CERT === undefined) !== (cfg.TLS_KEY === undefined)) {
    issues.push('TLS_CERT/TLS_KEY: set both or neither');
  }
  if (cfg.CORS_ORIGINS.includes('*') && cfg.CORS_CREDENTIALS) {
    issues.push('CORS_ORIGINS: `*` cannot be combined with CORS_CREDENTIALS=true; name the origins');
  }
  if (cfg.HEADERS_TIMEOUT_MS > cfg.REQUEST_TIMEOUT_MS) {
    issues.push('HEADERS_TIMEOUT_MS: must not exceed REQUEST_TIMEOUT_MS');
  }
  if (cfg.JWT_ALGORITHM === 'EdDSA' && !(cfg.JWT_PRIVATE_KEY_FILE && cfg.JWT_PUBLIC_KEY_FILE)) {
    issues.push('JWT_PRIVATE_KEY_FILE/JWT_PUBLIC_KEY_FILE: EdDSA needs both');
  }
  if (cfg.NODE_ENV === 'production' && cfg.JWT_ALGORITHM === 'HS256') {
    const weak = weakSecret(cfg.JWT_SECRET);
    if (weak) issues.push(`JWT_SECRET: ${weak} (required in production)`);
  }
  if (cfg.WORKFLOW_HEARTBEAT_MS * 2 > cfg.WORKFLOW_LEASE_MS) {
    issues.push('WORKFLOW_HEARTBEAT_MS: must be at most half of WORKFLOW_LEASE_MS');
  }
  if (cfg.WORKFLOW_PLANNER === 'gemini' && !cfg.GEMINI_API_KEY) {
    issues.push('WORKFLOW_PLANNER: gemini needs GEMINI_API_KEY');
  }
  if (cfg.LEGACY_JWT_ALGORITHM) {
    if (cfg.LEGACY_JWT_ALGORITHM === 'HS256' ? !cfg.LEGACY_JWT_SECRET : !cfg.LEGACY_JWT_PUBLIC_KEY_FILE) {
      issues.push(
        `LEGACY_JWT_ALGORITHM: ${cfg.LEGACY_JWT_ALGORITHM} needs ${cfg.LEGACY_JWT_ALGORITHM === 'HS256' ? 'LEGACY_JWT_SECRET' : 'LEGACY_JWT_PUBLIC_KEY_FILE'}`,
      );
    }
    if (cfg.LEGACY_JWT_ISSUERS.length === 0) issues.push('LEGACY_JWT_ISSUERS: name at least one issuer');
  }
  for (const pair of cfg.LEGACY_JWT_SCOPE_MAP) {
    const [from, to] = pair.split('=');
    const unknown = (to ?? '').split('+').filter((s) => !(SCOPES as readonly string[]).includes(s));
    if (!from || !to || unknown.length > 0) {
      issues.push(`LEGACY_JWT_SCOPE_MAP: "${pair}" is not legacy=scope[+scope…] with ferrite scopes`);
    }
  }
  if (cfg.ROUTES_FILE && !cfg.LEGACY_UPSTREAM_URL) {
    issues.push('ROUTES_FILE: sending routes to the legacy service needs LEGACY_UPSTREAM_URL');
  }
  if (cfg.HTTP_PORT === null && cfg.HTTPS_PORT === null) {
    issues.push('HTTP_PORT/HTTPS_PORT: at least one listener must be on');
  }
  if (issues.length > 0) throw new ConfigError(issues);
  // Lists too, so no consumer can change what another one reads.
  for (const value of Object.values(cfg)) if (Array.isArray(value)) Object.freeze(value);
  return Object.freeze(cfg);
}

/** Why a signing secret is unacceptable in production, or undefined when it is fine. */
export function weakSecret(secret: string | undefined): string | undefined {
  if (!secret) return 'missing';
  if (secret.length < 32) return 'shorter than 32 characters';
  if (new Set(secret).size < 10) return 'too few distinct characters';
  if (/^(change.?me|secret|password|example|test|dev)/i.test(secret)) return 'a placeholder value';
  return undefined;
}

let cached: Config | undefined;

/** The process-wide configuration, parsed on first use and frozen. */
export function config(): Config {
  cached ??= parseConfig();
  return cached;
}

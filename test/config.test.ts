import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { HANDED_CONFIG, handedConfig, handOn } from '../src/config/handed.ts';
import { parseSimMinerConfig } from '../src/config/sim-miner.ts';
import { ConfigError, parseConfig, poolSize } from '../src/config.ts';
import { SIM_MINER } from '../src/modules/rig/primary.ts';
import { MAIN, ROOT } from './helpers/cluster.ts';

/** Runs `script` with `env` to its exit; resolves with the exit code and what it wrote to stderr. */
async function run(script: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [script], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stderr };
}

describe('configuration', () => {
  it('exits non-zero naming every bad key at once', async () => {
    const { code, stderr } = await run(MAIN, {
      ...process.env,
      WORKERS: '0',
      HTTP_PORT: 'eighty',
      LOG_LEVEL: 'loud',
      DATABASE_URL: 'mysql://x',
    });
    assert.notEqual(code, 0);
    for (const key of ['WORKERS', 'HTTP_PORT', 'LOG_LEVEL', 'DATABASE_URL']) {
      assert.match(stderr, new RegExp(`${key}:`), `stderr names ${key}: ${stderr}`);
    }
  });

  it('hands the parsed configuration to the serving side unchanged, with what start-up added', () => {
    // Every kind of value the schema produces: defaults, lists, null ports, gateway routes.
    const cfg = parseConfig({
      HTTPS_PORT: 'off',
      WS_ALLOWED_ORIGINS: 'https://a.example,https://b.example',
      GATEWAY_ROUTES: '/v1/x=task:http://127.0.0.1:9/x',
      MINER_ARGS: '--a --b',
    });
    const handed = handedConfig({ [HANDED_CONFIG]: handOn(cfg, { DATABASE_URL: 'postgres://u@h/db' }) });
    assert.deepEqual(handed, { ...cfg, DATABASE_URL: 'postgres://u@h/db' });
    assert.ok(Object.isFrozen(handed) && Object.isFrozen(handed.WS_ALLOWED_ORIGINS));
    assert.throws(() => handedConfig({}), /FERRITE_CONFIG is unset/);
  });

  it('applies defaults and freezes the result', () => {
    const cfg = parseConfig({});
    assert.equal(cfg.HTTP_PORT, 8080);
    assert.equal(cfg.HTTPS_PORT, 8443);
    assert.equal(cfg.METRICS_PORT, 9464);
    assert.equal(cfg.SHUTDOWN_TIMEOUT_MS, 10_000);
    assert.equal(cfg.BODY_LIMIT_BYTES, 1_048_576);
    assert.ok(cfg.WORKERS >= 1);
    assert.ok(Object.isFrozen(cfg));
  });

  it('checks the legacy token settings together: key for the algorithm, an issuer, ferrite scopes in the map', () => {
    const issues = (env: NodeJS.ProcessEnv) => {
      try {
        parseConfig(env);
        return [];
      } catch (err) {
        assert.ok(err instanceof ConfigError);
        return err.issues;
      }
    };
    assert.deepEqual(
      issues({ LEGACY_JWT_ALGORITHM: 'HS256', LEGACY_JWT_SECRET: 's', LEGACY_JWT_ISSUERS: 'a' }),
      [],
    );
    assert.match(
      issues({ LEGACY_JWT_ALGORITHM: 'HS256', LEGACY_JWT_ISSUERS: 'a' }).join(),
      /needs LEGACY_JWT_SECRET/,
    );
    assert.match(
      issues({ LEGACY_JWT_ALGORITHM: 'RS256', LEGACY_JWT_SECRET: 's', LEGACY_JWT_ISSUERS: 'a' }).join(),
      /needs LEGACY_JWT_PUBLIC_KEY_FILE/,
    );
    assert.match(
      issues({ LEGACY_JWT_ALGORITHM: 'HS256', LEGACY_JWT_SECRET: 's' }).join(),
      /LEGACY_JWT_ISSUERS/,
    );
    assert.match(issues({ LEGACY_JWT_ALGORITHM: 'HS512' }).join(), /LEGACY_JWT_ALGORITHM/);
    assert.match(issues({ LEGACY_JWT_SCOPE_MAP: 'read=projects:read+root' }).join(), /LEGACY_JWT_SCOPE_MAP/);
    assert.match(issues({ LEGACY_JWT_SCOPE_MAP: 'read' }).join(), /LEGACY_JWT_SCOPE_MAP/);
  });

  it('switches a listener off with "off" or 0, but not both', () => {
    assert.equal(parseConfig({ HTTPS_PORT: 'off' }).HTTPS_PORT, null);
    assert.equal(parseConfig({ HTTP_PORT: '0' }).HTTP_PORT, null);
    assert.equal(parseConfig({ METRICS_PORT: 'off' }).METRICS_PORT, null);
    assert.throws(() => parseConfig({ HTTP_PORT: 'off', HTTPS_PORT: 'off' }), ConfigError);
  });

  it('leaves the port to the OS with "any" (the listener then binds port 0)', () => {
    const cfg = parseConfig({ HTTP_PORT: 'any', HTTPS_PORT: 'any', METRICS_PORT: 'any' });
    assert.deepEqual([cfg.HTTP_PORT, cfg.HTTPS_PORT, cfg.METRICS_PORT], [0, 0, 0]);
  });

  it('requires TLS_CERT and TLS_KEY together', () => {
    assert.throws(() => parseConfig({ TLS_CERT: '/x.pem' }), /TLS_CERT\/TLS_KEY/);
  });

  it('takes CORS origins as origins, and `*` only without credentials', () => {
    assert.deepEqual(parseConfig({ CORS_ORIGINS: 'https://a.example, http://127.0.0.1:3000' }).CORS_ORIGINS, [
      'https://a.example',
      'http://127.0.0.1:3000',
    ]);
    assert.deepEqual(parseConfig({}).CORS_ORIGINS, [], 'off by default');
    assert.throws(() => parseConfig({ CORS_ORIGINS: 'https://a.example/app' }), /CORS_ORIGINS/);
    assert.throws(() => parseConfig({ CORS_ORIGINS: 'a.example' }), /CORS_ORIGINS/);
    assert.throws(
      () => parseConfig({ CORS_ORIGINS: '*', CORS_CREDENTIALS: 'true' }),
      /CORS_ORIGINS: `\*` cannot/,
    );
    assert.equal(parseConfig({ CORS_ORIGINS: '*' }).CORS_ORIGINS[0], '*');
  });

  it('refuses to run in production without a strong JWT_SECRET', () => {
    assert.throws(() => parseConfig({ NODE_ENV: 'production' }), /JWT_SECRET: missing/);
    assert.throws(() => parseConfig({ NODE_ENV: 'production', JWT_SECRET: 'short' }), /JWT_SECRET: shorter/);
    assert.throws(
      () => parseConfig({ NODE_ENV: 'production', JWT_SECRET: 'changeme-changeme-changeme-changeme-123' }),
      /JWT_SECRET: a placeholder/,
    );
    assert.throws(
      () => parseConfig({ NODE_ENV: 'production', JWT_SECRET: 'a'.repeat(40) }),
      /JWT_SECRET: too few/,
    );
    const ok = parseConfig({
      NODE_ENV: 'production',
      JWT_SECRET: 'q8Vf2LzR7xWp1Nc4Tb9Hs6Km3Dj0Ga5Ye8Uo2Ii7',
    });
    assert.equal(ok.NODE_ENV, 'production');
    assert.doesNotThrow(() => parseConfig({ NODE_ENV: 'development' }));
  });

  it('rejects unknown default scopes and EdDSA without its keys', () => {
    assert.throws(() => parseConfig({ DEFAULT_SCOPES: 'miner:read,root' }), /unknown scope root/);
    assert.throws(() => parseConfig({ JWT_ALGORITHM: 'EdDSA' }), /EdDSA needs both/);
  });

  it('divides the pool budget between workers, at least two each', () => {
    assert.equal(poolSize({ PG_POOL_TOTAL: 20, WORKERS: 4, PROCESS_MODEL: 'cluster' }), 5);
    assert.equal(poolSize({ PG_POOL_TOTAL: 3, WORKERS: 4, PROCESS_MODEL: 'cluster' }), 2);
    // The single process is the only pool: all of the budget, whatever WORKERS says.
    assert.equal(poolSize({ PG_POOL_TOTAL: 20, WORKERS: 4, PROCESS_MODEL: 'single' }), 20);
  });

  it('parses list-valued keys into arrays: items trimmed, empty ones dropped', () => {
    const cfg = parseConfig({
      DEFAULT_SCOPES: ' miner:read , node:rpc,',
      SHADOW_PATHS: '/v1/task/shadow, /api/health',
      SHADOW_IGNORE_FIELDS: '',
      NODE_RPC_METHODS: 'eth_chainId',
      MINER_ARGS: ' --pool  x ',
      WS_ALLOWED_ORIGINS: 'https://a.example, https://b.example',
    });
    assert.deepEqual(cfg.DEFAULT_SCOPES, ['miner:read', 'node:rpc']);
    assert.deepEqual(cfg.SHADOW_PATHS, ['/v1/task/shadow', '/api/health']);
    assert.deepEqual(cfg.SHADOW_IGNORE_FIELDS, []);
    assert.deepEqual(cfg.NODE_RPC_METHODS, ['eth_chainId']);
    assert.deepEqual(cfg.MINER_ARGS, ['--pool', 'x']);
    assert.deepEqual(cfg.WS_ALLOWED_ORIGINS, ['https://a.example', 'https://b.example']);
    assert.ok(Object.isFrozen(cfg.DEFAULT_SCOPES));
    assert.deepEqual(parseConfig({}).SHADOW_IGNORE_FIELDS, ['requestId', 'timestamp', 'updatedAt']);
  });

  it('refuses a bad SIM_MINER_* value at start, and the simulated miner reads the same keys', () => {
    assert.throws(() => parseConfig({ SIM_MINER_GPUS: '0' }), /SIM_MINER_GPUS:/);
    assert.throws(() => parseConfig({ SIM_MINER_BLOCK_CHANCE: '2' }), /SIM_MINER_BLOCK_CHANCE:/);
    assert.deepEqual(parseSimMinerConfig({ SIM_MINER_INTERVAL_MS: '50' }), {
      SIM_MINER_INTERVAL_MS: 50,
      SIM_MINER_GPUS: 4,
      SIM_MINER_BLOCK_CHANCE: 0.02,
      SIM_MINER_CRASH_AFTER_MS: 0,
      SIM_MINER_TEMPERATURE_C: 55,
      SIM_MINER_HEAT_PER_TICK_C: 0,
      SIM_MINER_SLOWDOWN_AFTER_MS: 0,
    });
    assert.throws(() => parseConfig({ SIM_MINER_HEAT_PER_TICK_C: '11' }), /SIM_MINER_HEAT_PER_TICK_C:/);
    assert.throws(
      () => parseConfig({ DASHBOARD_HASHRATE_ALERT_RATIO: '1' }),
      /DASHBOARD_HASHRATE_ALERT_RATIO:/,
    );
    assert.throws(() => parseConfig({ DASHBOARD_GPU_TEMP_ALERT_C: '0' }), /DASHBOARD_GPU_TEMP_ALERT_C:/);
  });

  it('when the simulated miner gets a bad value, then it exits 78 naming the key', async () => {
    const { code, stderr } = await run(SIM_MINER, { PATH: process.env.PATH, SIM_MINER_INTERVAL_MS: 'soon' });
    assert.equal(code, 78);
    assert.match(stderr, /SIM_MINER_INTERVAL_MS:/);
  });
});

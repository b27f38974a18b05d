import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, configSchema, parseConfig, poolSizePerWorker } from '../src/config.ts';
import { errorCodes } from '../src/errors.ts';
import { MAIN, ROOT } from './helpers/cluster.ts';

const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');

describe('configuration', () => {
  it('exits non-zero naming every bad key at once', async () => {
    const child = spawn(process.execPath, [MAIN], {
      cwd: ROOT,
      env: {
        ...process.env,
        WORKERS: '0',
        HTTP_PORT: 'eighty',
        LOG_LEVEL: 'loud',
        DATABASE_URL: 'mysql://x',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const [code] = await once(child, 'exit');
    assert.notEqual(code, 0);
    for (const key of ['WORKERS', 'HTTP_PORT', 'LOG_LEVEL', 'DATABASE_URL']) {
      assert.match(stderr, new RegExp(`${key}:`), `stderr names ${key}: ${stderr}`);
    }
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

  it('switches a listener off with "off" or 0, but not both', () => {
    assert.equal(parseConfig({ HTTPS_PORT: 'off' }).HTTPS_PORT, 0);
    assert.equal(parseConfig({ HTTP_PORT: '0' }).HTTP_PORT, 0);
    assert.throws(() => parseConfig({ HTTP_PORT: 'off', HTTPS_PORT: 'off' }), ConfigError);
  });

  it('requires TLS_CERT and TLS_KEY together', () => {
    assert.throws(() => parseConfig({ TLS_CERT: '/x.pem' }), /TLS_CERT\/TLS_KEY/);
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
    assert.equal(poolSizePerWorker({ PG_POOL_TOTAL: 20, WORKERS: 4 }), 5);
    assert.equal(poolSizePerWorker({ PG_POOL_TOTAL: 3, WORKERS: 4 }), 2);
  });

  it('documents every key in the README configuration table', () => {
    for (const key of Object.keys(configSchema.shape)) {
      assert.match(readme, new RegExp(`^\\|\\s*\`${key}\`\\s*\\|`, 'm'), `README lacks ${key}`);
    }
  });

  it('documents every error code in the README', () => {
    for (const code of Object.keys(errorCodes)) {
      assert.match(readme, new RegExp(`^\\|\\s*\`${code}\`\\s*\\|`, 'm'), `README lacks ${code}`);
    }
  });
});

// Issue 16: the container files, checked against the conventions operators rely on. The image
// itself is built and run by scripts/container-check.sh (podman; minutes, and a registry), not
// in the suite; this keeps the files from drifting between those runs.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { parseConfig } from '../src/config.ts';
import { ROOT } from './helpers/cluster.ts';

/** The Dockerfile's instructions, continuation lines joined, comments dropped. */
function instructions(): { stage: number; op: string; args: string }[] {
  const text = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  let stage = -1;
  const out: { stage: number; op: string; args: string }[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) continue;
    const [op = '', ...rest] = t.split(/\s+/);
    if (op.toUpperCase() === 'FROM') stage++;
    out.push({ stage, op: op.toUpperCase(), args: rest.join(' ') });
  }
  return out;
}

describe('Dockerfile', () => {
  const all = instructions();
  const final = all.filter((i) => i.stage === Math.max(...all.map((x) => x.stage)));
  const one = (op: string) => final.filter((i) => i.op === op).map((i) => i.args);

  it('builds in stages and ships production dependencies only', () => {
    assert.ok(Math.max(...all.map((i) => i.stage)) >= 1, 'more than one stage');
    assert.ok(
      all.some((i) => i.op === 'RUN' && /npm ci --omit=dev/.test(i.args)),
      'npm ci --omit=dev',
    );
    assert.ok(one('COPY').some((a) => /--from=deps \/app\/node_modules/.test(a)));
    assert.ok(!one('COPY').some((a) => /^(test|bench|docs)\b/.test(a)), 'no tests, benchmarks or docs');
    const ignored = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n');
    for (const p of ['node_modules', 'test', '.git', '.data'])
      assert.ok(ignored.includes(p), `.dockerignore: ${p}`);
  });

  it('runs as a non-root user under an init, with a health check and a data volume', () => {
    const user = one('USER').at(-1);
    assert.ok(user && user !== 'root' && user !== '0', `USER ${user}`);
    assert.deepEqual(JSON.parse(one('ENTRYPOINT').at(-1) ?? '[]'), ['/usr/bin/tini', '--']);
    assert.deepEqual(JSON.parse(one('CMD').at(-1) ?? '[]'), ['node', 'src/main.js']);
    assert.match(one('HEALTHCHECK').at(-1) ?? '', /\/api\/ready/);
    assert.match(one('VOLUME').at(-1) ?? '', /\/data/);
    assert.match(one('ENV').join(' '), /DATA_DIR=\/data/);
    assert.match(one('ENV').join(' '), /NODE_ENV=production/);
  });
});

describe('compose.yaml', () => {
  it('runs ferrite on its own Postgres, once that is healthy, with time to drain', () => {
    const compose = parse(readFileSync(path.join(ROOT, 'compose.yaml'), 'utf8')) as {
      services: Record<string, Record<string, unknown>>;
    };
    const ferrite = compose.services.ferrite as {
      build: string;
      environment: Record<string, string>;
      depends_on: Record<string, { condition: string }>;
      stop_grace_period: string;
      volumes: string[];
    };
    assert.equal(ferrite.build, '.');
    assert.match(ferrite.environment.DATABASE_URL ?? '', /@postgres:5432\//);
    assert.match(
      ferrite.environment.JWT_SECRET ?? '',
      /^\$\{JWT_SECRET:\?/,
      'a secret the operator must give',
    );
    assert.equal(ferrite.depends_on.postgres?.condition, 'service_healthy');
    assert.ok(compose.services.postgres?.healthcheck);
    assert.ok(ferrite.volumes.some((v) => v.endsWith(':/data')));
    const grace = Number(/^(\d+)s$/.exec(ferrite.stop_grace_period)?.[1]) * 1000;
    assert.ok(grace > parseConfig({}).SHUTDOWN_TIMEOUT_MS, 'longer than the drain deadline');
  });
});

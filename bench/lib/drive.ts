import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { autocannonRun, h2loadRun, type LoadResult } from './load.ts';
import type { Scenario } from './scenarios.ts';
import { ROOT } from './service.ts';

const EMAIL = 'bench@example.com';
const PASSWORD = 'bench password 1234';
export const LOGIN_BODY = JSON.stringify({ email: EMAIL, password: PASSWORD });

/** The service settings every lab run uses on top of production defaults. */
export const LAB_ENV = {
  MINER_CMD: process.execPath,
  MINER_ARGS: path.join(ROOT, 'src/modules/rig/sim-miner.ts'),
  DEFAULT_SCOPES: 'miner:read,miner:control,task:read,projects:read,projects:write',
  // The lab measures logins, not the limiter: limits far above what it sends.
  LOGIN_MAX_ATTEMPTS_PER_IP: '100000000',
  LOGIN_MAX_FAILURES_PER_CLIENT: '100000000',
  // The fan-out extras hold 1,000 streams of one user; the per-user cap is tested elsewhere.
  STREAMS_MAX_PER_USER: '100000',
};

/** An account (returns its token), a running miner for /api/stats, and 5,000 validated blocks. */
export async function seed(origin: string, databaseUrl: string): Promise<string> {
  const json = { 'content-type': 'application/json' };
  await fetch(`${origin}/api/auth/register`, { method: 'POST', headers: json, body: LOGIN_BODY });
  const login = await fetch(`${origin}/api/auth/login`, { method: 'POST', headers: json, body: LOGIN_BODY });
  const { accessToken } = (await login.json()) as { accessToken: string };
  await fetch(`${origin}/api/miner/start`, {
    method: 'POST',
    headers: { authorization: `Bearer ${accessToken}` },
  });
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query(
    `INSERT INTO blocks (hash, height, difficulty, found_at, validated_at)
     SELECT '0x' || lpad(to_hex(g), 64, '0'), 1000000 + g, 4.2e15, now(), now() FROM generate_series(1, 5000) g
     ON CONFLICT DO NOTHING`,
  );
  await client.end();
  await sleep(1500); // stats snapshots reach the workers
  return accessToken;
}

/** Values the scenarios' `{name}` placeholders refer to. */
export type LabVars = Record<string, string>;

/** A project with one file for `vfs-read`: its id and the file's ETag. */
export async function seedWorkspace(origin: string, token: string): Promise<LabVars> {
  const auth = { authorization: `Bearer ${token}` };
  const created = await fetch(`${origin}/api/projects`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ name: `bench ${Date.now()}` }),
  });
  if (created.status !== 201) throw new Error(`creating the lab project answered ${created.status}`);
  const { id } = (await created.json()) as { id: string };
  const put = await fetch(`${origin}/api/projects/${id}/files/src/readme.md`, {
    method: 'PUT',
    headers: { ...auth, 'content-type': 'text/markdown' },
    body: '# bench\n\nA file the lab reads back with If-None-Match.\n'.repeat(40),
  });
  const etag = put.headers.get('etag');
  if (put.status >= 300 || !etag) throw new Error(`writing the lab file answered ${put.status}`);
  return { project: id, etag };
}

function fill(template: string, vars: LabVars): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => {
    const value = vars[name];
    if (value === undefined) throw new Error(`no lab value for ${whole}`);
    return value;
  });
}

/** One scenario's load against `origin` for `durationSec`. */
export function loadScenario(
  s: Scenario,
  origin: string,
  token: string,
  durationSec: number,
  vars: LabVars = {},
  onTick?: (requestsThisSecond: number) => void,
): Promise<LoadResult> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.headers ?? {})) headers[k] = fill(v, vars);
  if (s.auth) headers.authorization = `Bearer ${token}`;
  if (s.body) headers['content-type'] = 'application/json';
  const opts = {
    url: `${origin}${fill(s.path, vars)}`,
    method: s.method,
    headers,
    body: s.body ? LOGIN_BODY : undefined,
    connections: s.connections,
    pipelining: s.pipelining,
    durationSec,
    onTick,
  };
  return s.tool === 'h2load' ? h2loadRun({ ...opts, streams: s.streams ?? 1 }) : autocannonRun(opts);
}

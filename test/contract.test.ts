import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { H1Client, type Reply } from './helpers/clients.ts';
import { killOnExit, ROOT, type RunningCluster, startCluster } from './helpers/cluster.ts';
import { createTestDatabase, stopPostgresServer, type TestDatabase } from './helpers/database.ts';
import { NodeDouble } from './helpers/node-double.ts';
import { until } from './helpers/until.ts';

// Every response below is checked against the schema the served OpenAPI document declares for
// its path, method and status: the contract clients rely on is the one the service keeps.
let db: TestDatabase;
let cluster: RunningCluster;
let h1: H1Client;
const node = new NodeDouble();
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats.default(ajv);

const pointer = (s: string) => s.replaceAll('~', '~0').replaceAll('/', '~1');

function conforms(res: Reply, openapiPath: string, method: string): void {
  const status = String(res.status);
  const type = String(res.headers['content-type'] ?? '').split(';')[0] as string;
  const responses = `openapi#/paths/${pointer(openapiPath)}/${method}/responses`;
  const doc = ajv.getSchema('openapi')?.schema as {
    paths: Record<
      string,
      Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>
    >;
  };
  const declared = doc.paths[openapiPath]?.[method]?.responses;
  assert.ok(declared, `${method.toUpperCase()} ${openapiPath} is in the contract`);
  const key = status in declared ? status : 'default';
  const content = declared[key]?.content;
  if (!content) {
    assert.equal(res.body.length, 0, `${status} declares no body`);
    return;
  }
  assert.ok(type in content, `${method} ${openapiPath} ${status}: ${type} is declared`);
  const validate = ajv.compile({ $ref: `${responses}/${key}/content/${pointer(type)}/schema` });
  const ok = validate(res.json());
  assert.ok(ok, `${method} ${openapiPath} ${status}: ${ajv.errorsText(validate.errors)}`);
}

before(async () => {
  db = await createTestDatabase();
  await node.start();
  cluster = await startCluster({
    env: {
      DATABASE_URL: db.url,
      ARGON2_MEMORY_KIB: '1024',
      ARGON2_TIME_COST: '1',
      DEFAULT_SCOPES: 'miner:read,miner:control,node:rpc',
      MINER_CMD: process.execPath,
      MINER_ARGS: path.join(ROOT, 'src/miner/sim-miner.ts'),
      SIM_MINER_INTERVAL_MS: '50',
      SIM_MINER_BLOCK_CHANCE: '0.5',
      STATS_PERSIST_INTERVAL_MS: '100',
      NODE_RPC_URL: node.url,
      BLOCK_VALIDATE_RETRY_MS: '100',
    },
  });
  killOnExit(cluster);
  h1 = new H1Client();
  ajv.addSchema((await h1.request(`${cluster.http}/api/openapi.json`)).json(), 'openapi');
});

after(async () => {
  await h1?.close();
  assert.equal(await cluster?.stop(), 0);
  await node.close();
  await db?.drop();
  await stopPostgresServer();
});

describe('every response follows the OpenAPI contract', () => {
  it('for health, auth, rig and errors', async () => {
    const url = (p: string) => `${cluster.http}${p}`;
    const json = { 'content-type': 'application/json' };
    const credentials = JSON.stringify({ email: 'contract@example.com', password: 'contract password' });

    conforms(await h1.request(url('/api/health')), '/api/health', 'get');
    conforms(await h1.request(url('/api/ready')), '/api/ready', 'get');
    conforms(
      await h1.request(url('/api/auth/register'), { method: 'POST', headers: json, body: credentials }),
      '/api/auth/register',
      'post',
    );
    const login = await h1.request(url('/api/auth/login'), {
      method: 'POST',
      headers: json,
      body: credentials,
    });
    conforms(login, '/api/auth/login', 'post');
    const { accessToken, refreshToken } = login.json<{ accessToken: string; refreshToken: string }>();
    const auth = { authorization: `Bearer ${accessToken}` };
    conforms(await h1.request(url('/api/auth/me'), { headers: auth }), '/api/auth/me', 'get');
    const refreshed = await h1.request(url('/api/auth/refresh'), {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ refreshToken }),
    });
    conforms(refreshed, '/api/auth/refresh', 'post');

    conforms(await h1.request(url('/api/miner/status'), { headers: auth }), '/api/miner/status', 'get');
    conforms(
      await h1.request(url('/api/miner/start'), { method: 'POST', headers: auth }),
      '/api/miner/start',
      'post',
    );
    await until('a validated block', async () => {
      const page = (await h1.request(url('/api/blocks/validated'), { headers: auth })).json<{
        items: unknown[];
      }>();
      return page.items.length > 0 ? true : undefined;
    });
    conforms(await h1.request(url('/api/stats'), { headers: auth }), '/api/stats', 'get');
    conforms(
      await h1.request(url('/api/stats/history?step=1'), { headers: auth }),
      '/api/stats/history',
      'get',
    );
    conforms(
      await h1.request(url('/api/blocks/validated?limit=2'), { headers: auth }),
      '/api/blocks/validated',
      'get',
    );
    conforms(
      await h1.request(url('/api/miner/stop'), { method: 'POST', headers: auth }),
      '/api/miner/stop',
      'post',
    );

    // Errors are problem documents, as the `default` response says.
    conforms(await h1.request(url('/api/auth/me')), '/api/auth/me', 'get');
    conforms(
      await h1.request(url('/api/blocks/validated?limit=0'), { headers: auth }),
      '/api/blocks/validated',
      'get',
    );
    conforms(
      await h1.request(url('/api/auth/login'), { method: 'POST', headers: json, body: '{}' }),
      '/api/auth/login',
      'post',
    );
  });
});

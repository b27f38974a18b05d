import { describe, it } from 'node:test';
import type { Reply } from './helpers/clients.ts';
import { useCluster } from './helpers/cluster.ts';
import { minerWithNode, NodeDouble } from './helpers/node-double.ts';
import { openapiChecker } from './helpers/openapi.ts';
import { until } from './helpers/until.ts';

// Every response below is checked against the schema the served OpenAPI document declares for
// its path, method and status: the contract clients rely on is the one the service keeps.
const node = new NodeDouble();
const service = useCluster(
  {
    doubles: [node],
    env: () => ({ ...minerWithNode(node), STATS_PERSIST_INTERVAL_MS: '100', BLOCK_VALIDATE_RETRY_MS: '100' }),
  },
  async () => {
    conforms = openapiChecker((await service.h1.request(service.url('/api/openapi.json'))).json());
  },
);
let conforms: (res: Reply, openapiPath: string, method: string) => void;

describe('every response follows the OpenAPI contract', () => {
  it('for health, auth, rig and errors', async () => {
    const { h1, url } = service;
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

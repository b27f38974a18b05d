import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type H1Client, H2Client, type Reply } from './helpers/clients.ts';
import { type RunningCluster, useCluster } from './helpers/cluster.ts';
import { Api, newUser } from './helpers/workspace.ts';

// Small limits so a burst crosses them: 3 projects a user; 600 bytes a project, 1000 a user.
describe('per-user limits on projects and storage', () => {
  const service = useCluster(
    {
      env: { PROJECTS_MAX_PER_USER: '3', VFS_QUOTA_BYTES: '600', USER_QUOTA_BYTES: '1000' },
    },
    () => {
      ({ cluster, h1 } = service);
    },
  );
  let cluster: RunningCluster;
  let h1: H1Client;

  /** Sends every request at once, half over HTTP/1.1 and half over HTTP/2 (both workers busy). */
  async function burst(token: string, requests: { method: string; path: string; body: string }[]) {
    const h2 = new H2Client(cluster.http);
    try {
      return await Promise.all(
        requests.map((r, i): Promise<Reply> => {
          const headers = {
            authorization: `Bearer ${token}`,
            'content-type': r.method === 'POST' ? 'application/json' : 'application/octet-stream',
          };
          return i % 2
            ? h2.request(r.path, { method: r.method, headers, body: r.body })
            : h1.request(`${cluster.http}${r.path}`, { method: r.method, headers, body: r.body });
        }),
      );
    } finally {
      await h2.close();
    }
  }

  it('creates at most PROJECTS_MAX_PER_USER projects from a concurrent burst, then 413 QUOTA_EXCEEDED', async () => {
    const user = await newUser(h1, cluster.http);
    const replies = await burst(
      user.token,
      Array.from({ length: 12 }, (_, i) => ({
        method: 'POST',
        path: '/api/projects',
        body: JSON.stringify({ name: `p${i}` }),
      })),
    );
    const created = replies.filter((r) => r.status === 201);
    const refused = replies.filter((r) => r.status !== 201);
    assert.equal(created.length, 3, replies.map((r) => r.status).join(','));
    for (const r of refused) {
      assert.equal(r.status, 413, r.text());
      assert.equal(r.json().code, 'QUOTA_EXCEEDED');
      assert.equal(r.json().kind, 'projects');
    }
    const as = new Api(h1, cluster.http, user.token);
    assert.equal((await as.request('/api/projects')).json<{ items: unknown[] }>().items.length, 3);

    // Another user is not affected; deleting a project makes room again.
    const other = new Api(h1, cluster.http, (await newUser(h1, cluster.http)).token);
    await other.createProject();
    const first = created[0]?.json<{ id: string }>().id;
    assert.equal((await as.request(`/api/projects/${first}`, { method: 'DELETE' })).status, 204);
    await as.createProject();
    assert.equal((await as.json('POST', '/api/projects', { name: 'one too many' })).status, 413);
  });

  it("keeps the sum of a user's projects within USER_QUOTA_BYTES under concurrent uploads", async () => {
    const user = await newUser(h1, cluster.http);
    const as = new Api(h1, cluster.http, user.token);
    const projects = [await as.createProject(), await as.createProject()];
    // 5 × 300 bytes into each project: each project's quota (600) lets 2 in, 4 in all, but the
    // user's (1000) only 3.
    const replies = await burst(
      user.token,
      Array.from({ length: 10 }, (_, i) => ({
        method: 'PUT',
        path: `/api/projects/${projects[i % 2]}/files/f${i}.bin`,
        body: 'x'.repeat(300),
      })),
    );
    assert.equal(replies.filter((r) => r.status === 201).length, 3, replies.map((r) => r.status).join(','));
    for (const r of replies.filter((x) => x.status !== 201)) {
      assert.equal(r.status, 413, r.text());
      assert.equal(r.json().code, 'QUOTA_EXCEEDED');
    }
    const listed = (await as.request('/api/projects')).json<{ items: { id: string; totalBytes: number }[] }>()
      .items;
    assert.equal(
      listed.reduce((n, p) => n + p.totalBytes, 0),
      900,
    );

    // A write past the user's quota names it; shrinking is always allowed.
    const roomy = listed.find((p) => p.totalBytes <= 300);
    assert.ok(roomy);
    const over = await as.put(roomy.id, 'more.bin', 'y'.repeat(200));
    assert.equal(over.status, 413, over.text());
    assert.equal(over.json().kind, 'userBytes');
    assert.equal(over.json().limit, 1000);
    const files = (await as.request(`/api/projects/${roomy.id}/files`)).json<{ files: { path: string }[] }>()
      .files;
    const shrunk = await as.put(roomy.id, files[0]?.path ?? '', 'small');
    assert.equal(shrunk.status, 200, shrunk.text());
    assert.equal((await as.put(roomy.id, 'more.bin', 'y'.repeat(90))).status, 201);
  });
});

import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { parseConfig } from '../src/config.ts';
import { AccessTokens } from '../src/modules/auth/auth.tokens.ts';
import { bearer, type H1Client, H2Client, h2once } from './helpers/clients.ts';
import { type RunningCluster, useCluster } from './helpers/cluster.ts';
import { openapiChecker } from './helpers/openapi.ts';
import { SseStream } from './helpers/sse.ts';
import { Api, newUser, type TestUser } from './helpers/workspace.ts';

const JWT_SECRET = randomBytes(36).toString('base64url');

interface Project {
  id: string;
  name: string;
  description: string;
  revision: number;
  fileCount: number;
  totalBytes: number;
  createdAt: string;
  updatedAt: string;
}

describe('projects', () => {
  const service = useCluster({ env: { JWT_SECRET } }, async () => {
    ({ cluster, h1 } = service);
    alice = await newUser(h1, cluster.http);
    bob = await newUser(h1, cluster.http);
    asAlice = new Api(h1, cluster.http, alice.token);
    asBob = new Api(h1, cluster.http, bob.token);
  });
  let cluster: RunningCluster;
  let h1: H1Client;
  let alice: TestUser;
  let bob: TestUser;
  let asAlice: Api;
  let asBob: Api;

  describe('POST /api/projects and GET /api/projects/:id', () => {
    it('creates a project (201, Location) that its owner reads back, over HTTP/1.1 and HTTP/2', async () => {
      const res = await asAlice.json('POST', '/api/projects', {
        name: '  Notes  ',
        description: 'line 1\nline 2',
      });
      assert.equal(res.status, 201, res.text());
      const created = res.json<Project>();
      assert.equal(res.headers.location, `/api/projects/${created.id}`);
      assert.equal(created.name, 'Notes', 'the name is trimmed');
      assert.equal(created.description, 'line 1\nline 2');
      assert.deepEqual([created.revision, created.fileCount, created.totalBytes], [0, 0, 0]);

      const viaH2 = await h2once(cluster.http, `/api/projects/${created.id}`, {
        headers: bearer(alice.token),
      });
      assert.equal(viaH2.status, 200);
      assert.deepEqual(viaH2.json(), created);
    });

    it('rejects names that are empty, blank, too long or hold control characters, and unknown fields', async () => {
      for (const body of [
        {},
        { name: '' },
        { name: '   ' },
        { name: 'x'.repeat(201) },
        { name: 'tab\there' },
        { name: 'nul\u0000' },
        { name: 'ok', description: 'nul\u0000' },
        { name: 'ok', owner: bob.id },
      ]) {
        const res = await asAlice.json('POST', '/api/projects', body);
        assert.equal(res.status, 400, `${JSON.stringify(body)} → ${res.text()}`);
        assert.equal(res.json().code, 'VALIDATION_FAILED');
      }
    });

    it('keeps the worker answering while a huge name with a control character is refused (ReDoS)', async () => {
      // One HTTP/2 connection is one worker: the health check queues behind the hostile bodies
      // on the same event loop. The old pattern needed ~2 s for 48,000 characters and grew 4x
      // per doubling; 1,000,000 would hold the worker for many minutes.
      const session = new H2Client(cluster.http);
      try {
        const auth = { ...bearer(alice.token), 'content-type': 'application/json' };
        const id = await asAlice.createProject();
        const hostile = JSON.stringify({ name: `${'a'.repeat(1_000_000)}\u0001` });
        const posted = session.request('/api/projects', { method: 'POST', headers: auth, body: hostile });
        const patched = session.request(`/api/projects/${id}`, {
          method: 'PATCH',
          headers: auth,
          body: hostile,
        });
        const health = session.request('/api/health');
        const [post, patch, alive] = await Promise.all([posted, patched, health]);
        assert.equal(alive.status, 200);
        for (const res of [post, patch]) {
          assert.equal(res.status, 400, res.text());
          // Only the length is reported: no pattern ran on a string over its maxLength.
          const errors = res.json<{ errors: { path: string; message: string }[] }>().errors;
          assert.deepEqual(
            errors.map((e) => e.path),
            ['/name'],
          );
          assert.match(errors[0]?.message ?? '', /must NOT have more than 200 characters/);
        }
        const blank = await session.request('/api/projects', {
          method: 'POST',
          headers: auth,
          body: JSON.stringify({ name: `${' '.repeat(150)}\u0001` }),
        });
        assert.equal(blank.status, 400);
      } finally {
        await session.close();
      }
    });

    it('answers 400 for an id that is not a UUID and 404 for an unknown one', async () => {
      const bad = await asAlice.request('/api/projects/not-a-uuid');
      assert.equal(bad.status, 400);
      const unknown = await asAlice.request(`/api/projects/${randomUUID()}`);
      assert.equal(unknown.status, 404);
      assert.equal(unknown.json().code, 'NOT_FOUND');
    });
  });

  describe('scopes', () => {
    it('requires a token, projects:read to read and projects:write to change', async () => {
      const id = await asAlice.createProject();
      assert.equal((await h1.request(`${cluster.http}/api/projects`)).status, 401);
      assert.equal((await h1.request(`${cluster.http}/api/projects/${id}/files`)).status, 401);

      const tokens = new AccessTokens(parseConfig({ JWT_SECRET }));
      const readOnly = new Api(
        h1,
        cluster.http,
        await tokens.issue({ id: alice.id, scopes: ['projects:read'] }),
      );
      assert.equal((await readOnly.request(`/api/projects/${id}`)).status, 200);
      for (const res of [
        await readOnly.json('POST', '/api/projects', { name: 'x' }),
        await readOnly.json('PATCH', `/api/projects/${id}`, { name: 'x' }),
        await readOnly.request(`/api/projects/${id}`, { method: 'DELETE' }),
        await readOnly.put(id, 'a.txt', 'a'),
        await readOnly.request(`/api/projects/${id}/files/a.txt`, { method: 'DELETE' }),
        await readOnly.json('POST', `/api/projects/${id}/files:move`, { from: 'a', to: 'b' }),
      ]) {
        assert.equal(res.status, 403, res.text());
        assert.deepEqual(res.json().requiredScopes, ['projects:write']);
      }
      const minerOnly = new Api(
        h1,
        cluster.http,
        await tokens.issue({ id: alice.id, scopes: ['miner:read'] }),
      );
      assert.equal((await minerOnly.request(`/api/projects/${id}`)).status, 403);
      assert.equal((await minerOnly.request(`/api/projects/${id}/files`)).status, 403);
    });

    it('answers 401 when the account behind a still-valid token is gone', async () => {
      const tokens = new AccessTokens(parseConfig({ JWT_SECRET }));
      const ghost = new Api(
        h1,
        cluster.http,
        await tokens.issue({ id: randomUUID(), scopes: ['projects:read', 'projects:write'] }),
      );
      const res = await ghost.json('POST', '/api/projects', { name: 'orphan' });
      assert.equal(res.status, 401, res.text());
      assert.deepEqual((await ghost.request('/api/projects')).json().items, []);
    });
  });

  describe('isolation between users', () => {
    it("answers 404, never 403, for every route on another user's project, and changes nothing", async () => {
      const id = await asAlice.createProject('private');
      assert.equal((await asAlice.put(id, 'secret.txt', 'for alice only')).status, 201);
      const probes = [
        await asBob.request(`/api/projects/${id}`),
        await asBob.json('PATCH', `/api/projects/${id}`, { name: 'mine now' }),
        await asBob.request(`/api/projects/${id}`, { method: 'DELETE' }),
        await asBob.request(`/api/projects/${id}/files`),
        await asBob.get(id, 'secret.txt'),
        await asBob.put(id, 'secret.txt', 'overwritten'),
        await asBob.put(id, 'new.txt', 'planted'),
        await asBob.request(`/api/projects/${id}/files/secret.txt`, { method: 'DELETE' }),
        await asBob.json('POST', `/api/projects/${id}/files:move`, { from: 'secret.txt', to: 'x.txt' }),
      ];
      for (const res of probes) {
        assert.equal(res.status, 404, res.text());
        assert.equal(res.json().code, 'NOT_FOUND');
      }
      const head = await asBob.request(`/api/projects/${id}/files/secret.txt`, { method: 'HEAD' });
      assert.equal(head.status, 404);
      assert.equal(head.body.length, 0, 'HEAD answers without a body');
      // An unknown id and someone else's answer alike.
      const unknown = await asBob.request(`/api/projects/${randomUUID()}`);
      assert.equal(unknown.json().detail, probes[0]?.json().detail);

      const stream = await SseStream.h1(`${cluster.http}/api/sse/projects/${id}`, bearer(bob.token));
      assert.equal(stream.status, 404);

      const project = (await asAlice.request(`/api/projects/${id}`)).json<Project>();
      assert.equal(project.name, 'private');
      assert.equal(project.fileCount, 1);
      assert.equal((await asAlice.get(id, 'secret.txt')).text(), 'for alice only');
      const bobs = (await asBob.request('/api/projects?limit=500')).json<{ items: Project[] }>().items;
      assert.ok(!bobs.some((p) => p.id === id), "alice's project is not in bob's list");
    });
  });

  describe('GET /api/projects', () => {
    it("lists only the caller's projects, newest first, in keyset pages", async () => {
      const carol = await newUser(h1, cluster.http);
      const asCarol = new Api(h1, cluster.http, carol.token);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push(await asCarol.createProject(`c${i}`));
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const q: string = cursor ? `&cursor=${cursor}` : '';
        const res = await asCarol.request(`/api/projects?limit=2${q}`);
        assert.equal(res.status, 200, res.text());
        const page = res.json<{ items: Project[]; nextCursor: string | null }>();
        assert.ok(page.items.length <= 2);
        seen.push(...page.items.map((p) => p.id));
        cursor = page.nextCursor;
      } while (cursor);
      assert.deepEqual(seen, ids.toReversed());
    });

    it('answers 400 for a cursor it did not issue and for limits out of range', async () => {
      for (const q of [
        'cursor=nope',
        `cursor=${Buffer.from('["x","y"]').toString('base64url')}`,
        'limit=0',
        'limit=501',
      ]) {
        const res = await asAlice.request(`/api/projects?${q}`);
        assert.equal(res.status, 400, q);
        assert.equal(res.json().code, 'VALIDATION_FAILED');
      }
    });
  });

  describe('PATCH /api/projects/:id', () => {
    it('renames and redescribes, keeping what is not sent', async () => {
      const id = await asAlice.createProject('before');
      const renamed = await asAlice.json('PATCH', `/api/projects/${id}`, { name: 'after' });
      assert.equal(renamed.status, 200);
      assert.equal(renamed.json().name, 'after');
      const described = await asAlice.json('PATCH', `/api/projects/${id}`, { description: 'now with words' });
      assert.deepEqual([described.json().name, described.json().description], ['after', 'now with words']);
      assert.equal((await asAlice.json('PATCH', `/api/projects/${id}`, {})).status, 400);
    });
  });

  describe('DELETE /api/projects/:id', () => {
    it('deletes the project with its files; afterwards it is 404 everywhere', async () => {
      const id = await asAlice.createProject('doomed');
      await asAlice.put(id, 'a/b.txt', 'b');
      const del = await asAlice.request(`/api/projects/${id}`, { method: 'DELETE' });
      assert.equal(del.status, 204);
      assert.equal((await asAlice.request(`/api/projects/${id}`)).status, 404);
      assert.equal((await asAlice.get(id, 'a/b.txt')).status, 404);
      assert.equal((await asAlice.put(id, 'a/c.txt', 'c')).status, 404);
      assert.equal((await asAlice.request(`/api/projects/${id}`, { method: 'DELETE' })).status, 404);
    });
  });

  describe('the OpenAPI document', () => {
    it('declares the schemas the JSON answers follow', async () => {
      const conforms = openapiChecker((await h1.request(`${cluster.http}/api/openapi.json`)).json());
      const created = await asAlice.json('POST', '/api/projects', { name: 'contract' });
      conforms(created, '/api/projects', 'post');
      const id = created.json().id as string;
      conforms(await asAlice.request('/api/projects?limit=1'), '/api/projects', 'get');
      conforms(await asAlice.request(`/api/projects/${id}`), '/api/projects/{id}', 'get');
      conforms(
        await asAlice.json('PATCH', `/api/projects/${id}`, { name: 'c2' }),
        '/api/projects/{id}',
        'patch',
      );
      conforms(await asAlice.put(id, 'dir/a.txt', 'a'), '/api/projects/{id}/files/{path}', 'put');
      conforms(await asAlice.put(id, 'dir/a.txt', 'b'), '/api/projects/{id}/files/{path}', 'put');
      conforms(await asAlice.put(id, '..%2Fx', 'b'), '/api/projects/{id}/files/{path}', 'put');
      conforms(await asAlice.request(`/api/projects/${id}/files`), '/api/projects/{id}/files', 'get');
      conforms(
        await asAlice.json('POST', `/api/projects/${id}/files:move`, { from: 'dir', to: 'lib' }),
        '/api/projects/{id}/files:move',
        'post',
      );
      conforms(await asBob.request(`/api/projects/${id}`), '/api/projects/{id}', 'get');
      conforms(
        await asAlice.request(`/api/projects/${id}/files/lib/a.txt`, { method: 'DELETE' }),
        '/api/projects/{id}/files/{path}',
        'delete',
      );
      conforms(
        await asAlice.request(`/api/projects/${id}`, { method: 'DELETE' }),
        '/api/projects/{id}',
        'delete',
      );
    });

    it('describes the projects, files and event-stream routes', async () => {
      const doc = (await h1.request(`${cluster.http}/api/openapi.json`)).json<{
        paths: Record<string, object>;
      }>();
      for (const path of [
        '/api/projects',
        '/api/projects/{id}',
        '/api/projects/{id}/files',
        '/api/projects/{id}/files/{path}',
        '/api/projects/{id}/files:move',
        '/api/sse/projects/{id}',
      ]) {
        assert.ok(path in doc.paths, `${path} is documented`);
      }
      assert.deepEqual(Object.keys(doc.paths['/api/projects/{id}/files/{path}'] ?? {}).sort(), [
        'delete',
        'get',
        'put',
      ]);
    });
  });
});

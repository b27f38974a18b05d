import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http2 from 'node:http2';
import { after, describe, it } from 'node:test';
import { contentHash } from '../src/native/xxhash.ts';
import { bearer, type H1Client, h2request, type Reply } from './helpers/clients.ts';
import { type RunningCluster, useCluster } from './helpers/cluster.ts';
import { Api, newUser } from './helpers/workspace.ts';

const MAX_FILE = 40_000;
const QUOTA = 65_536;
const MAX_FILES = 25;

interface Entry {
  path: string;
  size: number;
  contentHash: string;
  version: number;
  updatedAt: string;
}

interface Project {
  revision: number;
  fileCount: number;
  totalBytes: number;
}

describe('the virtual file system', () => {
  // Closed before the service stops (hooks run in the order they are registered).
  after(() => h2?.close());
  const service = useCluster(
    {
      env: {
        VFS_MAX_FILE_BYTES: String(MAX_FILE),
        VFS_QUOTA_BYTES: String(QUOTA),
        VFS_MAX_FILES: String(MAX_FILES),
      },
    },
    async () => {
      ({ cluster, h1 } = service);
      token = (await newUser(h1, cluster.http)).token;
      api = new Api(h1, cluster.http, token);
      h2 = http2.connect(cluster.http);
      h2.on('error', () => undefined);
    },
  );
  let cluster: RunningCluster;
  let h1: H1Client;
  let api: Api;
  let token: string;
  let h2: http2.ClientHttp2Session;
  const auth = () => bearer(token);
  const project = async (id: string) => (await api.request(`/api/projects/${id}`)).json<Project>();
  const tree = async (id: string) =>
    (await api.request(`/api/projects/${id}/files`)).json<{ files: Entry[] }>();
  const move = (id: string, body: Record<string, unknown>) =>
    api.json('POST', `/api/projects/${id}/files:move`, body);
  /** A raw request on HTTP/2: the path goes out exactly as written (no URL normalisation). */
  const raw = (
    path: string,
    init: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
  ) => h2request(h2, path, { ...init, headers: { ...auth(), ...init.headers } });

  describe('PUT and GET /api/projects/:id/files/*path', () => {
    it('creates (201, Location, ETag), replaces (200, new version) and serves the exact bytes', async () => {
      const id = await api.createProject();
      const created = await api.put(id, 'docs/readme.md', '# hello\n');
      assert.equal(created.status, 201, created.text());
      const entry = created.json<Entry>();
      assert.equal(entry.path, 'docs/readme.md');
      assert.equal(entry.size, 8);
      assert.equal(entry.contentHash, contentHash('# hello\n'));
      assert.equal(created.headers.etag, `"${entry.contentHash}"`);
      assert.equal(created.headers.location, `/api/projects/${id}/files/docs/readme.md`);

      const read = await api.get(id, 'docs/readme.md');
      assert.equal(read.status, 200);
      assert.equal(read.text(), '# hello\n');
      assert.equal(read.headers.etag, created.headers.etag);
      assert.equal(read.headers['content-type'], 'text/markdown; charset=utf-8');
      assert.match(String(read.headers['cache-control']), /no-cache/);
      assert.match(String(read.headers['content-security-policy']), /sandbox/);

      const replaced = await api.put(id, 'docs/readme.md', '# hello again\n');
      assert.equal(replaced.status, 200);
      assert.ok(replaced.json<Entry>().version > entry.version);
      assert.equal((await api.get(id, 'docs/readme.md')).text(), '# hello again\n');

      const head = await api.request(`/api/projects/${id}/files/docs/readme.md`, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.headers.etag, replaced.headers.etag);
      assert.equal(head.body.length, 0);
    });

    it('stores a .json file sent as application/json byte for byte, on HTTP/1.1 and HTTP/2', async () => {
      const id = await api.createProject();
      const text = '{ "b":1,\n  "a" : [1,2 ,3] }\n';
      const viaH1 = await api.put(id, 'h1.json', text, { 'content-type': 'application/json' });
      assert.equal(viaH1.status, 201, viaH1.text());
      const viaH2 = await raw(`/api/projects/${id}/files/h2.json`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: text,
      });
      assert.equal(viaH2.status, 201, viaH2.body.toString());
      for (const name of ['h1.json', 'h2.json']) {
        const read = await api.get(id, name);
        assert.equal(read.text(), text);
        assert.equal(read.headers['content-type'], 'application/json; charset=utf-8');
      }
      // Not-JSON sent as JSON is just bytes too.
      assert.equal(
        (await api.put(id, 'broken.json', '{nope', { 'content-type': 'application/json' })).status,
        201,
      );
    });

    it('round-trips binary content and an empty file over HTTP/2', async () => {
      const id = await api.createProject();
      const bytes = randomBytes(30_000);
      const put = await raw(`/api/projects/${id}/files/blob.bin`, { method: 'PUT', body: bytes });
      assert.equal(put.status, 201);
      const got = await raw(`/api/projects/${id}/files/blob.bin`, {
        headers: { 'accept-encoding': 'identity' },
      });
      assert.equal(got.headers['content-type'], 'application/octet-stream');
      assert.ok(got.body.equals(bytes));
      const empty = await raw(`/api/projects/${id}/files/empty.txt`, { method: 'PUT', body: '' });
      assert.equal(empty.status, 201);
      assert.equal(JSON.parse(empty.body.toString()).size, 0);
      assert.equal((await api.get(id, 'empty.txt')).body.length, 0);
    });

    it('treats writing the same bytes again as no change (same version, no new revision)', async () => {
      const id = await api.createProject();
      const first = (await api.put(id, 'same.txt', 'same')).json<Entry>();
      const revision = (await project(id)).revision;
      const again = await api.put(id, 'same.txt', 'same');
      assert.equal(again.status, 200);
      assert.equal(again.json<Entry>().version, first.version);
      assert.equal((await project(id)).revision, revision);
    });

    it('answers 404 for a missing file', async () => {
      const id = await api.createProject();
      const res = await api.get(id, 'nope.txt');
      assert.equal(res.status, 404);
      assert.equal(res.json().code, 'NOT_FOUND');
    });
  });

  describe('conditional requests', () => {
    it('answers 304 for a matching If-None-Match (exact, weak, in a list, *) and 200 otherwise', async () => {
      const id = await api.createProject();
      const etag = String((await api.put(id, 'c.txt', 'cached')).headers.etag);
      for (const inm of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
        const res = await api.get(id, 'c.txt', { 'if-none-match': inm });
        assert.equal(res.status, 304, inm);
        assert.equal(res.body.length, 0);
        assert.equal(res.headers.etag, etag);
      }
      const changed = await api.get(id, 'c.txt', { 'if-none-match': '"0000000000000000"' });
      assert.equal(changed.status, 200);
      assert.equal(changed.text(), 'cached');
      const viaH2 = await raw(`/api/projects/${id}/files/c.txt`, { headers: { 'if-none-match': etag } });
      assert.equal(viaH2.status, 304);
    });

    it('replaces only while If-Match holds; 412 PRECONDITION_FAILED otherwise, file unchanged', async () => {
      const id = await api.createProject();
      const etag = String((await api.put(id, 'm.txt', 'v1')).headers.etag);
      const ok = await api.put(id, 'm.txt', 'v2', { 'if-match': etag });
      assert.equal(ok.status, 200);
      const stale = await api.put(id, 'm.txt', 'v3', { 'if-match': etag });
      assert.equal(stale.status, 412);
      assert.equal(stale.json().code, 'PRECONDITION_FAILED');
      const weak = await api.put(id, 'm.txt', 'v3', { 'if-match': `W/${ok.headers.etag}` });
      assert.equal(weak.status, 412, 'If-Match compares strongly');
      assert.equal((await api.get(id, 'm.txt')).text(), 'v2');
      assert.equal((await api.put(id, 'm.txt', 'v3', { 'if-match': '*' })).status, 200);
      const missing = await api.put(id, 'never.txt', 'x', { 'if-match': '*' });
      assert.equal(missing.status, 412, 'If-Match on a missing file');
      assert.equal((await api.get(id, 'never.txt')).status, 404);
    });

    it('creates only with If-None-Match: *', async () => {
      const id = await api.createProject();
      const first = await api.put(id, 'once.txt', 'first', { 'if-none-match': '*' });
      assert.equal(first.status, 201);
      const second = await api.put(id, 'once.txt', 'second', { 'if-none-match': '*' });
      assert.equal(second.status, 412);
      assert.equal((await api.get(id, 'once.txt')).text(), 'first');
    });

    it('lets exactly one of N concurrent writers holding the same ETag win; the rest get 412', async () => {
      const id = await api.createProject();
      const etag = String((await api.put(id, 'race.txt', 'base')).headers.etag);
      const before = (await project(id)).revision;
      const N = 12;
      // Half over HTTP/1.1 connections, half over HTTP/2 sessions: the writers land on both workers.
      const sessions = Array.from({ length: N / 2 }, () => http2.connect(cluster.http));
      try {
        const replies = await Promise.all(
          Array.from({ length: N }, (_, i) =>
            i % 2 === 0
              ? api.put(id, 'race.txt', `writer ${i}`, { 'if-match': etag })
              : h2request(
                  sessions[(i - 1) / 2] as http2.ClientHttp2Session,
                  `/api/projects/${id}/files/race.txt`,
                  {
                    method: 'PUT',
                    headers: { ...auth(), 'if-match': etag },
                    body: `writer ${i}`,
                  },
                ),
          ),
        );
        const winners = replies.flatMap((r, i) => (r.status === 200 ? [i] : []));
        assert.equal(winners.length, 1, `statuses: ${replies.map((r) => r.status).join(',')}`);
        assert.ok(replies.every((r) => r.status === 200 || r.status === 412));
        assert.equal((await api.get(id, 'race.txt')).text(), `writer ${winners[0]}`);
        assert.equal((await project(id)).revision, before + 1);
      } finally {
        for (const s of sessions) s.close();
      }
    });

    it('lets exactly one of N concurrent If-None-Match: * creators win', async () => {
      const id = await api.createProject();
      const replies = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          api.put(id, 'new.txt', `creator ${i}`, { 'if-none-match': '*' }),
        ),
      );
      const statuses = replies.map((r) => r.status).sort();
      assert.deepEqual(statuses, [201, ...Array(9).fill(412)]);
    });

    it('without preconditions, N concurrent writers each get their own version: no update is lost', async () => {
      const id = await api.projectWith({ 'lww.txt': 'start' });
      const before = (await project(id)).revision;
      const N = 12;
      const replies = await Promise.all(Array.from({ length: N }, (_, i) => api.put(id, 'lww.txt', `w${i}`)));
      assert.ok(replies.every((r) => r.status === 200));
      const versions = replies.map((r) => r.json<Entry>().version).sort((a, b) => a - b);
      assert.deepEqual(
        versions,
        Array.from({ length: N }, (_, i) => before + 1 + i),
      );
      const last = replies.find((r) => r.json<Entry>().version === before + N) as Reply;
      const final = await api.get(id, 'lww.txt');
      assert.equal(final.headers['x-file-version'], String(before + N));
      assert.equal(final.headers.etag, last.headers.etag, 'the last writer is the one stored');
    });
  });

  describe('path rules', () => {
    const rejects = async (id: string, path: string, reason: string) => {
      const res = await raw(`/api/projects/${id}/files/${path}`, { method: 'PUT', body: 'x' });
      const body = JSON.parse(res.body.toString() || '{}');
      assert.equal(res.status, 400, `${path}: ${res.body}`);
      assert.equal(body.code, 'INVALID_PATH', path);
      assert.equal(body.reason, reason, path);
    };

    it('refuses .., absolute paths, control characters, backslashes, trailing slashes and empty paths', async () => {
      const id = await api.createProject();
      const refused = {
        'dot-dot': ['../x', 'a/../b', 'a/%2e%2e/b'],
        absolute: ['/etc/passwd'],
        'control-character': ['a%00b', 'a%01b', 'a%0Ab', 'a%7Fb', 'a%C2%85b'],
        backslash: ['a%5Cb'],
        'trailing-slash': ['dir/'],
        empty: ['.', './.'],
      };
      for (const [reason, paths] of Object.entries(refused)) {
        for (const path of paths) await rejects(id, path, reason);
      }
      const bad = await raw(`/api/projects/${id}/files/%ED%A0%80`, { method: 'PUT', body: 'x' });
      assert.equal(bad.status, 400, 'a percent-encoded lone surrogate');
      assert.deepEqual((await api.request(`/api/projects/${id}/files`)).json().files, []);
    });

    it('refuses names over 255 bytes, paths over 1024 bytes and deeper than 32 segments, and accepts the limits', async () => {
      const id = await api.createProject();
      const e = encodeURIComponent('é');
      await rejects(id, e.repeat(128), 'name-too-long');
      assert.equal(
        (await raw(`/api/projects/${id}/files/${e.repeat(127)}`, { method: 'PUT', body: 'x' })).status,
        201,
      );
      const name = 'n'.repeat(255);
      await rejects(id, [name, name, name, name, 'n'].join('/'), 'too-long');
      assert.equal((await api.put(id, [name, name, name, name.slice(0, 252)].join('/'), 'x')).status, 201);
      await rejects(id, Array(33).fill('d').join('/'), 'too-deep');
      assert.equal((await api.put(id, Array(32).fill('d').join('/'), 'x')).status, 201);
    });

    it('normalises repeated slashes, . segments and Unicode (NFC) to one file', async () => {
      const id = await api.createProject();
      const put = await raw(`/api/projects/${id}/files/a//b/./c.txt`, { method: 'PUT', body: 'abc' });
      assert.equal(put.status, 201);
      assert.equal(JSON.parse(put.body.toString()).path, 'a/b/c.txt');
      assert.equal((await api.get(id, 'a/b/c.txt')).text(), 'abc');
      const decomposed = encodeURIComponent('cafe\u0301.txt');
      const composed = encodeURIComponent('caf\u00e9.txt');
      assert.equal((await api.put(id, decomposed, 'one')).status, 201);
      const same = await api.put(id, composed, 'two');
      assert.equal(same.status, 200, 'the composed spelling names the same file');
      assert.equal(same.json<Entry>().path, 'caf\u00e9.txt');
    });

    it('applies the same rules to paths in a move body', async () => {
      const id = await api.projectWith({ 'a.txt': 'a' });
      for (const [to, reason] of [
        ['../a.txt', 'dot-dot'],
        ['/abs.txt', 'absolute'],
        ['nul\u0000.txt', 'control-character'],
        ['lone\ud800.txt', 'malformed-unicode'],
        ['win\\path.txt', 'backslash'],
      ] as const) {
        const res = await move(id, { from: 'a.txt', to });
        assert.equal(res.status, 400, `${JSON.stringify(to)}: ${res.text()}`);
        assert.equal(res.json().reason, reason);
      }
      assert.equal((await api.get(id, 'a.txt')).text(), 'a');
    });

    it('refuses a file where a directory is, and below a file (409)', async () => {
      const id = await api.projectWith({ 'src/main.ts': 'main' });
      const overDir = await api.put(id, 'src', 'x');
      assert.equal(overDir.status, 409);
      assert.equal(overDir.json().code, 'CONFLICT');
      const underFile = await api.put(id, 'src/main.ts/inner', 'x');
      assert.equal(underFile.status, 409);
    });
  });

  describe('limits', () => {
    it(`answers 413 PAYLOAD_TOO_LARGE above ${MAX_FILE} bytes, with or without Content-Length`, async () => {
      const id = await api.createProject();
      const big = Buffer.alloc(MAX_FILE + 1, 'x');
      const declared = await api.put(id, 'big.txt', big);
      assert.equal(declared.status, 413);
      assert.equal(declared.json().code, 'PAYLOAD_TOO_LARGE');
      // HTTP/2 without content-length: the limit applies while reading.
      const streamed = await raw(`/api/projects/${id}/files/big.txt`, { method: 'PUT', body: big });
      assert.equal(streamed.status, 413);
      assert.equal((await api.put(id, 'max.txt', Buffer.alloc(MAX_FILE, 'x'))).status, 201);
      assert.equal((await api.get(id, 'big.txt')).status, 404);
    });

    it(`answers 413 QUOTA_EXCEEDED past ${QUOTA} bytes per project and leaves the data intact`, async () => {
      const id = await api.createProject();
      const a = Buffer.alloc(30_000, 'a');
      const b = Buffer.alloc(30_000, 'b');
      assert.equal((await api.put(id, 'a.bin', a)).status, 201);
      assert.equal((await api.put(id, 'b.bin', b)).status, 201);
      const before = await project(id);
      const over = await api.put(id, 'c.bin', Buffer.alloc(10_000, 'c'));
      assert.equal(over.status, 413);
      assert.equal(over.json().code, 'QUOTA_EXCEEDED');
      const grow = await api.put(id, 'a.bin', Buffer.alloc(36_000, 'A'));
      assert.equal(grow.status, 413, 'growing a file counts too');
      assert.deepEqual(await project(id), before);
      assert.ok((await api.get(id, 'a.bin')).body.equals(a));
      assert.equal((await api.get(id, 'c.bin')).status, 404);
      // Shrinking and deleting make room again.
      assert.equal((await api.put(id, 'a.bin', 'small')).status, 200);
      assert.equal((await api.put(id, 'c.bin', Buffer.alloc(10_000, 'c'))).status, 201);
    });

    it('never lets concurrent writers take a project past its quota', async () => {
      const id = await api.createProject();
      const size = QUOTA / 4;
      const replies = await Promise.all(
        Array.from({ length: 8 }, (_, i) => api.put(id, `part-${i}.bin`, Buffer.alloc(size, i))),
      );
      const statuses = replies.map((r) => r.status).sort();
      assert.deepEqual(statuses, [201, 201, 201, 201, 413, 413, 413, 413]);
      const p = await project(id);
      assert.equal(p.totalBytes, QUOTA);
      assert.equal(p.fileCount, 4);
    });

    it(`answers 413 QUOTA_EXCEEDED for file ${MAX_FILES + 1} of a project, but replacing one still works`, async () => {
      const id = await api.createProject();
      for (let i = 0; i < MAX_FILES; i++) assert.equal((await api.put(id, `f${i}.txt`, 'x')).status, 201);
      const extra = await api.put(id, 'one-too-many.txt', 'x');
      assert.equal(extra.status, 413);
      assert.equal(extra.json().kind, 'files');
      assert.equal((await api.put(id, 'f0.txt', 'replaced')).status, 200);
      assert.equal((await project(id)).fileCount, MAX_FILES);
    });
  });

  describe('POST /api/projects/:id/files:move', () => {
    it('renames a file, keeping its content and ETag', async () => {
      const id = await api.createProject();
      const etag = (await api.put(id, 'old/name.txt', 'content')).headers.etag;
      const res = await move(id, {
        from: 'old/name.txt',
        to: 'new/name.txt',
      });
      assert.equal(res.status, 200, res.text());
      const body = res.json<{ from: string; to: string; directory: boolean; files: Entry[] }>();
      assert.deepEqual([body.from, body.to, body.directory], ['old/name.txt', 'new/name.txt', false]);
      assert.equal(body.files[0]?.path, 'new/name.txt');
      assert.equal((await api.get(id, 'old/name.txt')).status, 404);
      const moved = await api.get(id, 'new/name.txt');
      assert.equal(moved.text(), 'content');
      assert.equal(moved.headers.etag, etag);
    });

    it('answers 409 when the destination exists, unless overwrite (then usage adds up)', async () => {
      const id = await api.projectWith({ 'a.txt': 'aaaa', 'b.txt': 'bb' });
      const refused = await move(id, {
        from: 'a.txt',
        to: 'b.txt',
      });
      assert.equal(refused.status, 409);
      assert.equal((await api.get(id, 'b.txt')).text(), 'bb');
      const forced = await move(id, {
        from: 'a.txt',
        to: 'b.txt',
        overwrite: true,
      });
      assert.equal(forced.status, 200);
      assert.equal((await api.get(id, 'b.txt')).text(), 'aaaa');
      const p = await project(id);
      assert.deepEqual([p.fileCount, p.totalBytes], [1, 4]);
    });

    it('moves a directory with everything below it', async () => {
      const id = await api.projectWith({
        'src/a.ts': 'a',
        'src/lib/b.ts': 'b',
        'srcfile.ts': 'not below src/',
      });
      const res = await move(id, { from: 'src', to: 'pkg/src' });
      assert.equal(res.status, 200, res.text());
      assert.deepEqual(
        res.json<{ files: Entry[] }>().files.map((f) => f.path),
        ['pkg/src/a.ts', 'pkg/src/lib/b.ts'],
      );
      const listed = await tree(id);
      assert.deepEqual(
        listed.files.map((f) => f.path),
        ['pkg/src/a.ts', 'pkg/src/lib/b.ts', 'srcfile.ts'],
      );
      const into = await move(id, { from: 'pkg', to: 'pkg/inner' });
      assert.equal(into.status, 409, 'a directory cannot move into itself');
    });

    it('answers 404 for a missing source and 400 for the same path', async () => {
      const id = await api.projectWith({ 'x.txt': 'x' });
      assert.equal((await move(id, { from: 'nope', to: 'y' })).status, 404);
      const same = await move(id, { from: 'x.txt', to: './x.txt' });
      assert.equal(same.status, 400);
      assert.equal((await move(id, { from: 'x.txt' })).status, 400);
    });
  });

  describe('DELETE /api/projects/:id/files/*path', () => {
    it('deletes a file (204), then answers 404; If-Match must hold', async () => {
      const id = await api.createProject();
      const etag = String((await api.put(id, 'd.txt', 'v1')).headers.etag);
      await api.put(id, 'd.txt', 'v2');
      const stale = await api.request(`/api/projects/${id}/files/d.txt`, {
        method: 'DELETE',
        headers: { 'if-match': etag },
      });
      assert.equal(stale.status, 412);
      assert.equal((await api.get(id, 'd.txt')).text(), 'v2');
      assert.equal((await api.request(`/api/projects/${id}/files/d.txt`, { method: 'DELETE' })).status, 204);
      assert.equal((await api.get(id, 'd.txt')).status, 404);
      assert.equal((await api.request(`/api/projects/${id}/files/d.txt`, { method: 'DELETE' })).status, 404);
      const p = await project(id);
      assert.deepEqual([p.fileCount, p.totalBytes], [0, 0]);
    });

    it('deletes a directory only with ?recursive=true', async () => {
      const id = await api.projectWith({ 'tmp/a': 'a', 'tmp/b/c': 'c', keep: 'k' });
      assert.equal((await api.request(`/api/projects/${id}/files/tmp`, { method: 'DELETE' })).status, 404);
      const res = await api.request(`/api/projects/${id}/files/tmp?recursive=true`, { method: 'DELETE' });
      assert.equal(res.status, 204);
      const listed = await tree(id);
      assert.deepEqual(
        listed.files.map((f) => f.path),
        ['keep'],
      );
      assert.deepEqual((await project(id)).totalBytes, 1);
    });
  });

  describe('GET /api/projects/:id/files', () => {
    it('lists the tree in path order with size, hash, version and time; prefix filters; 304 while unchanged', async () => {
      const id = await api.projectWith({ 'b/2.txt': '22', 'a.txt': '1', 'b/1.txt': '111' });
      const res = await api.request(`/api/projects/${id}/files`);
      assert.equal(res.status, 200);
      const tree = res.json<{ revision: number; files: Entry[] }>();
      assert.equal(tree.revision, 3);
      assert.deepEqual(
        tree.files.map((f) => [f.path, f.size, f.version]),
        [
          ['a.txt', 1, 2],
          ['b/1.txt', 3, 3],
          ['b/2.txt', 2, 1],
        ],
      );
      for (const f of tree.files) {
        assert.match(f.contentHash, /^[0-9a-f]{16}$/);
        assert.ok(!Number.isNaN(Date.parse(f.updatedAt)));
      }
      const below = (await api.request(`/api/projects/${id}/files?prefix=b`)).json<{ files: Entry[] }>();
      assert.deepEqual(
        below.files.map((f) => f.path),
        ['b/1.txt', 'b/2.txt'],
      );
      const again = await api.request(`/api/projects/${id}/files`, {
        headers: { 'if-none-match': String(res.headers.etag) },
      });
      assert.equal(again.status, 304);
      await api.put(id, 'c.txt', 'c');
      const changed = await api.request(`/api/projects/${id}/files`, {
        headers: { 'if-none-match': String(res.headers.etag) },
      });
      assert.equal(changed.status, 200);
    });
  });
});

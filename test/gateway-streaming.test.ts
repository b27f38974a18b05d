import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { bearer } from './helpers/clients.ts';
import { type RunningCluster, useCluster } from './helpers/cluster.ts';
import { JWT_SECRET, mint, rawRequest, watchRss } from './helpers/gateway.ts';
import { streamBytes, UpstreamDouble } from './helpers/upstream-double.ts';

const MB = 1024 * 1024;
const SIZE = 256 * MB;
// V8 lets freed Buffer memory reach ~64 MB before it collects, so a streaming worker's RSS
// plateaus around there whatever the body size (measured: 45 MB for 50 MB, 68 MB for 400 MB);
// a proxy that held the body, or a good share of it, would grow by that much instead.
const MAX_GROWTH = 96 * MB;
const CHUNK = Buffer.alloc(64 * 1024, 'streaming through ferrite ');

const up = new UpstreamDouble();
let cluster: RunningCluster;
let token: string;

/** The SHA-256 of `size` bytes of CHUNK repeated, without holding them. */
function expectedSha(size: number): string {
  const hash = createHash('sha256');
  for (let done = 0; done < size; done += CHUNK.length)
    hash.update(CHUNK.subarray(0, Math.min(CHUNK.length, size - done)));
  return hash.digest('hex');
}

up.on('/download', (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': SIZE });
  streamBytes(res, SIZE, CHUNK);
});
const service = useCluster(
  { doubles: [up], env: () => ({ JWT_SECRET, TASK_UPSTREAM_URL: up.url }) },
  async () => {
    cluster = service.cluster;
    token = (await mint('task:read', 'task:write')).token;
    // Warm the workers (JIT, pools, buffers) so what is measured is the transfer itself.
    for (let i = 0; i < 4; i++) {
      await rawRequest(`${cluster.http}/v1/task/warm`, {
        method: 'POST',
        headers: bearer(token),
        body: Buffer.alloc(4 * MB),
      });
    }
  },
);

describe('streaming through the gateway', () => {
  it('streams a 256 MB upload to the upstream while worker memory stays flat', async () => {
    const rss = watchRss(cluster.workerPids());
    let sent = 0;
    const body = new Readable({
      read() {
        if (sent >= SIZE) {
          this.push(null);
          return;
        }
        const piece = CHUNK.subarray(0, Math.min(CHUNK.length, SIZE - sent));
        sent += piece.length;
        this.push(piece);
      },
    });
    const res = await rawRequest(`${cluster.http}/v1/task/upload`, {
      method: 'POST',
      headers: { ...bearer(token), 'content-length': SIZE },
      body,
    });
    const growth = rss.stop();
    assert.equal(res.status, 200, res.body.toString());
    const echoed = JSON.parse(res.body.toString()) as { bytes: number; sha256: string };
    assert.equal(echoed.bytes, SIZE);
    assert.equal(echoed.sha256, expectedSha(SIZE));
    process.stdout.write(`# worker RSS growth during the upload: ${Math.round(growth / MB)} MB\n`);
    assert.ok(growth < MAX_GROWTH, `worker RSS grew by ${Math.round(growth / MB)} MB`);
  });

  it('streams a 256 MB download from the upstream while worker memory stays flat', async () => {
    const rss = watchRss(cluster.workerPids());
    const { bytes, sha } = await new Promise<{ bytes: number; sha: string }>((resolve, reject) => {
      const req = http.get(
        `${cluster.http}/v1/task/download`,
        { headers: bearer(token), agent: false },
        (res) => {
          assert.equal(res.statusCode, 200);
          const hash = createHash('sha256');
          let n = 0;
          res.on('data', (c: Buffer) => {
            n += c.length;
            hash.update(c);
          });
          res.on('end', () => resolve({ bytes: n, sha: hash.digest('hex') }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
    });
    const growth = rss.stop();
    assert.equal(bytes, SIZE);
    assert.equal(sha, expectedSha(SIZE));
    process.stdout.write(`# worker RSS growth during the download: ${Math.round(growth / MB)} MB\n`);
    assert.ok(growth < MAX_GROWTH, `worker RSS grew by ${Math.round(growth / MB)} MB`);
  });
});

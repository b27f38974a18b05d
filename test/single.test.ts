// PROCESS_MODEL=single: what is particular to the one-process model (its general behaviour is
// the suite's single-process pass, test/run.ts).
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { ensureDevCertificate } from '../src/http/tls-cert.ts';
import { createLogger } from '../src/log.ts';
import { H2Client } from './helpers/clients.ts';
import { type RunningCluster, useCluster } from './helpers/cluster.ts';

/** The SHA-256 fingerprint of the certificate a new TLS connection to `port` is shown. */
function servedCertificate(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      rejectUnauthorized: false,
    });
    socket.once('secureConnect', () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

describe('PROCESS_MODEL=single', () => {
  let certs: string;
  const first = { cert: '', key: '' };
  const second = { cert: '', key: '' };
  // The service reads TLS_CERT/TLS_KEY from `live`; the test swaps the files under it.
  const live = { cert: '', key: '' };
  before(async () => {
    certs = await mkdtemp(path.join(tmpdir(), 'ferrite-single-certs-'));
    const silent = createLogger('silent', {});
    Object.assign(first, await ensureDevCertificate(path.join(certs, 'a'), silent));
    Object.assign(second, await ensureDevCertificate(path.join(certs, 'b'), silent));
    Object.assign(live, { cert: path.join(certs, 'cert.pem'), key: path.join(certs, 'key.pem') });
    await cp(first.cert, live.cert);
    await cp(first.key, live.key);
  });
  after(() => rm(certs, { recursive: true, force: true }));

  const service = useCluster(
    { env: () => ({ PROCESS_MODEL: 'single', TLS_CERT: live.cert, TLS_KEY: live.key }) },
    () => {
      cluster = service.cluster;
    },
  );
  let cluster: RunningCluster;

  it('serves every listener from the one process, which says so', async () => {
    assert.deepEqual(cluster.descendantPids('ferrite-worker'), [], 'no worker processes');
    const h1 = await service.h1.request(`${cluster.http}/api/health`);
    assert.equal(h1.json<{ worker: string }>().worker, 'single');
    const h2 = new H2Client(cluster.http);
    try {
      const res = await h2.request('/api/health');
      assert.equal(res.status, 200);
      assert.equal(res.json<{ worker: string }>().worker, 'single');
    } finally {
      await h2.close();
    }
    assert.ok(cluster.logs.some((l) => l.msg === 'ferrite ready' && l.processModel === 'single'));
  });

  it('serves its own metrics on METRICS_PORT, labelled worker="single", with no cluster series', async () => {
    await service.h1.request(`${cluster.http}/api/health`);
    const res = await fetch(cluster.metrics);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /http_requests_total\{[^}]*route="\/api\/health"[^}]*worker="single"\} [1-9]/);
    assert.match(text, /process_resident_memory_bytes\{worker="single"\} \d+/);
    assert.match(text, /pg_pool_connections\{[^}]*worker="single"[^}]*\}/);
    assert.doesNotMatch(text, /ferrite_workers/);
    assert.equal((await fetch(cluster.metrics.replace('/metrics', '/other'))).status, 404);
  });

  it('reloads the TLS certificate on SIGHUP: new connections get the new one, open ones keep going', async () => {
    const before = await servedCertificate(cluster.ports.https);
    const open = new H2Client(cluster.https, cluster.ca);
    try {
      assert.equal((await open.request('/api/health')).status, 200);
      await cp(second.cert, live.cert);
      await cp(second.key, live.key);
      cluster.process.kill('SIGHUP');
      await cluster.waitForLog((l) => l.msg === 'TLS certificate reloaded');
      const after = await servedCertificate(cluster.ports.https);
      assert.notEqual(after, before, 'a new connection is shown the new certificate');
      // The session opened before the reload still serves, and the process is the same.
      assert.equal((await open.request('/api/health')).status, 200);
      assert.equal(cluster.process.exitCode, null);
    } finally {
      await open.close();
    }
  });

  it('keeps the certificate it has when the new files are unreadable, and keeps serving', async () => {
    const current = await servedCertificate(cluster.ports.https);
    await rm(live.key);
    cluster.process.kill('SIGHUP');
    await cluster.waitForLog((l) => l.msg === 'reload failed; keeping the current certificate');
    assert.equal(await servedCertificate(cluster.ports.https), current);
    assert.equal((await service.h1.request(`${cluster.http}/api/health`)).status, 200);
  });
});

// Calibration server: a bare node:http cluster (one process per core) answering every request
// with the same bytes as ferrite's /api/health. The lab divides each run's numbers by this
// server's, so results from different machines can be compared as ratios.
import cluster from 'node:cluster';
import http from 'node:http';
import { availableParallelism } from 'node:os';

const port = Number(process.env.PORT ?? 0);
const body = JSON.stringify({ status: 'ok', version: '0.1.0', uptimeSeconds: 12.345, worker: '1' });

if (cluster.isPrimary) {
  const n = Number(process.env.WORKERS ?? availableParallelism());
  let ready = 0;
  for (let i = 0; i < n; i++) {
    cluster.fork().on('listening', () => {
      if (++ready === n) process.stdout.write('calibration ready\n');
    });
  }
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill();
    process.exit(0);
  });
} else {
  http
    .createServer((_req, res) => {
      res.writeHead(200, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
    })
    .listen(port, '127.0.0.1');
}

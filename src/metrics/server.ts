import type { Server } from 'node:http';
import { http } from '../builtins.ts';
import type { Logger } from '../log.ts';

/**
 * The Prometheus endpoint, `GET /metrics` on its own listener: the primary serves the whole
 * cluster's series from it, the single process its own.
 */
export function serveMetrics(
  host: string,
  port: number,
  render: () => Promise<{ body: string; contentType: string }>,
  log: Logger,
): Promise<Server> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/metrics' && !req.url?.startsWith('/metrics?'))) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    render()
      .then(({ body, contentType }) => res.writeHead(200, { 'content-type': contentType }).end(body))
      .catch((err) => {
        log.error({ err }, 'metrics scrape failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('scrape failed\n');
      });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

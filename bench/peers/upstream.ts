// The gateway scenario's upstream: a bare node:http server answering every request after
// DELAY_MS with a small JSON body, like a backend doing 20 ms of work. One process: at 200
// connections and 20 ms it has to serve at most 10,000 req/s, which waiting costs it nothing.
import http from 'node:http';

const port = Number(process.env.PORT ?? 0);
const delay = Number(process.env.DELAY_MS ?? 20);

http
  .createServer((req, res) => {
    req.resume();
    setTimeout(() => {
      const body = JSON.stringify({ id: 42, status: 'done', path: req.url, result: { items: [1, 2, 3] } });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    }, delay);
  })
  .listen(port, '127.0.0.1', () => process.stdout.write('upstream ready\n'));
process.on('SIGTERM', () => process.exit(0));

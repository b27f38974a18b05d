// A small JSON answer written as a Buffer (head + body: writev) and as a string (head + body
// concatenated: one write), on two ports of one process. Run it, then interleave wrk runs:
//   for i in 1 2 3 4; do for p in 18091 18092; do wrk -t1 -c64 -d3s http://127.0.0.1:$p/; done; done
import http from 'node:http';

const body = JSON.stringify({ status: 'ok', version: '0.1.0', uptimeSeconds: 12.345, worker: '1' });
const buf = Buffer.from(body);
const head = (res) => {
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('ETag', '"d85dcda18525f1a6"');
  res.setHeader('Content-Length', buf.length);
};
http.createServer((_req, res) => { head(res); res.end(buf); }).listen(18091);
http.createServer((_req, res) => { head(res); res.end(body); }).listen(18092);

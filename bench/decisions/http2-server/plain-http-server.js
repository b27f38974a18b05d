// Control: plain node:http server, same body, no express.
const http = require('node:http');
const port = Number(process.argv[2] || 3100);
const body = JSON.stringify({ status: 'ok' });
http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}).listen(port, '127.0.0.1', () => console.log(`plain http listening ${port} node ${process.version}`));

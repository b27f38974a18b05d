// HTTP/2 TLS server using node:http2 createSecureServer (compat API handler).
const fs = require('fs');
const http2 = require('node:http2');
const port = Number(process.argv[2] || 8444);
const body = JSON.stringify({ status: 'ok' });
http2.createSecureServer({
  key: fs.readFileSync(__dirname + '/key.pem'),
  cert: fs.readFileSync(__dirname + '/cert.pem'),
}, (req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}).listen(port, '127.0.0.1', () => console.log(`node:http2 listening ${port} node ${process.version}`));

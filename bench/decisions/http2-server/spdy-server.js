// HTTP/2 TLS server using spdy@4.0.2 (plain handler, no express). Node 20 only.
const fs = require('fs');
const spdy = require('spdy');
const port = Number(process.argv[2] || 8443);
const body = JSON.stringify({ status: 'ok' });
spdy.createServer({
  key: fs.readFileSync(__dirname + '/key.pem'),
  cert: fs.readFileSync(__dirname + '/cert.pem'),
  spdy: { protocols: ['h2'], plain: false },
}, (req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}).listen(port, '127.0.0.1', () => console.log(`spdy listening ${port} node ${process.version}`));

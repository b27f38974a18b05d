// express 5 over plain node:http, single process.
const express = require('express');
const port = Number(process.argv[2] || 3000);
const app = express();
app.get('/', (req, res) => res.json({ status: 'ok' }));
process.on('SIGINT', () => process.exit(0));
app.listen(port, '127.0.0.1', () => console.log(`express ${require('express/package.json').version} listening ${port} node ${process.version}`));

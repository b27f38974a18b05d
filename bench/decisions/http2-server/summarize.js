// Print per-run numbers, medians and ratios from results/.
const fs = require('fs'), path = require('path');
const R = 'results';
const med = a => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
for (const dir of ['h2', 'h2-duration']) {
  const rps = {};
  for (const impl of ['spdy', 'http2']) rps[impl] = [1, 2, 3].map(r => +fs.readFileSync(`${R}/${dir}/${impl}-run${r}.txt`, 'utf8').match(/finished in [\d.]+m?s, ([\d.]+) req\/s/)[1]);
  console.log(`[${dir}] spdy=${rps.spdy.join(', ')} median=${med(rps.spdy)} | node:http2=${rps.http2.join(', ')} median=${med(rps.http2)} | http2/spdy=${(med(rps.http2) / med(rps.spdy)).toFixed(2)}x`);
}
const ex = {};
for (const v of ['node20', 'node26']) {
  const runs = [1, 2, 3].map(r => JSON.parse(fs.readFileSync(`${R}/express/${v}-run${r}.json`, 'utf8')));
  ex[v] = { rps: runs.map(r => r.requests.average), p50: runs.map(r => r.latency.p50), p99: runs.map(r => r.latency.p99), mean: runs.map(r => r.latency.average) };
  const e = ex[v];
  console.log(`[express ${v}] req/s=${e.rps.join(', ')} median=${med(e.rps)} | p50=${e.p50.join(', ')} median=${med(e.p50)} | p99=${e.p99.join(', ')} median=${med(e.p99)} | mean=${e.mean.join(', ')} median=${med(e.mean)}`);
}
console.log(`[express] node26/node20 req/s = ${(med(ex.node26.rps) / med(ex.node20.rps)).toFixed(2)}x`);

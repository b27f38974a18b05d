// Summarise a .cpuprofile: top functions by self time.
const p = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8'));
const dt = {}; const byId = new Map(p.nodes.map(n => [n.id, n]));
for (let i = 0; i < p.samples.length; i++) dt[p.samples[i]] = (dt[p.samples[i]] || 0) + (p.timeDeltas[i] || 0);
const agg = {}; let total = 0;
for (const [id, t] of Object.entries(dt)) { const n = byId.get(+id); const cf = n.callFrame;
  const k = `${cf.functionName || '(anon)'} ${cf.url.replace(/.*node_modules\//, '')}:${cf.lineNumber + 1}`; agg[k] = (agg[k] || 0) + t; total += t; }
Object.entries(agg).sort((a, b) => b[1] - a[1]).slice(0, +(process.argv[3] || 15)).forEach(([k, t]) => console.log((100 * t / total).toFixed(1).padStart(5) + '%  ' + k));

// The static HTML report: one page, inline SVG bars, nothing fetched at view time.

interface ScenarioResult {
  rps: number;
  latencyMs: { p50: number; p99: number };
}

interface Results {
  meta: { date: string; cores: number; node: string; cpu: string };
  once: {
    startupMs: number;
    idleCpuPercent: number;
    idleRssBytes: Record<string, number>;
    installBytes: number;
  };
  calibration: ScenarioResult;
  scenarios: Record<string, ScenarioResult>;
}

const esc = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);
const mb = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MB`;

/** A horizontal bar chart: one row per label, current (dark) over baseline (light). */
function bars(
  title: string,
  rows: { label: string; current: number; baseline?: number }[],
  unit: string,
): string {
  const max = Math.max(1, ...rows.flatMap((r) => [r.current, r.baseline ?? 0]));
  const row = 34;
  const width = 560;
  const body = rows
    .map((r, i) => {
      const y = i * row;
      const w = (v: number) => Math.max(1, (v / max) * (width - 200));
      const base =
        r.baseline === undefined
          ? ''
          : `<rect x="180" y="${y + 18}" width="${w(r.baseline)}" height="8" fill="#c9d3df"/>`;
      return `<text x="0" y="${y + 16}" font-size="12">${esc(r.label)}</text>
<rect x="180" y="${y + 4}" width="${w(r.current)}" height="12" fill="#2f5d8a"/>${base}
<text x="${184 + w(r.current)}" y="${y + 15}" font-size="11">${Math.round(r.current)} ${unit}</text>`;
    })
    .join('\n');
  return `<h2>${esc(title)}</h2><svg width="${width}" height="${rows.length * row}" role="img" aria-label="${esc(title)}">${body}</svg>`;
}

export function renderReport(current: Results, baseline?: Results): string {
  const names = Object.keys(current.scenarios);
  const rows = (pick: (r: ScenarioResult) => number) =>
    names.map((n) => ({
      label: n,
      current: pick(current.scenarios[n] as ScenarioResult),
      baseline: baseline?.scenarios[n] ? pick(baseline.scenarios[n] as ScenarioResult) : undefined,
    }));
  const rss = Object.entries(current.once.idleRssBytes)
    .map(([role, b]) => `${esc(role)} ${mb(b)}`)
    .join(', ');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ferrite bench ${esc(current.meta.date)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;color:#1b1f24}td,th{padding:.2rem .8rem;text-align:right}th:first-child,td:first-child{text-align:left}</style></head>
<body>
<h1>ferrite performance lab</h1>
<p>${esc(current.meta.date)} · ${current.meta.cores} cores · ${esc(current.meta.cpu)} · Node ${esc(current.meta.node)}${
    baseline ? ` · baseline from ${esc(baseline.meta.date)} (light bars)` : ''
  }</p>
<p>Start-up to first 200: ${current.once.startupMs} ms · idle CPU (whole cluster): ${current.once.idleCpuPercent} % · idle RSS: ${rss} · production install: ${mb(current.once.installBytes)} · calibration (bare node:http): ${Math.round(current.calibration.rps)} req/s</p>
${bars(
  'Throughput',
  rows((r) => r.rps),
  'req/s',
)}
${bars(
  'p99 latency',
  rows((r) => r.latencyMs.p99),
  'ms',
)}
<table><thead><tr><th>scenario</th><th>req/s</th><th>p50 ms</th><th>p99 ms</th><th>req/s vs calibration</th></tr></thead><tbody>
${names
  .map((n) => {
    const r = current.scenarios[n] as ScenarioResult;
    return `<tr><td>${esc(n)}</td><td>${Math.round(r.rps)}</td><td>${r.latencyMs.p50}</td><td>${r.latencyMs.p99}</td><td>${(r.rps / current.calibration.rps).toFixed(2)}</td></tr>`;
  })
  .join('\n')}
</tbody></table>
</body></html>
`;
}

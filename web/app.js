// The rig dashboard: sign in; alerts; the rig now (over /ws); hashrate, temperature and shares
// over a chosen window from /api/stats/history, extended live, with miner state changes and
// found blocks marked on the time axis (uPlot, bundled and served by ferrite itself); the
// miner's log; validated blocks; exports of the window. Plain browser JavaScript, nothing loaded
// from elsewhere at run time.
/* global uPlot */

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = 'ferrite.accessToken';
const settings = JSON.parse(document.querySelector('meta[name="ferrite-settings"]')?.content || '{}');
const TEMP_ALERT_C = settings.gpuTempAlertC ?? 85;
const HASHRATE_ALERT_RATIO = settings.hashrateAlertRatio ?? 0.8;
/** Seconds between history points for each window (about 120–340 points). */
const STEPS = { 3600: 30, 86400: 300, 604800: 1800 };
const WINDOW_NAMES = { 3600: 'last 1 h', 86400: 'last 24 h', 604800: 'last 7 d' };
const MINER_POLL_MS = 5000;
const READY_POLL_MS = 10_000;

let token = sessionStorage.getItem(TOKEN_KEY);
let socket;
let blocksCursor = null;
let timers = [];

const view = {
  windowSec: 3600,
  step: STEPS[3600],
  /** Time axis (s) and the series on it; the last point follows the live feed. */
  xs: [],
  total: [],
  gpuHash: [],
  gpuTemp: [],
  /** Cumulative share counters per point, and the per-interval counts drawn from them. */
  cum: { accepted: [], rejected: [], stale: [] },
  /** Start of the bucket the last point stands for: a live update past it opens a new point. */
  anchor: 0,
  gpuCount: 0,
  /** Marks on the time axis: { at (s), kind: 'event' | 'block', label }. */
  marks: [],
  charts: {},
  miner: undefined,
  hotSince: new Map(),
  lowSince: undefined,
  node: { ok: undefined, since: undefined },
};

const format = {
  hashrate(h) {
    const units = ['H/s', 'kH/s', 'MH/s', 'GH/s', 'TH/s'];
    let i = 0;
    let v = h ?? 0;
    while (v >= 1000 && i < units.length - 1) {
      v /= 1000;
      i++;
    }
    return `${v.toFixed(2)} ${units[i]}`;
  },
  time: (iso) => (iso ? new Date(iso).toLocaleString() : ''),
  clock: (ms) =>
    new Date(ms).toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }),
};

async function api(path, options = {}) {
  const res = await fetch(path, {
    ...options,
    headers: {
      ...(options.body ? { 'content-type': 'application/json' } : {}),
      authorization: `Bearer ${token}`,
    },
  });
  if (res.status === 401) {
    signOut();
    throw new Error('Your session has ended; sign in again.');
  }
  const body = res.status === 204 ? null : await res.json();
  if (!res.ok) throw new Error(body?.detail ?? `HTTP ${res.status}`);
  return body;
}

// ---- the rig now ----

function showStats(s) {
  $('hashrate').textContent = format.hashrate(s.hashrate.current);
  $('hashrate-avg').textContent =
    `1 min ${format.hashrate(s.hashrate.avg1m)} · 15 min ${format.hashrate(s.hashrate.avg15m)}`;
  $('shares').textContent = `${s.shares.accepted} / ${s.shares.rejected} / ${s.shares.stale}`;
  const rows = s.gpus.map((g) => {
    const tr = document.createElement('tr');
    for (const v of [
      g.index,
      g.name,
      format.hashrate(g.hashrate),
      g.temperatureC,
      `${g.fanPercent}%`,
      g.powerW,
    ]) {
      const td = document.createElement('td');
      td.textContent = String(v);
      tr.append(td);
    }
    if (g.temperatureC >= TEMP_ALERT_C) tr.className = 'hot';
    return tr;
  });
  $('gpus').tBodies[0].replaceChildren(...rows);
  if (s.miner) $('miner-state').textContent = s.miner.state;
}

function showMiner(status) {
  const previous = view.miner;
  view.miner = status;
  $('miner-state').textContent = status.state;
  $('miner-restarts').textContent =
    status.restarts > 0
      ? `${status.restarts} restart${status.restarts === 1 ? '' : 's'}${status.lastExit ? `, last exit ${format.time(status.lastExit.at)}` : ''}`
      : '';
  $('miner-start').disabled = status.state === 'running' || status.state === 'starting';
  $('miner-stop').disabled = status.state === 'stopped';
  if (Array.isArray(status.recentLog)) showLog(status.recentLog);
  if (previous && previous.state !== status.state) {
    addMark({ at: Date.now() / 1000, kind: 'event', label: `miner ${status.state}` });
  }
  updateAlerts();
}

function showLog(lines) {
  const log = $('log').parentElement;
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 8;
  $('log').textContent = lines.length ? lines.join('\n') : 'Nothing logged yet.';
  if (atBottom) log.scrollTop = log.scrollHeight;
}

function showNode(ready) {
  const node = ready?.checks?.node;
  if (!node) {
    $('node-state').textContent = ready ? 'not configured' : 'unknown';
    view.node = { ok: undefined, since: undefined };
  } else {
    $('node-state').textContent = node.ok ? 'reachable' : 'down';
    if (node.ok) view.node = { ok: true, since: undefined };
    else if (view.node.ok !== false) view.node = { ok: false, since: Date.now() };
  }
  updateAlerts();
}

async function pollReady() {
  try {
    const res = await fetch('/api/ready', { headers: { authorization: `Bearer ${token}` } });
    const body = await res.json();
    showNode(body);
  } catch {
    showNode(undefined);
  }
}

// ---- history and live series ----

function gpuValue(point, index, key) {
  const g = point.gpus?.find((x) => x.index === index);
  return g ? g[key] : null;
}

/** Per-interval counts from cumulative counters (a counter that went down was reset). */
function perInterval(cum) {
  return cum.map((v, i) => {
    if (i === 0 || v == null || cum[i - 1] == null) return null;
    const d = v - cum[i - 1];
    return d >= 0 ? d : v;
  });
}

async function loadHistory() {
  const to = new Date();
  const from = new Date(to.getTime() - view.windowSec * 1000);
  const q = `from=${from.toISOString()}&to=${to.toISOString()}&step=${view.step}`;
  const h = await api(`/api/stats/history?${q}`);
  const points = h.points ?? [];
  view.gpuCount = Math.max(
    0,
    ...points.map((p) => (p.gpus ?? []).reduce((m, g) => Math.max(m, g.index + 1), 0)),
  );
  view.xs = points.map((p) => Date.parse(p.at) / 1000);
  view.total = points.map((p) => p.hashrate);
  view.gpuHash = Array.from({ length: view.gpuCount }, (_, i) =>
    points.map((p) => gpuValue(p, i, 'hashrate')),
  );
  view.gpuTemp = Array.from({ length: view.gpuCount }, (_, i) =>
    points.map((p) => gpuValue(p, i, 'temperatureC')),
  );
  for (const k of ['accepted', 'rejected', 'stale']) view.cum[k] = points.map((p) => p.shares?.[k] ?? null);
  view.anchor = view.xs.at(-1) ?? 0;
  view.marks = [
    ...(h.events ?? []).map((e) => ({
      at: Date.parse(e.at) / 1000,
      kind: 'event',
      label: `miner ${e.state}${e.exit && e.state === 'crashed' ? ` (exit ${e.exit.code ?? e.exit.signal})` : ''}`,
      state: e.state,
    })),
    ...(h.blocks ?? []).map((b) => ({
      at: Date.parse(b.foundAt) / 1000,
      kind: 'block',
      label: `block ${b.height} found${b.validatedAt ? `, validated ${format.clock(Date.parse(b.validatedAt))}` : ', not validated yet'}`,
    })),
  ].sort((a, b) => a.at - b.at);
  findStreaks();
  buildCharts();
  showMarks();
  updateAlerts();
}

/**
 * When the current hot GPUs and the low hashrate started, read back from the history; only
 * while the miner runs (a stopped rig's last samples are not a current alert).
 */
function findStreaks() {
  view.hotSince = new Map();
  view.lowSince = undefined;
  if (view.miner?.state !== 'running') return;
  for (let g = 0; g < view.gpuCount; g++) {
    const temps = view.gpuTemp[g];
    let i = temps.length - 1;
    while (i >= 0 && temps[i] != null && temps[i] >= TEMP_ALERT_C) i--;
    if (i < temps.length - 1) view.hotSince.set(g, view.xs[i + 1] * 1000);
  }
  const quarter = 900;
  const lowAt = (i) => {
    const since = view.xs[i] - quarter;
    const window = view.total.filter((v, j) => view.xs[j] >= since && j <= i && v != null);
    const avg = window.reduce((a, b) => a + b, 0) / (window.length || 1);
    return avg > 0 && view.total[i] < HASHRATE_ALERT_RATIO * avg;
  };
  let i = view.total.length - 1;
  while (i >= 0 && lowAt(i)) i--;
  view.lowSince = i < view.total.length - 1 ? view.xs[i + 1] * 1000 : undefined;
}

/** A live snapshot: extends the last point, or opens a new one once a step has passed. */
function addLive(s) {
  const t = (Date.parse(s.updatedAt) || Date.now()) / 1000;
  const count = s.gpus.reduce((m, g) => Math.max(m, g.index + 1), 0);
  if (count > view.gpuCount) {
    for (let g = view.gpuCount; g < count; g++) {
      view.gpuHash.push(view.xs.map(() => null));
      view.gpuTemp.push(view.xs.map(() => null));
    }
    view.gpuCount = count;
    buildCharts();
  }
  const n = view.xs.length;
  const open = n === 0 || t >= view.anchor + view.step;
  if (open) view.anchor = t;
  const put = (arr, v) => {
    if (open) arr.push(v);
    else arr[n - 1] = v;
  };
  put(view.xs, t);
  put(view.total, s.hashrate.current);
  for (let g = 0; g < view.gpuCount; g++) {
    const gpu = s.gpus.find((x) => x.index === g);
    put(view.gpuHash[g], gpu ? gpu.hashrate : null);
    put(view.gpuTemp[g], gpu ? gpu.temperatureC : null);
  }
  for (const k of ['accepted', 'rejected', 'stale']) put(view.cum[k], s.shares[k]);
  // Points that left the window go.
  const oldest = t - view.windowSec;
  let drop = 0;
  while (drop < view.xs.length && view.xs[drop] < oldest) drop++;
  if (drop > 0) {
    for (const arr of [view.xs, view.total, ...view.gpuHash, ...view.gpuTemp, ...Object.values(view.cum)]) {
      arr.splice(0, drop);
    }
  }
  trackStreaks(s, t * 1000);
  redraw();
  updateAlerts();
}

function trackStreaks(s, atMs) {
  if ((s.miner?.state ?? view.miner?.state) !== 'running') {
    view.hotSince.clear();
    view.lowSince = undefined;
    return;
  }
  for (const g of s.gpus) {
    if (g.temperatureC >= TEMP_ALERT_C) {
      if (!view.hotSince.has(g.index)) view.hotSince.set(g.index, atMs);
    } else view.hotSince.delete(g.index);
  }
  const { current, avg15m } = s.hashrate;
  if (avg15m > 0 && current < HASHRATE_ALERT_RATIO * avg15m) view.lowSince ??= atMs;
  else view.lowSince = undefined;
}

function addMark(mark) {
  view.marks.push(mark);
  showMarks();
  redraw();
}

function showMarks() {
  const oldest = Date.now() / 1000 - view.windowSec;
  const shown = view.marks.filter((m) => m.at >= oldest);
  const items = shown.map((m) => {
    const li = document.createElement('li');
    const time = document.createElement('time');
    time.dateTime = new Date(m.at * 1000).toISOString();
    time.textContent = format.clock(m.at * 1000);
    li.append(time, ` ${m.label}`);
    li.className = `mark-${m.kind}`;
    return li;
  });
  if (items.length === 0) {
    const li = document.createElement('li');
    li.textContent = 'None.';
    items.push(li);
  }
  $('marks').replaceChildren(...items);
}

// ---- charts ----

const PALETTES = {
  light: ['#0b5cad', '#b35c00', '#1d6b39', '#a4262c', '#7a4fb3', '#00758f', '#8a6d00', '#c2185b'],
  dark: ['#7cb7ff', '#f0a040', '#6fd08f', '#ff8f8f', '#c4a3f0', '#5fd3e8', '#e6cf5a', '#f48fb1'],
};
const darkScheme = window.matchMedia('(prefers-color-scheme: dark)');
const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
const colour = (i) => (darkScheme.matches ? PALETTES.dark : PALETTES.light)[i % 8];

/** Draws the marks (miner state changes, blocks) as vertical lines, and an alert line. */
function marksPlugin(threshold) {
  return {
    hooks: {
      draw: [
        (u) => {
          const { ctx, bbox } = u;
          ctx.save();
          ctx.lineWidth = Math.max(1, devicePixelRatio * 1.5);
          for (const m of view.marks) {
            const x = Math.round(u.valToPos(m.at, 'x', true));
            if (x < bbox.left || x > bbox.left + bbox.width) continue;
            ctx.strokeStyle = css(m.kind === 'block' ? '--mark-block' : '--mark-event');
            ctx.setLineDash(m.kind === 'block' ? [6 * devicePixelRatio, 4 * devicePixelRatio] : []);
            ctx.beginPath();
            ctx.moveTo(x, bbox.top);
            ctx.lineTo(x, bbox.top + bbox.height);
            ctx.stroke();
          }
          if (threshold !== undefined) {
            const y = Math.round(u.valToPos(threshold, 'y', true));
            ctx.strokeStyle = css('--bad');
            ctx.setLineDash([2 * devicePixelRatio, 3 * devicePixelRatio]);
            ctx.beginPath();
            ctx.moveTo(bbox.left, y);
            ctx.lineTo(bbox.left + bbox.width, y);
            ctx.stroke();
          }
          ctx.restore();
        },
      ],
    },
  };
}

/** The time axis, a left axis and, for a second scale, a right one (tick labels without units: the caption has them). */
function axes(rightScale) {
  const stroke = css('--quiet');
  const grid = { stroke: css('--line'), width: 1 };
  const left = { stroke, grid, ticks: grid, size: 56 };
  return [
    { stroke, grid, ticks: grid },
    left,
    ...(rightScale ? [{ ...left, scale: rightScale, side: 1, grid: { show: false } }] : []),
  ];
}

function chartSize(el) {
  const width = Math.max(260, el.clientWidth);
  return { width, height: window.innerWidth < 600 ? 200 : 240 };
}

const mhs = (v) => (v == null ? null : v / 1e6);

function chartData() {
  const shares = Object.fromEntries(Object.entries(view.cum).map(([k, v]) => [k, perInterval(v)]));
  return {
    hashrate: [view.xs, view.total.map(mhs), ...view.gpuHash.map((s) => s.map(mhs))],
    temperature: [view.xs, ...view.gpuTemp],
    shares: [view.xs, shares.accepted, shares.rejected, shares.stale],
  };
}

function buildCharts() {
  for (const chart of Object.values(view.charts)) chart.destroy();
  view.charts = {};
  if (typeof uPlot === 'undefined') return;
  const data = chartData();
  const gpuSeries = (unit, scale) =>
    Array.from({ length: view.gpuCount }, (_, i) => ({
      label: `GPU ${i}`,
      stroke: colour(i + 1),
      width: 1.5,
      ...(scale ? { scale } : {}),
      value: (_u, v) => (v == null ? '–' : unit(v)),
    }));
  const bars = uPlot.paths?.bars?.({ size: [0.8, 40] });
  const specs = {
    hashrate: {
      el: 'chart-hashrate',
      series: [
        {
          label: 'Total',
          stroke: colour(0),
          width: 2.5,
          value: (_u, v) => (v == null ? '–' : `${v.toFixed(1)} MH/s`),
        },
        // Each GPU on the right scale: its share is too small to read on the total's.
        ...gpuSeries((v) => `${v.toFixed(1)} MH/s`, 'gpu'),
      ],
      axes: axes('gpu'),
      scales: { gpu: { auto: true } },
    },
    temperature: {
      el: 'chart-temperature',
      series: gpuSeries((v) => `${v.toFixed(1)} °C`),
      axes: axes(),
      threshold: TEMP_ALERT_C,
      range: (_u, min, max) => [
        Math.min(min ?? TEMP_ALERT_C, TEMP_ALERT_C - 15),
        Math.max(max ?? 0, TEMP_ALERT_C + 5),
      ],
    },
    shares: {
      el: 'chart-shares',
      series: ['accepted', 'rejected', 'stale'].map((k, i) => ({
        label: k,
        stroke: colour([2, 3, 1][i]),
        fill: `${colour([2, 3, 1][i])}66`,
        paths: bars,
        points: { show: false },
      })),
      axes: axes(),
    },
  };
  for (const [name, spec] of Object.entries(specs)) {
    const figure = $(spec.el);
    const plot = figure.querySelector('.plot');
    plot.replaceChildren();
    view.charts[name] = new uPlot(
      {
        ...chartSize(plot),
        series: [{ value: (_u, v) => (v == null ? '–' : format.clock(v * 1000)) }, ...spec.series],
        axes: spec.axes,
        scales: { x: { time: true }, ...(spec.range ? { y: { range: spec.range } } : {}), ...spec.scales },
        cursor: { y: false },
        legend: { live: true },
        plugins: [marksPlugin(spec.threshold)],
      },
      data[name],
      plot,
    );
  }
  describeCharts();
}

let redrawQueued = false;
function redraw() {
  if (redrawQueued) return;
  redrawQueued = true;
  requestAnimationFrame(() => {
    redrawQueued = false;
    const data = chartData();
    for (const [name, chart] of Object.entries(view.charts)) chart.setData(data[name]);
    describeCharts();
  });
}

/** What the charts show, in words, for screen readers; and the figures' counts as attributes. */
function describeCharts() {
  const n = view.xs.length;
  const visibleMarks = view.marks.filter((m) => m.at >= (view.xs[0] ?? Number.POSITIVE_INFINITY)).length;
  for (const id of ['chart-hashrate', 'chart-temperature', 'chart-shares']) {
    const figure = $(id);
    figure.dataset.points = String(n);
    figure.dataset.last = String(view.xs[n - 1] ?? '');
    figure.dataset.marks = String(visibleMarks);
  }
  const span = WINDOW_NAMES[view.windowSec];
  const totals = view.total.filter((v) => v != null);
  $('chart-hashrate-summary').textContent = totals.length
    ? `Hashrate over the ${span}: now ${format.hashrate(totals.at(-1))}, lowest ${format.hashrate(Math.min(...totals))}, highest ${format.hashrate(Math.max(...totals))}; ${visibleMarks} marked events.`
    : `No hashrate recorded in the ${span}.`;
  const hottest = view.gpuTemp.map((s, i) => [i, Math.max(...s.filter((v) => v != null))]);
  $('chart-temperature-summary').textContent = hottest.length
    ? `Highest temperature per GPU over the ${span}: ${hottest.map(([i, t]) => `GPU ${i} ${Number.isFinite(t) ? `${t} °C` : 'none'}`).join(', ')}; alert at ${TEMP_ALERT_C} °C.`
    : `No temperatures recorded in the ${span}.`;
  const sum = (k) => perInterval(view.cum[k]).reduce((a, b) => a + (b ?? 0), 0);
  $('chart-shares-summary').textContent =
    `Shares over the ${span}: ${sum('accepted')} accepted, ${sum('rejected')} rejected, ${sum('stale')} stale.`;
}

let chartsWidth = 0;
/** On a change of width only (the alerts and the log change the page's height all the time). */
function resizeCharts(width) {
  if (width === chartsWidth) return;
  chartsWidth = width;
  for (const chart of Object.values(view.charts)) chart.setSize(chartSize(chart.root.parentElement));
}

// ---- alerts ----

let shownAlerts = '';
function updateAlerts() {
  const alerts = [];
  for (const [gpu, since] of [...view.hotSince].sort((a, b) => a[0] - b[0])) {
    alerts.push({ level: 'alert', text: `GPU ${gpu} at or above ${TEMP_ALERT_C} °C`, since });
  }
  if (view.lowSince !== undefined) {
    alerts.push({
      level: 'alert',
      text: `Hashrate below ${Math.round(HASHRATE_ALERT_RATIO * 100)} % of its 15-minute average`,
      since: view.lowSince,
    });
  }
  const m = view.miner;
  if (m?.state === 'crashed') {
    alerts.push({ level: 'alert', text: 'Miner crashed', since: Date.parse(m.lastExit?.at) || Date.now() });
  } else if (
    m &&
    m.restarts > 0 &&
    (m.state === 'starting' || m.state === 'running') &&
    m.uptimeSeconds < 60
  ) {
    alerts.push({
      level: 'warn',
      text: `Miner restarting (restart ${m.restarts})`,
      since: m.startedAt ? Date.parse(m.startedAt) : Date.now(),
    });
  }
  const crashes = view.marks.filter(
    (k) => k.state === 'crashed' && k.at >= Date.now() / 1000 - view.windowSec,
  );
  if (crashes.length > 1) {
    alerts.push({
      level: 'warn',
      text: `Miner crashed ${crashes.length} times in the ${WINDOW_NAMES[view.windowSec]}`,
      since: crashes[0].at * 1000,
    });
  }
  if (view.node.ok === false) alerts.push({ level: 'alert', text: 'Node RPC down', since: view.node.since });

  // Re-rendered only when something changes, so screen readers announce each alert once.
  const key = JSON.stringify(alerts);
  if (key === shownAlerts) return;
  shownAlerts = key;
  $('alerts').replaceChildren(
    ...alerts.map((a) => {
      const li = document.createElement('li');
      li.className = a.level;
      const strong = document.createElement('strong');
      strong.textContent = a.text;
      const time = document.createElement('time');
      time.dateTime = new Date(a.since).toISOString();
      time.textContent = format.clock(a.since);
      li.append(strong, ' · since ', time);
      return li;
    }),
  );
  $('no-alerts').hidden = alerts.length > 0;
}

// ---- blocks and exports ----

function blockRow(b) {
  const tr = document.createElement('tr');
  const cells = [b.height, b.hash, format.time(b.foundAt), format.time(b.validatedAt)];
  cells.forEach((v, i) => {
    const td = document.createElement('td');
    td.textContent = String(v);
    if (i === 1) td.className = 'hash';
    tr.append(td);
  });
  return tr;
}

async function loadBlocks(more = false) {
  const query = more && blocksCursor ? `&cursor=${encodeURIComponent(blocksCursor)}` : '';
  const page = await api(`/api/blocks/validated?limit=20${query}`);
  const body = $('blocks').tBodies[0];
  const rows = page.items.map(blockRow);
  if (more) body.append(...rows);
  else body.replaceChildren(...rows);
  blocksCursor = page.nextCursor;
  $('blocks-more').hidden = !blocksCursor;
  $('no-blocks').hidden = body.rows.length > 0;
}

async function exportWindow(button) {
  $('export-error').textContent = '';
  const to = new Date();
  const from = new Date(to.getTime() - view.windowSec * 1000);
  const { path, format: fmt } = button.dataset;
  const url = `${path}?format=${fmt}&from=${from.toISOString()}&to=${to.toISOString()}`;
  try {
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    if (!res.ok) throw new Error((await res.json().catch(() => ({}))).detail ?? `HTTP ${res.status}`);
    const href = URL.createObjectURL(await res.blob());
    const name = `${path.split('/').pop()}-${from.toISOString().slice(0, 16)}-${to.toISOString().slice(0, 16)}.${fmt}`;
    const a = Object.assign(document.createElement('a'), { href, download: name.replaceAll(':', '') });
    a.click();
    URL.revokeObjectURL(href);
  } catch (err) {
    $('export-error').textContent = `Export failed: ${err.message}`;
  }
}

// ---- the live feed and the session ----

function connect() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  socket = new WebSocket(`${scheme}://${location.host}/ws`, ['bearer', token]);
  socket.onopen = () => {
    $('connection').textContent = 'live';
    $('connection').classList.add('live');
  };
  socket.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    if (msg.type === 'stats') {
      showStats(msg.data);
      addLive(msg.data);
    } else if (msg.type === 'miner') showMiner(msg.data);
    else if (msg.type === 'block') {
      addMark({ at: Date.now() / 1000, kind: 'block', label: `block ${msg.data.height} found` });
      loadBlocks().catch(() => undefined);
    }
  };
  socket.onclose = () => {
    $('connection').textContent = 'offline';
    $('connection').classList.remove('live');
    // A draining worker closes with 1001: reconnect (to another worker) unless signed out.
    if (token) setTimeout(connect, 1000);
  };
}

async function showDashboard() {
  $('signin-panel').hidden = true;
  $('dashboard').hidden = false;
  $('signout').hidden = false;
  const [status, stats] = await Promise.all([api('/api/miner/status'), api('/api/stats'), loadBlocks()]);
  showMiner(status);
  showStats(stats);
  await loadHistory();
  connect();
  pollReady();
  timers = [
    setInterval(() => api('/api/miner/status').then(showMiner, () => undefined), MINER_POLL_MS),
    setInterval(pollReady, READY_POLL_MS),
  ];
  $('main').focus();
}

function signOut() {
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  for (const t of timers) clearInterval(t);
  timers = [];
  socket?.close();
  $('dashboard').hidden = true;
  $('signout').hidden = true;
  $('signin-panel').hidden = false;
}

$('signin').addEventListener('submit', async (e) => {
  e.preventDefault();
  $('signin-error').textContent = '';
  const res = await fetch('/api/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: $('email').value, password: $('password').value }),
  });
  const body = await res.json();
  if (!res.ok) {
    $('signin-error').textContent = body.detail ?? 'Sign-in failed.';
    return;
  }
  token = body.accessToken;
  sessionStorage.setItem(TOKEN_KEY, token);
  showDashboard().catch((err) => {
    $('signin-error').textContent = err.message;
  });
});

$('signout').addEventListener('click', signOut);

for (const [id, op] of [
  ['miner-start', 'start'],
  ['miner-stop', 'stop'],
]) {
  $(id).addEventListener('click', async () => {
    $('miner-error').textContent = '';
    try {
      showMiner(await api(`/api/miner/${op}`, { method: 'POST', body: '{}' }));
    } catch (err) {
      $('miner-error').textContent = err.message;
    }
  });
}

for (const radio of document.querySelectorAll('input[name="window"]')) {
  radio.addEventListener('change', () => {
    view.windowSec = Number(radio.value);
    view.step = STEPS[view.windowSec];
    $('export-window').textContent = WINDOW_NAMES[view.windowSec];
    loadHistory().catch((err) => {
      $('export-error').textContent = err.message;
    });
  });
}

$('blocks-more').addEventListener('click', () => loadBlocks(true));
for (const button of document.querySelectorAll('button.export')) {
  button.addEventListener('click', () => exportWindow(button));
}
new ResizeObserver((entries) => resizeCharts(Math.round(entries[0].contentRect.width))).observe($('main'));
darkScheme.addEventListener('change', () => buildCharts());

if (token) showDashboard().catch(signOut);

// The rig dashboard: sign in, live stats over /ws, miner start/stop, validated blocks, exports.
// Plain browser JavaScript, no framework and nothing loaded from elsewhere at run time.

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = 'ferrite.accessToken';
let token = sessionStorage.getItem(TOKEN_KEY);
let socket;
let blocksCursor = null;

const format = {
  hashrate(h) {
    const units = ['H/s', 'kH/s', 'MH/s', 'GH/s', 'TH/s'];
    let i = 0;
    while (h >= 1000 && i < units.length - 1) {
      h /= 1000;
      i++;
    }
    return `${h.toFixed(2)} ${units[i]}`;
  },
  time: (iso) => (iso ? new Date(iso).toLocaleString() : ''),
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
    return tr;
  });
  $('gpus').tBodies[0].replaceChildren(...rows);
  if (s.miner) $('miner-state').textContent = s.miner.state;
}

function showMiner(status) {
  $('miner-state').textContent = status.state;
  $('miner-start').disabled = status.state === 'running' || status.state === 'starting';
  $('miner-stop').disabled = status.state === 'stopped';
}

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
}

function connect() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  socket = new WebSocket(`${scheme}://${location.host}/ws`, ['bearer', token]);
  socket.onopen = () => {
    $('connection').textContent = 'live';
    $('connection').classList.add('live');
  };
  socket.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    if (msg.type === 'stats') showStats(msg.data);
    else if (msg.type === 'miner') showMiner(msg.data);
    else if (msg.type === 'block') loadBlocks().catch(() => undefined);
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
  connect();
  const [status, stats] = await Promise.all([api('/api/miner/status'), api('/api/stats'), loadBlocks()]);
  showMiner(status);
  showStats(stats);
}

function signOut() {
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
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

$('blocks-more').addEventListener('click', () => loadBlocks(true));

for (const button of document.querySelectorAll('button.export')) {
  button.addEventListener('click', async () => {
    const res = await fetch(button.dataset.path, { headers: { authorization: `Bearer ${token}` } });
    const url = URL.createObjectURL(await res.blob());
    const a = Object.assign(document.createElement('a'), { href: url, download: button.dataset.name });
    a.click();
    URL.revokeObjectURL(url);
  });
}

if (token) showDashboard().catch(signOut);

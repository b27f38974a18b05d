// A simulated GPU miner for demos and tests (`npm run sim-miner`). It speaks the miner protocol
// documented in docs/api/rig.md: one JSON object per stdout line (`stats`, `block`), anything else is
// log text. Tuned by SIM_MINER_* (src/config/sim-miner.ts); stops cleanly on SIGTERM/SIGINT.
import { createHash, randomInt } from 'node:crypto';
import { ConfigError } from '../../config/parsers.ts';
import { parseSimMinerConfig, type SimMinerConfig } from '../../config/sim-miner.ts';

let cfg: SimMinerConfig;
try {
  cfg = parseSimMinerConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`sim-miner: ${err.message}\n`);
  process.exit(78); // EX_CONFIG, as ferrite itself
}
const gpuCount = cfg.SIM_MINER_GPUS;

const gpus = Array.from({ length: gpuCount }, (_, index) => ({
  index,
  name: index % 2 === 0 ? 'NVIDIA GeForce RTX 3070' : 'AMD Radeon RX 6800',
  base: index % 2 === 0 ? 61_000_000 : 58_000_000,
  temperatureC: cfg.SIM_MINER_TEMPERATURE_C,
}));
// The random walk stays within these; a configured start or heating widens them.
const coolest = Math.min(45, cfg.SIM_MINER_TEMPERATURE_C);
const hottest = cfg.SIM_MINER_HEAT_PER_TICK_C > 0 ? 110 : Math.max(85, cfg.SIM_MINER_TEMPERATURE_C);
const shares = { accepted: 0, rejected: 0, stale: 0 };
let height = 1_800_000 + randomInt(100_000);

const slowFrom =
  cfg.SIM_MINER_SLOWDOWN_AFTER_MS > 0 ? Date.now() + cfg.SIM_MINER_SLOWDOWN_AFTER_MS : Infinity;
const jitter = (value: number, spread: number) => value * (1 + (Math.random() * 2 - 1) * spread);
const line = (obj: unknown) => process.stdout.write(`${JSON.stringify(obj)}\n`);

process.stdout.write(`sim-miner starting with ${gpuCount} GPUs\n`);

const timer = setInterval(() => {
  const perGpu = gpus.map((g) => {
    const step = Math.random() * 2 - 1 + cfg.SIM_MINER_HEAT_PER_TICK_C;
    g.temperatureC = Math.min(hottest, Math.max(coolest, g.temperatureC + step));
    return {
      index: g.index,
      name: g.name,
      temperatureC: Math.round(g.temperatureC * 10) / 10,
      fanPercent: Math.min(100, Math.max(0, Math.round(30 + (g.temperatureC - 45) * 1.5))),
      powerW: Math.round(jitter(g.index % 2 === 0 ? 130 : 150, 0.05)),
      hashrate: Math.round(jitter(Date.now() >= slowFrom ? g.base / 2 : g.base, 0.03)),
    };
  });
  const r = Math.random();
  if (r < 0.97) shares.accepted++;
  else if (r < 0.99) shares.stale++;
  else shares.rejected++;
  line({
    type: 'stats',
    hashrate: perGpu.reduce((sum, g) => sum + g.hashrate, 0),
    shares: { ...shares },
    gpus: perGpu,
  });
  if (Math.random() < cfg.SIM_MINER_BLOCK_CHANCE) {
    height++;
    const hash = `0x${createHash('sha256').update(`${height}:${Date.now()}`).digest('hex')}`;
    line({ type: 'block', height, hash, difficulty: Math.round(jitter(4.2e15, 0.1)) });
    process.stdout.write(`found block ${height}\n`);
  }
}, cfg.SIM_MINER_INTERVAL_MS);

if (cfg.SIM_MINER_CRASH_AFTER_MS > 0) {
  setTimeout(() => {
    process.stderr.write('sim-miner: simulated crash\n');
    process.exit(1);
  }, cfg.SIM_MINER_CRASH_AFTER_MS);
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    clearInterval(timer);
    process.stdout.write(`sim-miner stopping on ${signal}\n`);
    process.exit(0);
  });
}

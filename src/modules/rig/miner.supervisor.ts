import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';
import type { Logger } from '../../log.ts';
import type { MinerBlock, MinerState, MinerStatus, StatsSnapshot } from './miner.protocol.ts';

export interface SupervisorOptions {
  cmd: string;
  args: string[];
  stopTimeoutMs: number;
  restart: 'on-failure' | 'always' | 'never';
  restartBackoffMaxMs: number;
  /** The miner's whole environment: see minerEnvironment. */
  env: NodeJS.ProcessEnv;
  log: Logger;
}

/** What every program expects to find; nothing of ferrite's own configuration. */
const BASE_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ'];

/**
 * The miner is a third-party binary: it gets an explicit, minimal environment, never
 * ferrite's (which holds JWT_SECRET, DATABASE_URL, upstream URLs…). Only the base variables
 * and the names in `passthrough` (MINER_ENV_PASSTHROUGH and the simulated miner's keys) are copied.
 */
export function minerEnvironment(
  parent: NodeJS.ProcessEnv,
  passthrough: readonly string[],
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(parent)) {
    if (value !== undefined && (BASE_ENV.includes(name) || passthrough.includes(name))) env[name] = value;
  }
  return env;
}

const RECENT_LOG_LINES = 50;
const WINDOW_15M = 15 * 60_000;

/**
 * Owns the one miner process of this host (it runs in the primary; workers reach it over IPC).
 * Parses the miner's stdout protocol, keeps the latest stats and a short log, and restarts a
 * crashed miner per policy with exponential backoff.
 *
 * Events: `miner` (status changed), `stats` (new snapshot), `block` (a block was found).
 */
export class MinerSupervisor extends EventEmitter {
  readonly #opts: SupervisorOptions;
  #child: ChildProcess | undefined;
  #state: MinerState = 'stopped';
  #startedAt: Date | undefined;
  #restarts = 0;
  #lastExit: MinerStatus['lastExit'] = null;
  #recentLog: string[] = [];
  #samples: { at: number; hashrate: number }[] = [];
  #snapshot: StatsSnapshot | undefined;
  #restartTimer: NodeJS.Timeout | undefined;
  #wantRunning = false;

  constructor(opts: SupervisorOptions) {
    super();
    this.#opts = opts;
  }

  status(): MinerStatus {
    const uptime =
      this.#startedAt && this.#state === 'running' ? (Date.now() - this.#startedAt.getTime()) / 1000 : 0;
    return {
      state: this.#state,
      pid: this.#child?.pid ?? null,
      startedAt: this.#startedAt?.toISOString() ?? null,
      uptimeSeconds: Math.round(uptime),
      restarts: this.#restarts,
      lastExit: this.#lastExit,
      recentLog: [...this.#recentLog],
    };
  }

  snapshot(): StatsSnapshot | undefined {
    return this.#snapshot;
  }

  /** Starts the miner; 'already' when it is starting or running. */
  start(): 'started' | 'already' {
    this.#wantRunning = true;
    if (this.#state === 'starting' || this.#state === 'running') return 'already';
    clearTimeout(this.#restartTimer);
    this.#spawn();
    return 'started';
  }

  /** SIGTERM, then SIGKILL after the timeout; resolves once the process is gone. Idempotent. */
  async stop(): Promise<void> {
    this.#wantRunning = false;
    clearTimeout(this.#restartTimer);
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      if (this.#state === 'crashed') this.#setState('stopped');
      return;
    }
    this.#setState('stopping');
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), this.#opts.stopTimeoutMs);
    await exited;
    clearTimeout(timer);
  }

  #setState(state: MinerState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.emit('miner', this.status());
  }

  #log(line: string): void {
    this.#recentLog.push(line.length > 500 ? `${line.slice(0, 500)}…` : line);
    if (this.#recentLog.length > RECENT_LOG_LINES) this.#recentLog.shift();
  }

  #spawn(): void {
    const { cmd, args, log } = this.#opts;
    this.#setState('starting');
    let child: ChildProcess;
    try {
      child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: this.#opts.env });
    } catch (err) {
      this.#onExit(null, null, err as Error);
      return;
    }
    this.#child = child;
    child.once('spawn', () => {
      this.#startedAt = new Date();
      log.info({ pid: child.pid, cmd }, 'miner started');
      this.#setState('running');
    });
    child.once('error', (err) => {
      // 'error' without 'spawn' means the command could not be started at all.
      if (child.pid === undefined) this.#onExit(null, null, err);
    });
    child.once('exit', (code, signal) => this.#onExit(code, signal));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (l) => this.#onLine(l));
    createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (l) => this.#log(l));
  }

  #onLine(text: string): void {
    let msg: unknown;
    if (text.startsWith('{')) {
      try {
        msg = JSON.parse(text);
      } catch {
        msg = undefined;
      }
    }
    const obj = msg as { type?: unknown } | undefined;
    if (obj?.type === 'stats') this.#onStats(obj as Record<string, unknown>);
    else if (obj?.type === 'block') this.#onBlock(obj as Record<string, unknown>);
    else this.#log(text);
  }

  #onStats(m: Record<string, unknown>): void {
    const now = Date.now();
    const hashrate = typeof m.hashrate === 'number' && Number.isFinite(m.hashrate) ? m.hashrate : 0;
    this.#samples.push({ at: now, hashrate });
    while (this.#samples.length > 0 && (this.#samples[0] as { at: number }).at < now - WINDOW_15M) {
      this.#samples.shift();
    }
    const avg = (windowMs: number) => {
      const recent = this.#samples.filter((s) => s.at >= now - windowMs);
      return recent.length ? Math.round(recent.reduce((a, s) => a + s.hashrate, 0) / recent.length) : 0;
    };
    const shares = (m.shares ?? {}) as Record<string, unknown>;
    const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
    const gpus = Array.isArray(m.gpus) ? (m.gpus as Record<string, unknown>[]) : [];
    this.#snapshot = {
      hashrate: { current: hashrate, avg1m: avg(60_000), avg15m: avg(WINDOW_15M), unit: 'H/s' },
      shares: { accepted: num(shares.accepted), rejected: num(shares.rejected), stale: num(shares.stale) },
      gpus: gpus.map((g, i) => ({
        index: typeof g.index === 'number' ? g.index : i,
        name: typeof g.name === 'string' ? g.name : `GPU ${i}`,
        temperatureC: num(g.temperatureC),
        fanPercent: num(g.fanPercent),
        powerW: num(g.powerW),
        hashrate: num(g.hashrate),
      })),
      updatedAt: new Date(now).toISOString(),
    };
    this.emit('stats', this.#snapshot);
  }

  #onBlock(m: Record<string, unknown>): void {
    if (typeof m.height !== 'number' || typeof m.hash !== 'string') {
      this.#log(JSON.stringify(m));
      return;
    }
    const block: MinerBlock = {
      height: m.height,
      hash: m.hash,
      difficulty: typeof m.difficulty === 'number' ? m.difficulty : null,
      foundAt: new Date().toISOString(),
    };
    this.emit('block', block);
  }

  #onExit(code: number | null, signal: NodeJS.Signals | null, error?: Error): void {
    const log = this.#opts.log;
    this.#child = undefined;
    this.#lastExit = { code, signal, at: new Date().toISOString() };
    if (error) this.#log(`failed to start: ${error.message}`);
    const clean = this.#state === 'stopping' || !this.#wantRunning;
    if (clean) {
      log.info({ code, signal }, 'miner stopped');
      this.#setState('stopped');
      return;
    }
    log.warn({ code, signal, err: error }, 'miner exited unexpectedly');
    this.#setState('crashed');
    const policy = this.#opts.restart;
    if (policy === 'never' || (policy === 'on-failure' && code === 0)) {
      this.#wantRunning = false;
      return;
    }
    const delay = Math.min(this.#opts.restartBackoffMaxMs, 250 * 2 ** Math.min(this.#restarts, 10));
    this.#restarts++;
    this.#restartTimer = setTimeout(() => {
      if (this.#wantRunning) this.#spawn();
    }, delay);
    this.#restartTimer.unref();
  }
}

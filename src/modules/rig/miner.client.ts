import { AppError } from '../../errors.ts';
import type { Channel } from '../../ipc.ts';
import { strongEtag } from '../../native/xxhash.ts';
import {
  MINER_COMMAND,
  MINER_EVENT,
  MINER_REPLY,
  type MinerEvent,
  type MinerOp,
  type MinerReply,
  type MinerStatus,
  type StatsSnapshot,
} from './miner.protocol.ts';

interface Pending {
  resolve: (reply: MinerReply) => void;
  timer: NodeJS.Timeout;
}

const EMPTY_STATS: Omit<StatsSnapshot, 'updatedAt'> = {
  hashrate: { current: 0, avg1m: 0, avg15m: 0, unit: 'H/s' },
  shares: { accepted: 0, rejected: 0, stale: 0 },
  gpus: [],
};

/**
 * The worker's view of the host's miner, which the primary supervises. Status and stats arrive
 * as broadcasts and are kept in memory, so reading them costs no IPC and no query; commands go
 * to the primary and wait for its reply.
 */
export class MinerClient {
  readonly enabled: boolean;
  readonly #timeoutMs: number;
  readonly #supervisor: Channel;
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;
  #status: MinerStatus | undefined;
  #snapshot: StatsSnapshot | undefined;
  #stats: { body: string; etag: string } | undefined;
  readonly #listeners = new Set<(event: MinerEvent) => void>();

  /** `supervisor`: the link to the miner's supervisor (the primary, or in-process when single). */
  constructor(enabled: boolean, timeoutMs: number, supervisor: Channel) {
    this.enabled = enabled;
    this.#timeoutMs = timeoutMs;
    this.#supervisor = supervisor;
    if (!enabled) return;
    supervisor.onMessage((message) => {
      const msg = message as unknown as MinerEvent | (MinerReply & { snapshot?: StatsSnapshot });
      if (msg.type === MINER_EVENT) this.#onEvent(msg);
      else if (msg.type === MINER_REPLY) this.#onReply(msg);
    });
    void this.command('status').catch(() => undefined);
  }

  /** Called with every miner event (for live pushes). */
  subscribe(listener: (event: MinerEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #onEvent(event: MinerEvent): void {
    if (event.kind === 'miner') this.#status = event.data;
    if (event.kind === 'stats') this.#snapshot = event.data;
    if (event.kind !== 'block') this.#stats = undefined;
    for (const l of this.#listeners) l(event);
  }

  #onReply(reply: MinerReply & { snapshot?: StatsSnapshot }): void {
    this.#status = reply.status;
    if (reply.snapshot) this.#snapshot = reply.snapshot;
    this.#stats = undefined;
    const pending = this.#pending.get(reply.id);
    if (!pending) return;
    this.#pending.delete(reply.id);
    clearTimeout(pending.timer);
    pending.resolve(reply);
  }

  #unavailable(detail: string): AppError {
    return new AppError('MINER_UNAVAILABLE', { detail, headers: { 'Retry-After': '5' } });
  }

  command(op: MinerOp): Promise<MinerReply> {
    if (!this.enabled || !this.#supervisor.connected)
      return Promise.reject(this.#unavailable('No miner is configured on this host.'));
    const id = ++this.#nextId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(this.#unavailable('The miner supervisor did not answer in time.'));
      }, this.#timeoutMs);
      this.#pending.set(id, { resolve, timer });
      this.#supervisor.send({ type: MINER_COMMAND, id, op });
    });
  }

  async status(): Promise<MinerStatus> {
    const status = this.#status ?? (await this.command('status')).status;
    // Uptime moves on between broadcasts; derive it from the start time at each read.
    const uptime =
      status.state === 'running' && status.startedAt ? (Date.now() - Date.parse(status.startedAt)) / 1000 : 0;
    return { ...status, uptimeSeconds: Math.max(0, Math.round(uptime)) };
  }

  /**
   * The status as the supervisor has it now, for `/api/miner/status`: the cached one changes only
   * with the state, so its `recentLog` would stop at the last change. One IPC round trip; the
   * cached status when the supervisor does not answer.
   */
  async currentStatus(): Promise<MinerStatus> {
    try {
      this.#status = (await this.command('status')).status;
    } catch (err) {
      if (!this.#status) throw err;
    }
    return this.status();
  }

  /** The /api/stats body and its ETag, serialised once per change. */
  async stats(): Promise<{ body: string; etag: string }> {
    const status = await this.status();
    if (!this.#stats) {
      const body = JSON.stringify({
        ...(this.#snapshot ?? { ...EMPTY_STATS, updatedAt: null }),
        miner: { state: status.state, uptimeSeconds: status.uptimeSeconds },
      });
      const etag = strongEtag(body);
      this.#stats = { body, etag };
    }
    return this.#stats;
  }
}

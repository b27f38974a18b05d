import { hostname } from 'node:os';
import type { Config } from '../../config.ts';
import type { Queryable } from '../../db/pool.ts';
import type { Logger } from '../../log.ts';
import type { MinerBlock, MinerState, MinerStatus, StatsSnapshot } from './miner.protocol.ts';
import type { MinerSupervisor } from './miner.supervisor.ts';
import { NodeRpcClient } from './node.client.ts';
import {
  insertFoundBlock,
  insertMinerEvent,
  insertStatsSample,
  markAttempt,
  markValidated,
  pendingBlocks,
} from './rig.repo.ts';

/**
 * Persists what the host's miner reports (it runs beside the supervisor, in the primary): a
 * stats sample every STATS_PERSIST_INTERVAL_MS, every change of the miner's state and every
 * found block at once. Found blocks are then confirmed with the node over JSON-RPC, retried
 * while the node is unreachable.
 */
export class RigRecorder {
  readonly #pool: Queryable;
  readonly #log: Logger;
  readonly #node: NodeRpcClient | undefined;
  readonly #method: string;
  readonly #retryMs: number;
  readonly #host = hostname();
  #latest: StatsSnapshot | undefined;
  #persisted: string | undefined;
  readonly #statsTimer: NodeJS.Timeout;
  #validateTimer: NodeJS.Timeout | undefined;
  #validating: Promise<void> | undefined;
  #onValidated: ((hash: string) => void) | undefined;
  /** The state last recorded; the supervisor starts `stopped`, which is no change. */
  #state: MinerState = 'stopped';
  /** State changes are written one after the other, so their ids follow their order. */
  #events: Promise<void> = Promise.resolve();

  /** `db` stays its opener's to close. */
  constructor(db: Queryable, cfg: Config, log: Logger) {
    this.#pool = db;
    this.#log = log;
    this.#node = cfg.NODE_RPC_URL
      ? new NodeRpcClient(cfg.NODE_RPC_URL, cfg.NODE_RPC_TIMEOUT_MS, 2)
      : undefined;
    this.#method = cfg.BLOCK_VALIDATE_METHOD;
    this.#retryMs = cfg.BLOCK_VALIDATE_RETRY_MS;
    this.#statsTimer = setInterval(() => void this.#persistStats(), cfg.STATS_PERSIST_INTERVAL_MS);
    this.#statsTimer.unref();
  }

  attach(miner: MinerSupervisor, onValidated?: (hash: string) => void): void {
    this.#onValidated = onValidated;
    miner.on('stats', (s: StatsSnapshot) => {
      this.#latest = s;
    });
    miner.on('block', (b: MinerBlock) => void this.#record(b));
    miner.on('miner', (status: MinerStatus) => this.#recordState(status));
    // Blocks found before a restart may still wait for their confirmation.
    this.#scheduleValidation(0);
  }

  async #persistStats(): Promise<void> {
    const s = this.#latest;
    if (!s || s.updatedAt === this.#persisted) return;
    try {
      await insertStatsSample(this.#pool, this.#host, s);
      this.#persisted = s.updatedAt;
    } catch (err) {
      this.#log.warn({ err }, 'could not persist a stats sample');
    }
  }

  #recordState(status: MinerStatus): void {
    if (status.state === this.#state) return;
    this.#state = status.state;
    const at = new Date();
    this.#events = this.#events.then(async () => {
      try {
        await insertMinerEvent(this.#pool, this.#host, at, status);
      } catch (err) {
        this.#log.warn({ err, state: status.state }, 'could not record a miner state change');
      }
    });
  }

  async #record(block: MinerBlock): Promise<void> {
    try {
      await insertFoundBlock(this.#pool, block);
      this.#log.info({ height: block.height, hash: block.hash }, 'block found');
    } catch (err) {
      this.#log.error({ err, hash: block.hash }, 'could not record a found block');
    }
    this.#scheduleValidation(0);
  }

  #scheduleValidation(delayMs: number): void {
    if (!this.#node || this.#validateTimer) return;
    this.#validateTimer = setTimeout(() => {
      this.#validateTimer = undefined;
      this.#validating ??= this.#validate().finally(() => {
        this.#validating = undefined;
      });
    }, delayMs);
    this.#validateTimer.unref();
  }

  async #validate(): Promise<void> {
    const node = this.#node as NodeRpcClient;
    let pending: { hash: string }[];
    try {
      pending = await pendingBlocks(this.#pool, 100);
    } catch (err) {
      this.#log.warn({ err }, 'could not read blocks waiting for validation');
      this.#scheduleValidation(this.#retryMs);
      return;
    }
    let retry = false;
    for (const { hash } of pending) {
      try {
        const block = await node.call(this.#method, [hash, false]);
        if (block) {
          if (await markValidated(this.#pool, hash)) this.#onValidated?.(hash);
        } else {
          retry = true;
          await markAttempt(this.#pool, hash, 'the node does not know this block yet');
        }
      } catch (err) {
        retry = true;
        await markAttempt(this.#pool, hash, (err as Error).message).catch(() => undefined);
      }
    }
    if (retry) this.#scheduleValidation(this.#retryMs);
  }

  async close(): Promise<void> {
    clearInterval(this.#statsTimer);
    clearTimeout(this.#validateTimer);
    await this.#validating;
    await this.#events;
    await this.#persistStats();
    await this.#node?.close();
  }
}

import pg from 'pg';
import type { Logger } from '../../log.ts';
import { listen } from './events.repo.ts';

export interface ListenerOptions {
  connectionString: string;
  channel: string;
  applicationName: string;
  log: Logger;
  onNotification(payload: string): void;
  /**
   * Called after every successful LISTEN, the first included: notifications sent while the
   * session was down are lost, so whoever depends on them re-reads what they may have missed.
   */
  onListening(): void;
}

const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 5000;
// A half-open connection delivers nothing and reports nothing; a periodic round trip finds it.
const PING_INTERVAL_MS = 15_000;
const PING_TIMEOUT_MS = 5000;

/**
 * One dedicated Postgres session per worker that LISTENs on a channel (a pooled client cannot:
 * it is shared and released). Reconnects with exponential backoff when the session drops.
 */
export class PgListener {
  readonly #opts: ListenerOptions;
  #client: pg.Client | undefined;
  #closed = false;
  #backoff = BACKOFF_MIN_MS;
  #retry: NodeJS.Timeout | undefined;
  #ping: NodeJS.Timeout | undefined;

  constructor(opts: ListenerOptions) {
    this.#opts = opts;
  }

  get connected(): boolean {
    return this.#client !== undefined;
  }

  start(): void {
    void this.#connect();
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    const client = new pg.Client({
      connectionString: this.#opts.connectionString,
      application_name: this.#opts.applicationName,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      connectionTimeoutMillis: 5000,
      query_timeout: PING_TIMEOUT_MS,
    });
    let lost = false;
    const onLost = (err?: Error) => {
      if (lost) return;
      lost = true;
      if (this.#client === client) this.#client = undefined;
      clearInterval(this.#ping);
      client.removeAllListeners('notification');
      client.end().catch(() => undefined);
      if (this.#closed) return;
      this.#opts.log.warn({ err, retryInMs: this.#backoff }, 'event listener lost its postgres session');
      this.#retry = setTimeout(() => void this.#connect(), this.#backoff);
      this.#retry.unref();
      this.#backoff = Math.min(this.#backoff * 2, BACKOFF_MAX_MS);
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
    client.on('notification', (msg) => {
      if (msg.channel === this.#opts.channel && msg.payload) this.#opts.onNotification(msg.payload);
    });
    try {
      await client.connect();
      await listen(client, this.#opts.channel);
    } catch (err) {
      onLost(err as Error);
      return;
    }
    if (this.#closed || lost) {
      client.end().catch(() => undefined);
      return;
    }
    this.#client = client;
    this.#backoff = BACKOFF_MIN_MS;
    this.#ping = setInterval(() => {
      client.query('SELECT 1').catch((err: Error) => onLost(err));
    }, PING_INTERVAL_MS);
    this.#ping.unref();
    this.#opts.log.debug({ channel: this.#opts.channel }, 'event listener ready');
    this.#opts.onListening();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    clearInterval(this.#ping);
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }
}

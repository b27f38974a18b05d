import pg from 'pg';
import type { Logger } from '../log.ts';

export interface ListenOptions {
  /**
   * Called each time the channel starts being listened to for this subscriber: the first time,
   * and again after every reconnect. Notifications sent while the session was down are lost,
   * so whoever depends on them re-reads here what they may have missed.
   */
  onListening?(): void;
}

/** One subscriber's hold on a channel. */
export interface Subscription {
  /** Whether the channel is being listened to now (false while the session reconnects). */
  readonly listening: boolean;
  /** Stops delivery to this subscriber; the channel is UNLISTENed when its last subscriber leaves. */
  close(): void;
}

export interface ListenSessionOptions {
  connectionString: string;
  applicationName: string;
  log: Logger;
}

interface Subscriber {
  onNotification(payload: string): void;
  onListening?(): void;
  active: boolean;
}

/** The session's current connection; `listens` marks each channel's latest LISTEN (done or not). */
interface Connection {
  client: pg.Client;
  listens: Map<string, { done: boolean }>;
  /** Runs `sql` after the connection's earlier statements (pg deprecates overlapping queries). */
  run(sql: string): Promise<void>;
  drop(err?: Error): void;
}

// Channel names cannot be query parameters; lower-case identifiers also equal pg_notify's text.
const CHANNEL_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 5000;
// A half-open connection delivers nothing and reports nothing; a periodic round trip finds it.
const PING_INTERVAL_MS = 15_000;
const PING_TIMEOUT_MS = 5000;

/**
 * The one dedicated Postgres session of a worker that LISTENs, for every channel and subscriber
 * (a pooled client cannot: it is shared and released). Connects at the first subscription,
 * reconnects with exponential backoff when the session drops, and ends when the database closes.
 */
export class ListenSession {
  readonly #o: ListenSessionOptions;
  readonly #channels = new Map<string, Set<Subscriber>>();
  #conn: Connection | undefined;
  #started = false;
  #closed = false;
  #backoff = BACKOFF_MIN_MS;
  #retry: NodeJS.Timeout | undefined;
  #ping: NodeJS.Timeout | undefined;

  constructor(options: ListenSessionOptions) {
    this.#o = options;
  }

  subscribe(
    channel: string,
    onNotification: (payload: string) => void,
    options: ListenOptions = {},
  ): Subscription {
    if (!CHANNEL_NAME.test(channel)) throw new Error(`bad channel name ${channel}`);
    const sub: Subscriber = { onNotification, onListening: options.onListening, active: false };
    const subscription: Subscription = {
      get listening() {
        return sub.active;
      },
      close: () => this.#unsubscribe(channel, sub),
    };
    if (this.#closed) return subscription;
    let subs = this.#channels.get(channel);
    if (!subs) {
      subs = new Set();
      this.#channels.set(channel, subs);
    }
    subs.add(sub);
    if (!this.#started) {
      this.#started = true;
      void this.#connect();
    } else if (this.#conn) {
      const listen = this.#conn.listens.get(channel);
      if (!listen) void this.#listen(this.#conn, channel);
      else if (listen.done) queueMicrotask(() => this.#activate(channel, sub));
    }
    return subscription;
  }

  #unsubscribe(channel: string, sub: Subscriber): void {
    sub.active = false;
    const subs = this.#channels.get(channel);
    if (!subs?.delete(sub) || subs.size > 0) return;
    this.#channels.delete(channel);
    const conn = this.#conn;
    if (!conn?.listens.delete(channel)) return;
    conn.run(`UNLISTEN ${channel}`).catch((err: Error) => conn.drop(err));
  }

  /** Marks `sub` as listening and tells it, unless it left or the session changed meanwhile. */
  #activate(channel: string, sub: Subscriber): void {
    if (sub.active || !this.#channels.get(channel)?.has(sub) || !this.#conn?.listens.get(channel)?.done)
      return;
    sub.active = true;
    try {
      sub.onListening?.();
    } catch (err) {
      this.#o.log.error({ err, channel }, 'a LISTEN subscriber failed to catch up');
    }
  }

  async #listen(conn: Connection, channel: string): Promise<void> {
    const mark = { done: false };
    conn.listens.set(channel, mark);
    try {
      await conn.run(`LISTEN ${channel}`);
    } catch (err) {
      conn.drop(err as Error);
      return;
    }
    // An UNLISTEN, a later LISTEN or a lost connection made this one stale.
    if (this.#conn !== conn || conn.listens.get(channel) !== mark) return;
    mark.done = true;
    for (const sub of [...(this.#channels.get(channel) ?? [])]) this.#activate(channel, sub);
  }

  #deliver(channel: string, payload: string): void {
    for (const sub of [...(this.#channels.get(channel) ?? [])]) {
      try {
        sub.onNotification(payload);
      } catch (err) {
        this.#o.log.error({ err, channel }, 'a LISTEN subscriber failed on a notification');
      }
    }
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    const client = new pg.Client({
      connectionString: this.#o.connectionString,
      application_name: this.#o.applicationName,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      connectionTimeoutMillis: 5000,
      query_timeout: PING_TIMEOUT_MS,
    });
    let lost = false;
    let queue: Promise<unknown> = Promise.resolve();
    const conn: Connection = {
      client,
      listens: new Map(),
      run: (sql) => {
        const done = queue.then(async () => {
          await client.query(sql);
        });
        queue = done.catch(() => undefined);
        return done;
      },
      drop: (err?: Error) => {
        if (lost) return;
        lost = true;
        if (this.#conn === conn) {
          this.#conn = undefined;
          clearInterval(this.#ping);
          for (const subs of this.#channels.values()) for (const sub of subs) sub.active = false;
        }
        client.removeAllListeners('notification');
        client.end().catch(() => undefined);
        if (this.#closed) return;
        this.#o.log.warn({ err, retryInMs: this.#backoff }, 'LISTEN session lost its postgres connection');
        this.#retry = setTimeout(() => void this.#connect(), this.#backoff);
        this.#retry.unref();
        this.#backoff = Math.min(this.#backoff * 2, BACKOFF_MAX_MS);
      },
    };
    client.on('error', conn.drop);
    client.on('end', () => conn.drop());
    client.on('notification', (msg) => this.#deliver(msg.channel, msg.payload ?? ''));
    try {
      await client.connect();
    } catch (err) {
      conn.drop(err as Error);
      return;
    }
    if (this.#closed || lost) {
      client.end().catch(() => undefined);
      return;
    }
    this.#conn = conn;
    this.#ping = setInterval(() => {
      conn.run('SELECT 1').catch((err: Error) => conn.drop(err));
    }, PING_INTERVAL_MS);
    this.#ping.unref();
    await Promise.all([...this.#channels.keys()].map((channel) => this.#listen(conn, channel)));
    if (this.#conn !== conn) return;
    this.#backoff = BACKOFF_MIN_MS;
    this.#o.log.debug({ channels: [...conn.listens.keys()] }, 'LISTEN session ready');
  }

  /** Ends the session; subscriptions stop delivering and stay closed. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    clearInterval(this.#ping);
    for (const subs of this.#channels.values()) for (const sub of subs) sub.active = false;
    this.#channels.clear();
    const conn = this.#conn;
    this.#conn = undefined;
    if (!conn) return;
    conn.client.removeAllListeners('notification');
    await conn.client.end().catch(() => undefined);
  }
}

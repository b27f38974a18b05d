import pg from 'pg';
import QueryStream from 'pg-query-stream';
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { inSpan, tracingOn } from '../tracing/index.ts';
import { isPoolBusyError, isUnavailableError } from './errors.ts';
import { type ListenOptions, ListenSession, type Subscription } from './listen.ts';

/** What repositories need: the pool-backed Database or a transaction's client. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>>;
}

/** The first row a statement returns, if any: a lookup by key, or an `INSERT … RETURNING`. */
export async function one<R extends pg.QueryResultRow>(
  db: Queryable,
  text: string,
  values?: unknown[],
): Promise<R | undefined> {
  return (await db.query<R>(text, values)).rows[0];
}

/** A client span for one statement: named by its command (`SELECT`), the text without values. */
function querySpan<T>(text: string, run: () => Promise<T>): Promise<T> {
  const command = /^\s*(\w+)/.exec(text)?.[1]?.toUpperCase() ?? 'QUERY';
  return inSpan(
    command,
    'client',
    { 'db.system.name': 'postgresql', 'db.operation.name': command, 'db.query.text': text.slice(0, 2000) },
    () => run(),
  );
}

/** `client` whose statements are traced (a transaction's, with tracing on). */
function traced(client: Queryable): Queryable {
  return {
    query: <R extends pg.QueryResultRow>(text: string, values?: unknown[]) =>
      querySpan(text, () => client.query<R>(text, values)),
  };
}

export interface PoolOptions {
  connectionString: string;
  max: number;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  statementTimeoutMs: number;
  retryAfterSeconds: number;
  applicationName: string;
  /** Names the LISTEN session in pg_stat_activity; `<applicationName>-listen` by default. */
  listenApplicationName?: string;
}

type PoolSettings = Pick<
  Config,
  'PG_CONNECT_TIMEOUT_MS' | 'PG_IDLE_TIMEOUT_MS' | 'PG_STATEMENT_TIMEOUT_MS' | 'DB_RETRY_AFTER_SECONDS'
>;

/** A Database on `connectionString` with the service's pool settings: how every process opens one. */
export function openDatabase(
  cfg: PoolSettings,
  target: Pick<PoolOptions, 'connectionString' | 'max' | 'applicationName' | 'listenApplicationName'>,
  log: Logger,
): Database {
  return new Database(
    {
      ...target,
      connectTimeoutMs: cfg.PG_CONNECT_TIMEOUT_MS,
      idleTimeoutMs: cfg.PG_IDLE_TIMEOUT_MS,
      statementTimeoutMs: cfg.PG_STATEMENT_TIMEOUT_MS,
      retryAfterSeconds: cfg.DB_RETRY_AFTER_SECONDS,
    },
    log,
  );
}

// Upper bound for one streamed query (an export of millions of rows).
const STREAM_TIMEOUT_MS = 6 * 60 * 60 * 1000;

/**
 * The worker's pool and its one LISTEN session. While the database is known to be down, queries
 * fail at once with a 503 instead of each waiting for a connect timeout; a background probe
 * notices the recovery.
 */
export class Database implements Queryable {
  readonly pool: pg.Pool;
  readonly #log: Logger;
  readonly #options: PoolOptions;
  readonly #retryAfter: number;
  #down = false;
  #probe: NodeJS.Timeout | undefined;
  // A secondary pool's listeners join its primary's session: one LISTEN connection per worker.
  #primary: Database | undefined;
  #listener: ListenSession | undefined;

  constructor(options: PoolOptions, log: Logger) {
    this.#log = log;
    this.#options = options;
    this.#retryAfter = options.retryAfterSeconds;
    this.pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.max,
      connectionTimeoutMillis: options.connectTimeoutMs,
      idleTimeoutMillis: options.idleTimeoutMs,
      statement_timeout: options.statementTimeoutMs || undefined,
      query_timeout: options.statementTimeoutMs ? options.statementTimeoutMs + 1000 : undefined,
      application_name: options.applicationName,
      keepAlive: true,
    });
    // An idle client losing its connection must not take the worker down.
    this.pool.on('error', (err) => {
      this.#log.warn({ err }, 'idle postgres client error');
      if (isUnavailableError(err)) this.#markDown();
    });
  }

  get available(): boolean {
    return !this.#down;
  }

  unavailable(cause?: unknown): AppError {
    return new AppError('DATABASE_UNAVAILABLE', {
      detail: 'The database is not reachable; try again shortly.',
      headers: { 'Retry-After': String(this.#retryAfter) },
      cause,
    });
  }

  busy(cause?: unknown): AppError {
    return new AppError('DATABASE_BUSY', {
      detail: 'Every database connection of this worker is in use; try again shortly.',
      headers: { 'Retry-After': String(this.#retryAfter) },
      cause,
    });
  }

  /** A pool error as the client should see it: busy, down (noted), or as it is. */
  #translate(err: unknown): unknown {
    if (isPoolBusyError(err)) return this.busy(err);
    if (!isUnavailableError(err)) return err;
    this.#markDown();
    return this.unavailable(err);
  }

  // Not async itself: one promise per statement, the driver's, as before tracing existed.
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    if (this.#down) return Promise.reject(this.unavailable());
    if (tracingOn()) return querySpan(text, () => this.#query<R>(text, values));
    return this.#query<R>(text, values);
  }

  async #query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(text, values);
    } catch (err) {
      throw this.#translate(err);
    }
  }

  /**
   * Another Database on the same server with a pool of its own, `max` clients: for long streamed
   * reads (exports), so that clients slow to read them can hold only those connections, never
   * the ones every other request needs.
   */
  secondary(max: number, name: string): Database {
    const db = new Database(
      { ...this.#options, max, applicationName: `${this.#options.applicationName}-${name}` },
      this.#log,
    );
    db.#primary = this.#primary ?? this;
    return db;
  }

  /**
   * Delivers the payload of every NOTIFY on `channel` to `onNotification`, over the one session
   * this Database keeps for all its listeners (opened at the first call, reconnected with backoff,
   * ended by `close`). See `ListenOptions.onListening` for re-reading after a reconnect.
   */
  listen(channel: string, onNotification: (payload: string) => void, options?: ListenOptions): Subscription {
    if (this.#primary) return this.#primary.listen(channel, onNotification, options);
    return this.#listenSession().subscribe(channel, onNotification, options);
  }

  #listenSession(): ListenSession {
    this.#listener ??= new ListenSession({
      connectionString: this.#options.connectionString,
      applicationName: this.#options.listenApplicationName ?? `${this.#options.applicationName}-listen`,
      log: this.#log,
    });
    return this.#listener;
  }

  /** A dedicated client, failing fast with a 503 while the database is known to be down. */
  async #connect(): Promise<pg.PoolClient> {
    if (this.#down) throw this.unavailable();
    try {
      return await this.pool.connect();
    } catch (err) {
      throw this.#translate(err);
    }
  }

  /** Runs `fn` inside a transaction on one client; rolls back on any error. */
  async transaction<T>(fn: (client: Queryable) => Promise<T>): Promise<T> {
    const client = await this.#connect();
    try {
      await client.query('BEGIN');
      const result = await fn(tracingOn() ? traced(client) : client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /**
   * Streams a query's rows through a server-side cursor (pg-query-stream), `batchSize` rows at
   * a time, with backpressure; the client returns to the pool when the stream ends or is destroyed.
   */
  async stream(text: string, values: unknown[], batchSize = 1000): Promise<QueryStream> {
    const client = await this.#connect();
    // An export may take minutes: lift the statement timeout for this client (reset on release)
    // and pg's client-side query timeout, which it reads from the submitted query object.
    try {
      await client.query('SET statement_timeout = 0');
    } catch (err) {
      client.release(err as Error);
      throw this.#translate(err);
    }
    const query = new QueryStream(text, values, { batchSize });
    Object.assign(query, { query_timeout: STREAM_TIMEOUT_MS });
    const stream = client.query(query);
    let released = false;
    const release = (err?: Error) => {
      if (released) return;
      released = true;
      if (err) client.release(err);
      else
        client
          .query('RESET statement_timeout')
          .then(() => client.release())
          .catch((e: Error) => client.release(e));
    };
    stream.once('end', () => release());
    stream.once('close', () => release());
    stream.once('error', (err) => release(err));
    return stream;
  }

  /**
   * A round trip through the pool, as requests make it: fails at once while the pool knows the
   * database is down, and with DATABASE_BUSY when every client is in use. What readiness asks.
   */
  async check(): Promise<void> {
    await this.query('SELECT 1');
  }

  /** A direct round trip, bypassing the fail-fast state: the down-probe and start-up use it. */
  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
    if (this.#down) {
      this.#down = false;
      this.#log.info('postgres reachable again');
    }
  }

  #markDown(): void {
    if (this.#down) return;
    this.#down = true;
    this.#log.error('postgres unreachable; answering 503 until it returns');
    const probe = () => {
      this.ping()
        .then(() => {
          this.#probe = undefined;
        })
        .catch(() => {
          this.#probe = setTimeout(probe, 500);
          this.#probe.unref();
        });
    };
    this.#probe = setTimeout(probe, 500);
    this.#probe.unref();
  }

  async close(): Promise<void> {
    clearTimeout(this.#probe);
    // Closed even if never used, so that a listen() after this opens nothing.
    const listener = this.#primary ? undefined : this.#listenSession();
    await Promise.all([listener?.close(), this.pool.end()]);
  }
}

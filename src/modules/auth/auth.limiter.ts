import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type * as Flexible from 'rate-limiter-flexible';
import type { Config } from '../../config.ts';
import { isUnavailableError } from '../../db/errors.ts';
import type { Database } from '../../db/pool.ts';
import { AppError } from '../../errors.ts';

// The package's index loads every store it has (Redis, Mongo, DynamoDB, Prisma, …: 36 modules,
// ~20 ms of a worker's start-up); the Postgres store and its result class are all ferrite uses.
// The package declares no `exports`, so its files are its interface as much as its index is.
const require = createRequire(import.meta.url);
const RateLimiterPostgres =
  require('rate-limiter-flexible/lib/RateLimiterPostgres.js') as typeof Flexible.RateLimiterPostgres;
type RateLimiterPostgres = Flexible.RateLimiterPostgres;
const RateLimiterRes =
  require('rate-limiter-flexible/lib/RateLimiterRes.js') as typeof Flexible.RateLimiterRes;
type RateLimiterRes = Flexible.RateLimiterRes;

// Keys must fit the store's varchar(255) whatever the email's length.
function hashKey(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('base64url');
}

// The per-email counter only measures; it never refuses on its own.
const UNLIMITED = 2 ** 31 - 1;

/**
 * Login and registration limits shared by every worker and host: state lives in Postgres
 * (`rate_limits`), so a worker restart does not reset it.
 *
 * Logins: every attempt counts per client IP; failures count per (email, client IP), so an
 * attacker spending an account's failures from their addresses locks out only those
 * addresses, never the owner's login from elsewhere. Failures per email from all addresses
 * only slow further attempts for it (distributed guessing), they do not refuse them.
 * Registrations: every attempt counts per client IP.
 */
export class LoginLimiter {
  readonly #db: Database;
  readonly #byIp: RateLimiterPostgres;
  readonly #byClient: RateLimiterPostgres;
  readonly #byEmail: RateLimiterPostgres;
  readonly #registrations: RateLimiterPostgres;
  readonly #slowAfter: number;
  readonly #slowMs: number;

  constructor(db: Database, cfg: Config) {
    this.#db = db;
    const common = {
      storeClient: db.pool,
      storeType: 'pool',
      tableName: 'rate_limits',
      tableCreated: true,
      duration: cfg.LOGIN_WINDOW_SECONDS,
    };
    this.#byIp = new RateLimiterPostgres({
      ...common,
      keyPrefix: 'login_ip',
      points: cfg.LOGIN_MAX_ATTEMPTS_PER_IP,
    });
    this.#byClient = new RateLimiterPostgres({
      ...common,
      keyPrefix: 'login_email_ip',
      points: cfg.LOGIN_MAX_FAILURES_PER_CLIENT,
    });
    this.#byEmail = new RateLimiterPostgres({ ...common, keyPrefix: 'login_email', points: UNLIMITED });
    this.#registrations = new RateLimiterPostgres({
      ...common,
      keyPrefix: 'register_ip',
      points: cfg.REGISTER_MAX_PER_IP,
      duration: cfg.REGISTER_WINDOW_SECONDS,
    });
    this.#slowAfter = cfg.LOGIN_EMAIL_SLOWDOWN_AFTER;
    this.#slowMs = cfg.LOGIN_EMAIL_SLOWDOWN_MS;
  }

  #tooMany(res: RateLimiterRes, what: string): AppError {
    return new AppError('TOO_MANY_REQUESTS', {
      detail: `Too many ${what}; try again later.`,
      headers: { 'Retry-After': String(Math.max(1, Math.ceil(res.msBeforeNext / 1000))) },
    });
  }

  async #store<T>(op: () => Promise<T>, what = 'login attempts'): Promise<T> {
    try {
      return await op();
    } catch (err) {
      if (err instanceof RateLimiterRes) throw this.#tooMany(err, what);
      if (isUnavailableError(err)) throw this.#db.unavailable(err);
      throw err;
    }
  }

  /**
   * Takes a point per IP and per (email, IP) atomically before any hashing, and refuses (429)
   * when either is spent; taking them up front (not after a failure) means concurrent attempts
   * cannot all slip past. Resolves with how long to wait before checking the password: past
   * LOGIN_EMAIL_SLOWDOWN_AFTER recent failures for the email, 0 otherwise.
   */
  async admit(ip: string, email: string): Promise<number> {
    await this.#store(() => this.#byIp.consume(ip));
    await this.#store(() => this.#byClient.consume(hashKey(email, ip)));
    const seen = await this.#store(() => this.#byEmail.consume(hashKey(email)));
    return seen.consumedPoints > this.#slowAfter ? this.#slowMs : 0;
  }

  /** A successful login clears the failures counted for the email: only failures accumulate. */
  async succeeded(ip: string, email: string): Promise<void> {
    await this.#store(() => this.#byClient.delete(hashKey(email, ip)));
    await this.#store(() => this.#byEmail.delete(hashKey(email)));
  }

  /** Takes a registration point for the client IP before any hashing; 429 when spent. */
  async admitRegistration(ip: string): Promise<void> {
    await this.#store(() => this.#registrations.consume(ip), 'registrations from this address');
  }
}

import { createHash } from 'node:crypto';
import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import type { Config } from '../../config.ts';
import { type Database, isUnavailableError } from '../../db/pool.ts';
import { AppError } from '../../errors.ts';

// Keys must fit the store's varchar(255) whatever the email's length.
function emailKey(email: string): string {
  return createHash('sha256').update(email).digest('base64url');
}

/**
 * Login limits shared by every worker and host: state lives in Postgres (`rate_limits`), so a
 * worker restart does not reset it. Per client IP every attempt counts; per email only
 * failures count, and a successful login clears them.
 */
export class LoginLimiter {
  readonly #db: Database;
  readonly #byIp: RateLimiterPostgres;
  readonly #byEmail: RateLimiterPostgres;

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
    this.#byEmail = new RateLimiterPostgres({
      ...common,
      keyPrefix: 'login_email',
      points: cfg.LOGIN_MAX_FAILURES_PER_EMAIL,
    });
  }

  #tooMany(res: RateLimiterRes): AppError {
    return new AppError('TOO_MANY_REQUESTS', {
      detail: 'Too many login attempts; try again later.',
      headers: { 'Retry-After': String(Math.max(1, Math.ceil(res.msBeforeNext / 1000))) },
    });
  }

  async #store<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      if (err instanceof RateLimiterRes) throw this.#tooMany(err);
      if (isUnavailableError(err)) throw this.#db.unavailable(err);
      throw err;
    }
  }

  /**
   * Takes a point per IP and per email atomically before any hashing, and refuses (429) when
   * either limit is spent. Taking the email's point up front (not after a failure) means
   * concurrent attempts cannot all slip past the check.
   */
  async admit(ip: string, email: string): Promise<void> {
    await this.#store(() => this.#byIp.consume(ip));
    await this.#store(() => this.#byEmail.consume(emailKey(email)));
  }

  /** A successful login clears the email's count: only failures accumulate. */
  async succeeded(email: string): Promise<void> {
    await this.#store(() => this.#byEmail.delete(emailKey(email)));
  }
}

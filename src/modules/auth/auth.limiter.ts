import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import type { Config } from '../../config.ts';
import { type Database, isUnavailableError } from '../../db/pool.ts';
import { AppError } from '../../errors.ts';

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

  /** Counts an attempt from this IP and refuses (429) before any hashing when a limit is spent. */
  async admit(ip: string, email: string): Promise<void> {
    const failures = await this.#store(() => this.#byEmail.get(email));
    if (failures && failures.consumedPoints >= this.#byEmail.points) throw this.#tooMany(failures);
    await this.#store(() => this.#byIp.consume(ip));
  }

  async failed(email: string): Promise<void> {
    await this.#store(() => this.#byEmail.consume(email)).catch((err) => {
      // The attempt already failed; the next one will see the limit.
      if (!(err instanceof AppError && err.code === 'TOO_MANY_REQUESTS')) throw err;
    });
  }

  async succeeded(email: string): Promise<void> {
    await this.#store(() => this.#byEmail.delete(email));
  }
}

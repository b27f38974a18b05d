import type { Pool } from 'undici';
import { undici } from '../../http/client.ts';
import type { Logger } from '../../log.ts';
import { type BreakerOptions, CircuitBreaker } from './gateway.breaker.ts';
import { RetryBudget, type RetryBudgetOptions } from './gateway.retry.ts';

export interface UpstreamSettings {
  connections: number;
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  keepAliveTimeoutMs: number;
  breaker: Omit<BreakerOptions, 'onChange' | 'now'>;
  budget: RetryBudgetOptions;
}

/**
 * One upstream service as this worker sees it: a keep-alive connection pool (undici), its
 * circuit breaker and its retry budget. The pool, breaker and budget are per worker; none of
 * them holds state anything correct depends on.
 */
export class Upstream {
  readonly name: string;
  /** Where it is (its origin and base path), for traces. */
  readonly url: URL;
  readonly pool: Pool;
  readonly breaker: CircuitBreaker;
  readonly budget: RetryBudget;
  readonly #base: string;

  constructor(name: string, url: string, s: UpstreamSettings, log: Logger) {
    const u = new URL(url);
    this.url = u;
    this.name = name;
    this.#base = u.pathname.replace(/\/+$/, '');
    this.pool = new (undici().Pool)(u.origin, {
      connections: s.connections,
      connectTimeout: s.connectTimeoutMs,
      headersTimeout: s.headersTimeoutMs,
      bodyTimeout: s.bodyTimeoutMs,
      keepAliveTimeout: s.keepAliveTimeoutMs,
    });
    this.breaker = new CircuitBreaker({
      ...s.breaker,
      // Logged once per transition, so an outage is one line, not one per refused request.
      onChange: (from, to) =>
        log[to === 'open' ? 'warn' : 'info']({ upstream: name, from, to }, `circuit breaker ${to}`),
    });
    this.budget = new RetryBudget(s.budget);
  }

  /** The upstream's base path followed by what came below the route's prefix. */
  path(rest: string): string {
    const p = this.#base + rest;
    return p.charCodeAt(0) === 47 /* '/' */ ? p : `/${p}`;
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

// Who serves a request on a cut-over route: ferrite (on to its routes), the legacy service (its
// passthrough), or, on a canary route, either by a sticky share of callers; and the automatic
// rollback of a canary route whose ferrite answers break the budget.
import { hash } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Database } from '../../db/pool.ts';
import { bearerToken } from '../../http/auth.ts';
import type { Logger } from '../../log.ts';
import { type CutoverRule, findRule } from './cutover.file.ts';
import { CanaryJudge } from './cutover.judge.ts';
import * as repo from './cutover.repo.ts';

export type Target = 'ferrite' | 'legacy';
type Handler = (req: Request, res: Response) => Promise<void>;

/** How a route's answers are counted (the worker's metrics). */
export interface SplitRecorder {
  observe(route: string, target: Target, status: number, seconds: number): void;
  rolledBack(route: string): void;
}

const JUDGE_EVERY_MS = 1000;

/**
 * The caller's place among 0–100: the same caller, the same place on every worker and host, so a
 * canary share is sticky and a larger share keeps the callers a smaller one had. A caller is the
 * user their bearer token names (read, not verified: it only picks a side, and each side checks
 * the token itself), else the client's address.
 */
export function callerPlace(req: Request, userClaim: string): number {
  let key: string | undefined;
  const token = bearerToken(req);
  if (token) {
    try {
      const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'));
      const user = claims?.sub ?? claims?.[userClaim];
      if (typeof user === 'string' || typeof user === 'number') key = `user\0${claims.iss ?? ''}\0${user}`;
    } catch {
      // Not a JWT: the address decides.
    }
  }
  key ??= `addr\0${req.ip ?? req.socket.remoteAddress ?? ''}`;
  return (Buffer.from(hash('sha1', key, 'buffer')).readUInt32BE(0) % 10_000) / 100;
}

export interface SplitOptions {
  rules: readonly CutoverRule[];
  db: Database;
  log: Logger;
  legacy: Handler;
  recorder: SplitRecorder;
  /** Who made an automatic rollback, in the table and the log. */
  by: string;
  userClaim: string;
}

export class TrafficSplit {
  readonly #o: SplitOptions;
  #rules: readonly CutoverRule[];
  /** Overrides from route_states, by route name. */
  #overrides = new Map<string, repo.RouteStateRow>();
  readonly #judges = new Map<string, CanaryJudge>();
  readonly #judgedAt = new Map<string, number>();
  readonly #rollingBack = new Set<string>();

  constructor(options: SplitOptions) {
    this.#o = options;
    this.#rules = [];
    this.setRules(options.rules);
  }

  /** A re-read routes file (the single process's SIGHUP): canaries kept as they were keep their judge. */
  setRules(rules: readonly CutoverRule[]): void {
    const before = new Map(this.#rules.map((r) => [r.name, r]));
    const judges = new Map<string, CanaryJudge>();
    for (const rule of rules) {
      if (rule.serve !== 'canary') continue;
      const old = before.get(rule.name);
      const kept = old?.serve === 'canary' && JSON.stringify(old.rollback) === JSON.stringify(rule.rollback);
      judges.set(rule.name, (kept && this.#judges.get(rule.name)) || new CanaryJudge(rule.rollback));
    }
    this.#judges.clear();
    for (const [name, judge] of judges) this.#judges.set(name, judge);
    this.#rules = rules;
  }

  /** Re-reads the overrides (at start, on every change announced, after a reconnect). */
  async reload(): Promise<void> {
    const rows = await repo.listRouteStates(this.#o.db);
    const next = new Map(rows.map((r) => [r.route, r]));
    for (const rule of this.#rules) {
      const before = this.#overrides.get(rule.name);
      const after = next.get(rule.name);
      if (before?.serve === after?.serve) continue;
      this.#o.log.info(
        {
          route: rule.name,
          serve: after?.serve ?? rule.serve,
          reason: after?.reason ?? 'reset to the routes file',
        },
        'cut-over route changed',
      );
      // A canary back in service is judged afresh, not on the answers that rolled it back.
      if (!after && rule.serve === 'canary') this.#judges.set(rule.name, new CanaryJudge(rule.rollback));
    }
    this.#overrides = next;
  }

  /** Each rule's state: 0 the file's rule, 1 rolled back to legacy, 2 promoted to ferrite. */
  *states(): Iterable<[string, number]> {
    for (const rule of this.#rules) {
      const serve = this.#overrides.get(rule.name)?.serve;
      yield [rule.name, serve === undefined ? 0 : serve === 'legacy' ? 1 : 2];
    }
  }

  readonly handle = (req: Request, res: Response, next: NextFunction): Promise<void> | undefined => {
    const rule = findRule(this.#rules, req.method, pathOfUrl(req.url));
    if (!rule) {
      next();
      return undefined;
    }
    const serve = this.#overrides.get(rule.name)?.serve ?? rule.serve;
    const target: Target =
      serve === 'canary'
        ? callerPlace(req, this.#o.userClaim) < rule.percent
          ? 'ferrite'
          : 'legacy'
        : serve;
    const started = performance.now();
    res.once('finish', () =>
      this.#answered(rule, serve === 'canary', target, res.statusCode, performance.now() - started),
    );
    if (target === 'ferrite') {
      next();
      return undefined;
    }
    return this.#o.legacy(req, res);
  };

  #answered(rule: CutoverRule, canary: boolean, target: Target, status: number, ms: number): void {
    this.#o.recorder.observe(rule.name, target, status, ms / 1000);
    const judge = canary ? this.#judges.get(rule.name) : undefined;
    if (!judge) return;
    const now = Date.now();
    judge.record(target, status, ms, now);
    if (target !== 'ferrite' || this.#rollingBack.has(rule.name)) return;
    if (now - (this.#judgedAt.get(rule.name) ?? 0) < JUDGE_EVERY_MS) return;
    this.#judgedAt.set(rule.name, now);
    const verdict = judge.judge(now);
    if (verdict) void this.#rollBack(rule, verdict.reason, verdict);
  }

  async #rollBack(rule: CutoverRule, reason: string, numbers: object): Promise<void> {
    this.#rollingBack.add(rule.name);
    // This worker stops sending the route to ferrite at once; the others on the notification.
    const local: repo.RouteStateRow = {
      route: rule.name,
      serve: 'legacy',
      reason,
      changed_by: this.#o.by,
      changed_at: new Date(),
    };
    this.#overrides = new Map(this.#overrides).set(rule.name, local);
    try {
      const made = await repo.rollBackOnce(this.#o.db, rule.name, reason, this.#o.by);
      if (made) {
        this.#o.recorder.rolledBack(rule.name);
        this.#o.log.warn(
          { route: rule.name, reason, ...numbers },
          'canary route rolled back to the legacy service',
        );
      }
      await this.reload();
    } catch (err) {
      // Kept locally; the next breach (this worker's or another's) tries to record it again.
      this.#o.log.error(
        { err, route: rule.name, reason },
        'could not record the rollback; rolled back in this worker only',
      );
    } finally {
      this.#rollingBack.delete(rule.name);
    }
  }
}

function pathOfUrl(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

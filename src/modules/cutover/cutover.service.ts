// The operator's side of the cut-over (`npm run routes -- status|promote|rollback|reset ROUTE`):
// overrides in Postgres, seen by every worker and host at once.
import type { Config } from '../../config.ts';
import type { Database } from '../../db/pool.ts';
import { AppError } from '../../errors.ts';
import { type CutoverRule, loadRoutesFile } from './cutover.file.ts';
import * as repo from './cutover.repo.ts';

export interface RouteStatus {
  route: string;
  match: string;
  /** What the file says. */
  rule: string;
  /** Who serves it now. */
  serving: string;
  override?: { serve: string; reason: string; by: string; at: string };
}

function describe(rule: CutoverRule): string {
  return rule.serve === 'canary' ? `canary ${rule.percent} %` : rule.serve;
}

export function createCutoverControl({ db, config }: { db: Database; config: Config }) {
  if (!config.ROUTES_FILE) {
    throw new AppError('BAD_REQUEST', { detail: 'ROUTES_FILE is unset: there are no cut-over routes.' });
  }
  const rules = loadRoutesFile(config.ROUTES_FILE);
  const known = (route: string) => {
    const rule = rules.find((r) => r.name === route);
    if (!rule) {
      throw new AppError('NOT_FOUND', {
        detail: `No route "${route}" in ${config.ROUTES_FILE} (routes: ${rules.map((r) => r.name).join(', ')}).`,
      });
    }
    return rule;
  };
  return {
    async status(): Promise<{ routes: RouteStatus[]; stale: repo.RouteStateRow[] }> {
      const rows = new Map((await repo.listRouteStates(db)).map((r) => [r.route, r]));
      const routes = rules.map((rule): RouteStatus => {
        const o = rows.get(rule.name);
        rows.delete(rule.name);
        return {
          route: rule.name,
          match: rule.match,
          rule: describe(rule),
          serving: o ? o.serve : describe(rule),
          ...(o && {
            override: { serve: o.serve, reason: o.reason, by: o.changed_by, at: o.changed_at.toISOString() },
          }),
        };
      });
      // Overrides of routes the file no longer has: harmless, listed so they can be reset.
      return { routes, stale: [...rows.values()] };
    },
    async promote(route: string, by: string): Promise<void> {
      known(route);
      await repo.setRouteState(db, route, 'ferrite', 'promoted by an operator', by);
    },
    async rollback(route: string, by: string): Promise<void> {
      known(route);
      await repo.setRouteState(db, route, 'legacy', 'rolled back by an operator', by);
    },
    /** Back to the file's rule; a stale override (a route no longer in the file) too. */
    async reset(route: string): Promise<boolean> {
      const existed = await repo.clearRouteState(db, route);
      if (!existed) known(route);
      return existed;
    },
  };
}

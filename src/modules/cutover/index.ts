// The cut-over module's door (issue 15): the routes file's traffic split between ferrite and the
// legacy service, with canaries and their automatic rollback; the operator's commands on it
// (`npm run routes`).
import { hostname } from 'node:os';
import type { Request, RequestHandler, Response } from 'express';
import type { Config } from '../../config.ts';
import type { Database } from '../../db/pool.ts';
import type { Logger } from '../../log.ts';
import type { WorkerMetrics } from '../../metrics/worker.metrics.ts';
import { loadRoutesFile } from './cutover.file.ts';
import { ROUTE_STATES_CHANNEL } from './cutover.repo.ts';
import { TrafficSplit } from './cutover.split.ts';

export { type CutoverRule, loadRoutesFile, RoutesFileError } from './cutover.file.ts';
export { createCutoverControl } from './cutover.service.ts';

export interface CutoverDeps {
  db: Database;
  config: Config;
  log: Logger;
  metrics: WorkerMetrics;
  worker: string;
  /** The legacy passthrough (the gateway's). */
  legacy: ((req: Request, res: Response) => Promise<void>) | undefined;
}

/** Undefined without a ROUTES_FILE. Throws RoutesFileError for a bad file. */
export function createCutover({ db, config, log, metrics, worker, legacy }: CutoverDeps) {
  if (!config.ROUTES_FILE) return undefined;
  if (!legacy) throw new Error('ROUTES_FILE needs LEGACY_UPSTREAM_URL');
  const rules = loadRoutesFile(config.ROUTES_FILE);
  let split: TrafficSplit | undefined;
  const recorder = metrics.trackCutover(() => split?.states() ?? []);
  split = new TrafficSplit({
    rules,
    db,
    log: log.child({ component: 'cutover' }),
    legacy,
    recorder,
    by: `automatic rollback (worker ${worker} on ${hostname()})`,
    userClaim: config.LEGACY_JWT_USER_CLAIM,
  });
  const s = split;
  const reread = () =>
    void s.reload().catch((err) => log.error({ err }, 'could not read the cut-over route states'));
  const subscription = db.listen(ROUTE_STATES_CHANNEL, reread, { onListening: reread });
  log.info({ file: config.ROUTES_FILE, routes: rules.length }, 'cut-over routes loaded');
  return {
    split: s.handle as RequestHandler,
    /** The overrides read once before the worker serves. */
    ready: () => s.reload(),
    /** Re-reads the routes file in place; a bad one throws RoutesFileError and the old rules stay. */
    reloadFile: () => {
      const next = loadRoutesFile(config.ROUTES_FILE as string);
      s.setRules(next);
      log.info({ file: config.ROUTES_FILE, routes: next.length }, 'cut-over routes reloaded');
    },
    close: async () => subscription.close(),
  };
}

import type { IRouter, RequestHandler } from 'express';
import type { Logger } from '../../log.ts';
import { webDir } from './web.build.ts';
import { mountWeb } from './web.routes.ts';

export { buildWeb } from './web.build.ts';

/**
 * The web module's door: the dashboard page at `/` with its assets, as `buildWeb` left them
 * under `dataDir` (the primary builds the page once at start).
 */
export function mountDashboard(
  router: IRouter,
  dataDir: string,
  log: Logger,
  pageHeaders: RequestHandler,
): void {
  mountWeb(router, webDir(dataDir), log, pageHeaders);
}

import type { IRouter, RequestHandler } from 'express';
import type { Logger } from '../../log.ts';
import { webDir } from './web.build.ts';
import { mountWeb } from './web.routes.ts';

export { buildWeb, type PageSettings } from './web.build.ts';

/**
 * The web module's door: the dashboard page at `/` with its assets, as `buildWeb` left them
 * under `dataDir` (the start-up helper builds the page once); returns the paths it serves.
 */
export function mountDashboard(
  router: IRouter,
  dataDir: string,
  log: Logger,
  pageHeaders: RequestHandler,
): { method: 'get'; path: string }[] {
  return mountWeb(router, webDir(dataDir), log, pageHeaders);
}

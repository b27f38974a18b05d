import type { Config } from '../../config.ts';
import type { Database } from '../../db/pool.ts';
import type { TokenVerifier } from '../../http/auth.ts';
import type { RouteSpec } from '../../http/route-spec.ts';
import type { StreamQuota } from '../../http/stream-quota.ts';
import type { Logger } from '../../log.ts';
import type { EventsService } from '../events/index.ts';
import { projectsRoutes } from './projects.routes.ts';
import { createProjectsService } from './projects.service.ts';
import { sseRoutes } from './sse.routes.ts';
import { normalisePath } from './vfs.paths.ts';
import { vfsRoutes } from './vfs.routes.ts';
import { createVfsService } from './vfs.service.ts';

export type { ProjectsService } from './projects.service.ts';
export type { FileEntry } from './vfs.entry.ts';
export { isFileUpload } from './vfs.routes.ts';
export type { VfsService } from './vfs.service.ts';

export interface ProjectsModuleDeps {
  db: Database;
  config: Config;
  events: EventsService;
  tokens: TokenVerifier;
  /** One count of a user's SSE streams and WebSockets in this worker. */
  streams: StreamQuota;
  log: Logger;
}

/**
 * The projects module's door: projects, their files (the VFS) and their event streams. Gives
 * its routes, and the services and path rule the workflow module works through.
 */
export function createProjects({ db, config, events, tokens, streams, log }: ProjectsModuleDeps) {
  const projects = createProjectsService({ db, events, config });
  const vfs = createVfsService({ db, config, events });
  const limits = { maxBytes: config.VFS_MAX_PATH_BYTES, maxDepth: config.VFS_MAX_PATH_DEPTH };
  const routes: RouteSpec[] = [
    ...projectsRoutes(projects, tokens),
    ...vfsRoutes({ vfs, projects, tokens, config }),
    ...sseRoutes({ events, projects, tokens, streams, config, log }),
  ];
  return { projects, vfs, checkPath: (path: string) => normalisePath(path, limits), routes };
}

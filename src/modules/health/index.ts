import { type HealthDeps, healthRoutes } from './health.routes.ts';

export type { DependencyCheck, HealthDeps } from './health.routes.ts';

/** The health module's door: liveness (`/api/health`) and readiness (`/api/ready`). */
export function createHealth(deps: HealthDeps) {
  return { routes: healthRoutes(deps) };
}

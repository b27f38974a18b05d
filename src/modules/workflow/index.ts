import type { TokenVerifier } from '../../http/auth.ts';
import { workflowRoutes } from './workflow.routes.ts';
import { createWorkflowService, type WorkflowDeps } from './workflow.service.ts';

export type { WorkflowDeps } from './workflow.service.ts';

/**
 * The workflow module's door: plans (rules or Gemini), runs executed as DAGs with leases so
 * another host takes over a lost run, and the search pool. `close` lets runs executing here
 * finish within `deadlineMs`, then records the rest as failed.
 */
export function createWorkflow(deps: WorkflowDeps & { tokens: TokenVerifier }) {
  const service = createWorkflowService(deps);
  return {
    routes: workflowRoutes(service, deps.tokens),
    close: (deadlineMs: number) => service.close(deadlineMs),
  };
}

import { caller, guard, type TokenVerifier } from '../../http/auth.ts';
import { jsonContent, type RouteSpec, route } from '../../http/route-spec.ts';
import {
  cancelReply,
  catalog,
  plan,
  planRequest,
  run,
  runAccepted,
  runPage,
  runRequest,
} from './workflow.schemas.ts';
import type { WorkflowService } from './workflow.service.ts';

const uuidParam = (name: string, where: 'path' | 'query' = 'path') => ({
  name,
  in: where,
  required: true,
  schema: { type: 'string', format: 'uuid' },
});

export function workflowRoutes(workflows: WorkflowService, tokens: TokenVerifier): RouteSpec[] {
  const reader = guard(tokens, 'projects:read');
  const writer = guard(tokens, 'projects:write');
  const security = [{ bearer: [] }];
  return [
    {
      method: 'get',
      path: '/api/workflow/tools',
      operationId: 'getWorkflowTools',
      summary:
        'The tools a plan may use (argument schemas, availability), the active planner and the rule grammar',
      tags: ['workflow'],
      security,
      before: reader,
      responses: { 200: { description: 'Catalog', content: jsonContent(catalog) } },
      handler: (_req, res) => {
        res.json(workflows.catalog());
      },
    },
    route<unknown, { projectId: string; prompt: string }>({
      method: 'post',
      path: '/api/workflow/plan',
      operationId: 'planWorkflow',
      summary: 'Turns a prompt into a validated plan (rule-based, or Gemini when configured); runs nothing',
      tags: ['workflow'],
      security,
      before: writer,
      requestBody: { required: true, schema: planRequest },
      responses: {
        200: {
          description: 'The plan; the Workflow-Planner header says which planner made it',
          content: jsonContent(plan),
        },
      },
      handler: async (req, res) => {
        const body = req.body;
        const result = await workflows.plan(caller(req).id, body.projectId, body.prompt);
        res.set('Workflow-Planner', result.planner).json(result.plan);
      },
    }),
    route<unknown, { projectId: string; plan?: unknown; prompt?: string }>({
      method: 'post',
      path: '/api/workflow/run',
      operationId: 'runWorkflow',
      summary: 'Starts a run of a plan (validated) or of a prompt (planned first); 202 with its id',
      tags: ['workflow'],
      security,
      before: writer,
      requestBody: { required: true, schema: runRequest },
      responses: {
        202: {
          description: 'Accepted; follow it at Location or on the project event stream',
          content: jsonContent(runAccepted),
        },
      },
      handler: async (req, res) => {
        const { runId } = await workflows.run(caller(req).id, req.body);
        res.status(202).location(`/api/workflow/runs/${runId}`).json({ runId });
      },
    }),
    route<{ projectId: string; limit: number; cursor?: string }>({
      method: 'get',
      path: '/api/workflow/runs',
      operationId: 'listWorkflowRuns',
      summary: "A project's runs, newest first, in keyset pages",
      tags: ['workflow'],
      security,
      before: reader,
      parameters: [
        uuidParam('projectId', 'query'),
        { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 200, default: 50 } },
        { name: 'cursor', in: 'query', schema: { type: 'string', minLength: 1, maxLength: 200 } },
      ],
      responses: { 200: { description: 'Runs', content: jsonContent(runPage) } },
      handler: async (req, res) => {
        const q = req.query;
        res.json(await workflows.list(caller(req).id, q.projectId, q.limit, q.cursor));
      },
    }),
    {
      method: 'get',
      path: '/api/workflow/runs/{id}',
      operationId: 'getWorkflowRun',
      summary: 'A run and every step: state, timings, output or error',
      tags: ['workflow'],
      security,
      before: reader,
      parameters: [uuidParam('id')],
      responses: { 200: { description: 'The run', content: jsonContent(run) } },
      handler: async (req, res) => {
        res
          .set('Cache-Control', 'no-store')
          .json(await workflows.get(caller(req).id, req.params.id as string));
      },
    },
    {
      method: 'post',
      path: '/api/workflow/runs/{id}/cancel',
      operationId: 'cancelWorkflowRun',
      summary:
        'Cancels a run: pending steps are cancelled, running ones aborted; 202 while that happens, 200 if it was already cancelled, 409 if it had ended',
      tags: ['workflow'],
      security,
      before: writer,
      parameters: [uuidParam('id')],
      responses: {
        200: { description: 'Already cancelled', content: jsonContent(cancelReply) },
        202: { description: 'Cancel requested', content: jsonContent(cancelReply) },
      },
      handler: async (req, res) => {
        const { accepted, run: current } = await workflows.cancel(caller(req).id, req.params.id as string);
        res.status(accepted ? 202 : 200).json({ runId: current.id, status: current.status });
      },
    },
  ];
}

import { caller, guard, type TokenVerifier } from '../../http/auth.ts';
import { jsonContent, type RouteSpec, route } from '../../http/route-spec.ts';
import { createProject, project, projectIdParam, projectPage, updateProject } from './projects.schemas.ts';
import type { ProjectsService } from './projects.service.ts';

export function projectsRoutes(projects: ProjectsService, tokens: TokenVerifier): RouteSpec[] {
  const reader = guard(tokens, 'projects:read');
  const writer = guard(tokens, 'projects:write');
  const security = [{ bearer: [] }];
  const tags = ['projects'];
  return [
    route<{ limit: number; cursor?: string }>({
      method: 'get',
      path: '/api/projects',
      operationId: 'listProjects',
      summary: "The caller's projects, newest first, in keyset pages",
      tags,
      security,
      before: reader,
      parameters: [
        { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 } },
        { name: 'cursor', in: 'query', schema: { type: 'string', minLength: 1, maxLength: 400 } },
      ],
      responses: { 200: { description: 'A page', content: jsonContent(projectPage) } },
      handler: async (req, res) => {
        const { limit, cursor } = req.query;
        res.json(await projects.list(caller(req).id, limit, cursor));
      },
    }),
    route<unknown, { name: string; description?: string }>({
      method: 'post',
      path: '/api/projects',
      operationId: 'createProject',
      summary: 'Create a project',
      tags,
      security,
      before: writer,
      requestBody: { required: true, schema: createProject },
      responses: { 201: { description: 'Created', content: jsonContent(project) } },
      handler: async (req, res) => {
        const created = await projects.create(caller(req).id, req.body);
        res.status(201).location(`/api/projects/${created.id}`).json(created);
      },
    }),
    {
      method: 'get',
      path: '/api/projects/{id}',
      operationId: 'getProject',
      summary: "A project of the caller's (another user's answers 404)",
      tags,
      security,
      before: reader,
      parameters: [projectIdParam],
      responses: { 200: { description: 'The project', content: jsonContent(project) } },
      handler: async (req, res) => {
        res.json(await projects.getOwned(caller(req).id, String(req.params.id)));
      },
    },
    route<unknown, { name?: string; description?: string }>({
      method: 'patch',
      path: '/api/projects/{id}',
      operationId: 'updateProject',
      summary: 'Rename a project or change its description',
      tags,
      security,
      before: writer,
      parameters: [projectIdParam],
      requestBody: { required: true, schema: updateProject },
      responses: { 200: { description: 'The project', content: jsonContent(project) } },
      handler: async (req, res) => {
        res.json(await projects.update(caller(req).id, String(req.params.id), req.body));
      },
    }),
    {
      method: 'delete',
      path: '/api/projects/{id}',
      operationId: 'deleteProject',
      summary: 'Delete a project with its files and events; its event streams end',
      tags,
      security,
      before: writer,
      parameters: [projectIdParam],
      responses: { 204: { description: 'Deleted' } },
      handler: async (req, res) => {
        await projects.remove(caller(req).id, String(req.params.id));
        res.status(204).end();
      },
    },
  ];
}

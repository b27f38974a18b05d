import type { Request } from 'express';
import { jsonContent, type RouteSpec } from '../../http/routes.ts';
import { type AccessTokens, authenticate, requireScope } from '../auth/auth.tokens.ts';
import { createProject, project, projectIdParam, projectPage, updateProject } from './projects.schemas.ts';
import type { ProjectsService } from './projects.service.ts';

const userOf = (req: Request) => (req.user as { id: string }).id;

export function projectsRoutes(projects: ProjectsService, tokens: AccessTokens): RouteSpec[] {
  const reader = [authenticate(tokens), requireScope('projects:read')];
  const writer = [authenticate(tokens), requireScope('projects:write')];
  const security = [{ bearer: [] }];
  const tags = ['projects'];
  return [
    {
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
        const { limit, cursor } = req.query as unknown as { limit: number; cursor?: string };
        res.json(await projects.list(userOf(req), limit, cursor));
      },
    },
    {
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
        const created = await projects.create(userOf(req), req.body);
        res.status(201).location(`/api/projects/${created.id}`).json(created);
      },
    },
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
        res.json(await projects.getOwned(userOf(req), String(req.params.id)));
      },
    },
    {
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
        res.json(await projects.update(userOf(req), String(req.params.id), req.body));
      },
    },
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
        await projects.remove(userOf(req), String(req.params.id));
        res.status(204).end();
      },
    },
  ];
}

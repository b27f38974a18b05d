import type { IncomingHttpHeaders } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Config } from '../../config.ts';
import { caller, guard, type TokenVerifier } from '../../http/auth.ts';
import { jsonContent, type RouteSpec, route } from '../../http/route-spec.ts';
import {
  fileEntry,
  filePathParam,
  fileTree,
  moveRequest,
  moveResult,
  projectIdParam,
} from './projects.schemas.ts';
import type { Project, ProjectsService } from './projects.service.ts';
import { etagOf } from './vfs.conditions.ts';
import type { VfsService } from './vfs.service.ts';
import { contentTypeOf } from './vfs.types.ts';

export interface VfsRouteDeps {
  vfs: VfsService;
  projects: ProjectsService;
  tokens: TokenVerifier;
  config: Config;
}

const UPLOAD = /^\/api\/projects\/[^/]+\/files\/./;

/**
 * A file upload: its body is the file's bytes, whatever their type, read by the route itself.
 * The app's JSON parser must leave it alone (a `.json` file sent as application/json is stored
 * byte for byte, not parsed and re-serialised).
 */
export function isFileUpload(req: Request): boolean {
  return req.method === 'PUT' && UPLOAD.test(req.path);
}

const header = (req: { headers: IncomingHttpHeaders }, name: string) => {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
};

/** User content is served inert: no scripts, no plugins, no same-origin access if opened. */
const FILE_HEADERS = {
  'Cache-Control': 'private, no-cache',
  'Content-Security-Policy': "default-src 'none'; sandbox",
};

function entryHeaders(res: Response, entry: { contentHash: string; version: number }): void {
  res.set('ETag', etagOf(entry.contentHash)).set('X-File-Version', String(entry.version));
}

export function vfsRoutes({ vfs, projects, tokens, config }: VfsRouteDeps): RouteSpec[] {
  const reader = guard(tokens, 'projects:read');
  const writer = guard(tokens, 'projects:write');
  // The path is checked before a body is read: a bad path costs no upload.
  const checkPath = (req: Request, _res: Response, next: NextFunction) => {
    req.params.path = vfs.normalise(String(req.params.path));
    next();
  };
  // Any media type, up to the file limit (413 PAYLOAD_TOO_LARGE past it, from Content-Length
  // before reading when it is declared).
  const rawBody = express.raw({ type: () => true, limit: config.VFS_MAX_FILE_BYTES });
  // Ownership is settled before a body is read: another user's project costs no upload.
  const ownProject = async (req: Request, res: Response, next: NextFunction) => {
    res.locals.project = await projects.getOwned(caller(req).id, String(req.params.id));
    next();
  };
  const owned = (res: Response) => res.locals.project as Project;
  const security = [{ bearer: [] }];
  const tags = ['files'];

  return [
    route<{ prefix?: string }>({
      method: 'get',
      path: '/api/projects/{id}/files',
      operationId: 'listFiles',
      summary:
        "The project's files (path, size, contentHash, version, updatedAt), path order; ETag is the revision",
      tags,
      security,
      before: [...reader, ownProject],
      parameters: [
        projectIdParam,
        {
          name: 'prefix',
          in: 'query',
          description: 'Only files below this directory',
          schema: { type: 'string', minLength: 1, maxLength: 4096 },
        },
      ],
      responses: {
        200: { description: 'The tree', content: jsonContent(fileTree) },
        304: { description: 'Unchanged since the revision in If-None-Match' },
      },
      handler: async (req, res) => {
        const project = owned(res);
        const prefix = req.query.prefix;
        // The listing is a function of the revision: an unchanged revision is an unchanged tree.
        res.set('ETag', `"r${project.revision}"`).set('Cache-Control', 'private, no-cache');
        if (req.fresh) {
          res.status(304).end();
          return;
        }
        res.json({ revision: project.revision, files: await vfs.list(project.id, prefix) });
      },
    }),
    {
      method: 'get',
      path: '/api/projects/{id}/files/{path}',
      wildcard: 'path',
      operationId: 'readFile',
      summary: 'The file content; ETag is its content hash, 304 on a matching If-None-Match',
      tags,
      security,
      before: [...reader, checkPath],
      parameters: [projectIdParam, filePathParam],
      responses: {
        200: {
          description:
            'The raw content; Content-Type from the extension, application/octet-stream when unknown',
          content: { '*/*': { schema: { type: 'string', format: 'binary' } } },
        },
        304: { description: 'Unchanged' },
      },
      handler: async (req, res) => {
        const { entry, content } = await vfs.readIfChanged(
          caller(req).id,
          String(req.params.id),
          String(req.params.path),
          header(req, 'if-none-match'),
        );
        res.set(FILE_HEADERS);
        entryHeaders(res, entry);
        if (content === null) {
          res.status(304).end();
          return;
        }
        res.type(contentTypeOf(entry.path)).send(content);
      },
    },
    {
      method: 'put',
      path: '/api/projects/{id}/files/{path}',
      wildcard: 'path',
      operationId: 'writeFile',
      summary:
        'Create or replace a file with the raw body; If-Match for optimistic concurrency (412), If-None-Match: * to create only',
      tags,
      security,
      before: [...writer, checkPath, ownProject, rawBody],
      parameters: [
        projectIdParam,
        filePathParam,
        {
          name: 'If-Match',
          in: 'header',
          description: 'ETag(s) the file must still have',
          schema: { type: 'string' },
        },
        {
          name: 'If-None-Match',
          in: 'header',
          description: '`*`: only if no file exists',
          schema: { type: 'string' },
        },
      ],
      responses: {
        200: { description: 'Replaced (or unchanged: the same bytes)', content: jsonContent(fileEntry) },
        201: { description: 'Created', content: jsonContent(fileEntry) },
      },
      handler: async (req, res) => {
        const project = owned(res);
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        const { entry, created } = await vfs.write(project.id, String(req.params.path), body, {
          ifMatch: header(req, 'if-match'),
          ifNoneMatch: header(req, 'if-none-match'),
        });
        entryHeaders(res, entry);
        if (created) res.status(201).location(fileUrl(project.id, entry.path));
        res.json(entry);
      },
    },
    route<{ recursive: boolean }>({
      method: 'delete',
      path: '/api/projects/{id}/files/{path}',
      wildcard: 'path',
      operationId: 'deleteFile',
      summary: 'Delete a file (If-Match honoured); with ?recursive=true, a directory and everything below it',
      tags,
      security,
      before: [...writer, checkPath, ownProject],
      parameters: [
        projectIdParam,
        filePathParam,
        { name: 'recursive', in: 'query', schema: { type: 'boolean', default: false } },
      ],
      responses: { 204: { description: 'Deleted' } },
      handler: async (req, res) => {
        const project = owned(res);
        const { recursive } = req.query;
        await vfs.remove(project.id, String(req.params.path), {
          ifMatch: header(req, 'if-match'),
          recursive,
        });
        res.status(204).end();
      },
    }),
    route<unknown, { from: string; to: string; overwrite: boolean }>({
      method: 'post',
      path: '/api/projects/{id}/files:move',
      operationId: 'moveFile',
      summary:
        'Move or rename a file or a directory; 409 when the destination exists (files: unless overwrite)',
      tags,
      security,
      before: [...writer, ownProject],
      parameters: [projectIdParam],
      requestBody: { required: true, schema: moveRequest },
      ownTextRule: ['/from', '/to'],
      responses: { 200: { description: 'Moved', content: jsonContent(moveResult) } },
      handler: async (req, res) => {
        const project = owned(res);
        const { from, to, overwrite } = req.body;
        const moved = await vfs.moveAny(project.id, from, to, { overwrite });
        res.json({ from: vfs.normalise(from), to: vfs.normalise(to), ...moved });
      },
    }),
  ];
}

function fileUrl(projectId: string, path: string): string {
  return `/api/projects/${projectId}/files/${path.split('/').map(encodeURIComponent).join('/')}`;
}

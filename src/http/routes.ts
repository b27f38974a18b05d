import type { ErrorObject, ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import express, {
  type IRouter,
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
  type Router,
} from 'express';
import { AppError, errorCodes, PROBLEM_BASE } from '../errors.ts';
import { textViolations } from './input.ts';
import { lengthFirst } from './schema-guard.ts';

type JsonSchema = Record<string, unknown>;

export interface ParameterSpec {
  name: string;
  in: 'path' | 'query' | 'header';
  required?: boolean;
  description?: string;
  schema: JsonSchema;
}

export interface ResponseSpec {
  description: string;
  headers?: Record<string, unknown>;
  content?: Record<string, { schema: JsonSchema }>;
}

/** What a handler is given: the query and body as its spec's validation left them. */
export type RouteRequest<Query = unknown, Body = unknown> = Request<
  Record<string, string>,
  unknown,
  Body,
  Query
>;

/**
 * One operation: its OpenAPI description and its handler, kept side by side. `Query` and `Body`
 * name what the spec's schemas admit (after coercion), so handlers read them without casts.
 */
export interface RouteSpec<Query = unknown, Body = unknown> {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** OpenAPI path (`/api/items/{id}`); the express path is derived from it. */
  path: string;
  operationId: string;
  summary: string;
  tags: string[];
  parameters?: ParameterSpec[];
  requestBody?: { required: boolean; schema: JsonSchema; description?: string };
  responses: Record<string, ResponseSpec>;
  security?: Record<string, string[]>[];
  /**
   * A path parameter that spans segments (`{path}` matches `a/b/c`): OpenAPI has no such
   * template, so it is named here; handlers and validation see the segments joined by `/`.
   */
  wildcard?: string;
  /**
   * Body members (`/to`) whose strings the handler checks with a stricter rule of its own that
   * names the broken rule (VFS paths); every other string is refused with NUL or lone surrogates.
   */
  ownTextRule?: string[];
  /** Runs before validation, e.g. authentication. */
  before?: RequestHandler[];
  // A method, not a function-typed property: a list of specs holds handlers of different
  // request types, which method parameters allow (they are checked bivariantly).
  handler(req: RouteRequest<Query, Body>, res: Response): unknown;
}

/**
 * A spec whose handler reads a validated query or body: `route<Query, Body>({ … })` names their
 * types once, beside the schemas that make them true.
 */
export function route<Query = unknown, Body = unknown>(spec: RouteSpec<Query, Body>): RouteSpec<Query, Body> {
  return spec;
}

interface Violation {
  in: 'path' | 'query' | 'header' | 'body';
  path: string;
  message: string;
}

// Query and path values arrive as strings; they are coerced to the declared types.
const coercing = new Ajv2020({ allErrors: true, coerceTypes: true, useDefaults: true, strict: false });
const strictBody = new Ajv2020({ allErrors: true, useDefaults: true, strict: false });
addFormats.default(coercing);
addFormats.default(strictBody);

function violations(where: Violation['in'], errors: ErrorObject[] | null | undefined): Violation[] {
  // An `if` error only says its `then` failed (schema-guard.ts); the `then` keyword's own error says how.
  const kept = (errors ?? []).filter((e) => e.keyword !== 'if');
  return kept.map((e) => {
    const extra =
      e.keyword === 'additionalProperties'
        ? `/${(e.params as { additionalProperty: string }).additionalProperty}`
        : e.keyword === 'required'
          ? `/${(e.params as { missingProperty: string }).missingProperty}`
          : '';
    return { in: where, path: `${e.instancePath}${extra}` || '/', message: e.message ?? 'invalid' };
  });
}

function groupSchema(params: ParameterSpec[]): JsonSchema {
  return {
    type: 'object',
    properties: Object.fromEntries(params.map((p) => [p.name, p.schema])),
    required: params.filter((p) => p.required || p.in === 'path').map((p) => p.name),
  };
}

interface Checks {
  path?: ValidateFunction;
  query?: ValidateFunction;
  body?: ValidateFunction;
}

function compileChecks(spec: RouteSpec): Checks {
  const params = spec.parameters ?? [];
  const pathParams = params.filter((p) => p.in === 'path');
  const queryParams = params.filter((p) => p.in === 'query');
  return {
    path: pathParams.length ? coercing.compile(lengthFirst(groupSchema(pathParams))) : undefined,
    query: queryParams.length
      ? coercing.compile(lengthFirst({ ...groupSchema(queryParams), additionalProperties: false }))
      : undefined,
    body: spec.requestBody ? strictBody.compile(lengthFirst(spec.requestBody.schema)) : undefined,
  };
}

// Compiling every operation's schemas took ~125 ms of a worker's start-up (`CPU_PROFILE_DIR`
// profile of a worker's boot), before it could answer anything. So a validator compiles on its
// route's first request, and `warmValidators` compiles the rest once the worker listens.
const uncompiled = new Set<() => void>();

/** Compiles the validators no request has needed yet, one per turn of the event loop. */
export async function warmValidators(): Promise<void> {
  for (const compile of uncompiled) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    compile();
  }
}

// express 5 parses `req.query` again on every read (a getter on its request prototype), so the
// coerced values are kept in a field the getter prefers; an own `query` property per request
// would turn every request object into a slow dictionary-mode object.
const parseQuery = Object.getOwnPropertyDescriptor(express.request, 'query')?.get;
Object.defineProperty(express.request, 'query', {
  configurable: true,
  enumerable: true,
  get(this: Request & { _validatedQuery?: unknown }) {
    return this._validatedQuery ?? parseQuery?.call(this);
  },
});

function compileValidator(spec: RouteSpec): RequestHandler {
  let checks: Checks | undefined;
  const compile = () => {
    checks ??= compileChecks(spec);
    uncompiled.delete(compile);
    return checks;
  };
  uncompiled.add(compile);
  const bodyRequired = spec.requestBody?.required ?? false;

  return (req: Request, _res: Response, next: NextFunction) => {
    const { path: checkPath, query: checkQuery, body: checkBody } = checks ?? compile();
    // The wildcard is a VFS path: its own rule refuses NUL and names the reason.
    const params = spec.wildcard ? { ...req.params, [spec.wildcard]: '' } : req.params;
    const found: Violation[] = textViolations('path', params);
    // A request without a query string has no query to check (most requests on the hot path).
    if (req.url.includes('?')) found.push(...textViolations('query', req.query));
    if (typeof req.body === 'object') found.push(...textViolations('body', req.body, spec.ownTextRule));
    if (checkPath) {
      const values = { ...req.params };
      if (!checkPath(values)) found.push(...violations('path', checkPath.errors));
      else req.params = values as typeof req.params;
    }
    if (checkQuery) {
      const values = { ...req.query };
      if (!checkQuery(values)) found.push(...violations('query', checkQuery.errors));
      else (req as Request & { _validatedQuery?: unknown })._validatedQuery = values;
    }
    if (checkBody) {
      if (req.body === undefined) {
        if (bodyRequired) {
          const type = req.headers['content-type'];
          if (type !== undefined && !req.is('application/json')) {
            next(new AppError('UNSUPPORTED_MEDIA_TYPE', { detail: 'Send the body as application/json.' }));
            return;
          }
          found.push({ in: 'body', path: '/', message: 'a JSON body is required' });
        }
      } else if (!checkBody(req.body)) {
        found.push(...violations('body', checkBody.errors));
      }
    }
    if (found.length > 0) {
      next(
        new AppError('VALIDATION_FAILED', {
          detail: found.map((v) => `${v.in} ${v.path}: ${v.message}`).join('; '),
          extensions: { errors: found },
        }),
      );
      return;
    }
    next();
  };
}

/** `content` of a JSON request or response in an OpenAPI operation. */
export function jsonContent(schema: JsonSchema): Record<string, { schema: JsonSchema }> {
  return { 'application/json': { schema } };
}

/** `/a/{id}` → `/a/:id`; a literal `:` (as in `/files:move`) is escaped for path-to-regexp. */
export function expressPath(openapiPath: string, wildcard?: string): string {
  return openapiPath
    .replaceAll(':', '\\:')
    .replace(/\{([A-Za-z0-9_]+)\}/g, (_m, name: string) => (name === wildcard ? `*${name}` : `:${name}`));
}

// express 5 hands a wildcard parameter over as its segments.
function joinWildcard(name: string): RequestHandler {
  return (req, _res, next) => {
    const value: unknown = req.params[name];
    if (Array.isArray(value)) req.params[name] = value.join('/');
    next();
  };
}

/**
 * Which group of routes a path belongs to: its segment after `/api/`, lower-cased as express
 * matches paths case-insensitively; `undefined` for a path outside `/api/` or a segment that is
 * a parameter.
 */
function groupOf(path: string): string | undefined {
  if (!path.startsWith('/api/') && path.slice(0, 5).toLowerCase() !== '/api/') return undefined;
  const end = path.indexOf('/', 5);
  const segment = path.slice(5, end < 0 ? undefined : end).toLowerCase();
  return segment === '' || /[:*{(]/.test(segment) ? undefined : segment;
}

/**
 * Mounts every spec on the router (or straight on an app). `bodyParser` runs before the `before` handlers of the
 * operations that take a body: bodies are parsed for ferrite's own routes only, so a request
 * that goes on to another service (the gateway's legacy passthrough) keeps its raw stream.
 *
 * Operations are grouped by the segment after `/api/` (`auth`, `projects`, `stats`…), one
 * router per group behind a single lookup: express tries a router's routes one by one, so with
 * every operation on one router a request to the last (or to none: a 404) paid a path match for
 * each of the others (issue 12). Operations whose first segment is a parameter stay on `router`
 * itself, after the groups.
 */
export function mountRoutes(router: IRouter, specs: readonly RouteSpec[], bodyParser?: RequestHandler): void {
  const groups = new Map<string, Router>();
  const ungrouped: RouteSpec[] = [];
  for (const declared of specs) {
    const spec =
      bodyParser && declared.method !== 'get'
        ? { ...declared, before: [bodyParser, ...(declared.before ?? [])] }
        : declared;
    const path = expressPath(spec.path, spec.wildcard);
    const group = groupOf(path);
    if (group === undefined) {
      ungrouped.push(spec);
      continue;
    }
    let target = groups.get(group);
    if (!target) {
      target = express.Router();
      groups.set(group, target);
    }
    mountOne(target, spec, path);
  }
  router.use((req, res, next) => {
    const q = req.url.indexOf('?');
    const group = groupOf(q < 0 ? req.url : req.url.slice(0, q));
    const target = group === undefined ? undefined : groups.get(group);
    if (target) target(req, res, next);
    else next();
  });
  for (const spec of ungrouped) mountOne(router, spec, expressPath(spec.path, spec.wildcard));
}

function mountOne(router: IRouter, spec: RouteSpec, path: string): void {
  const validate = compileValidator(spec);
  // The handler itself: express 5 passes a returned promise's rejection to the error handler,
  // and a synchronous handler costs no promise (an async wrapper made one per request).
  // The one place the typed handler meets express's untyped one: the validator before it
  // made the request what `RouteRequest` says.
  const handler = spec.handler as RequestHandler;
  const join = spec.wildcard ? [joinWildcard(spec.wildcard)] : [];
  router[spec.method](path, ...join, ...(spec.before ?? []), validate, handler);
}

const problemSchema = {
  type: 'object',
  required: ['type', 'title', 'status', 'code', 'detail', 'instance', 'requestId'],
  properties: {
    type: { type: 'string', format: 'uri' },
    title: { type: 'string' },
    status: { type: 'integer' },
    code: { type: 'string', enum: Object.keys(errorCodes) },
    detail: { type: 'string' },
    instance: { type: 'string' },
    requestId: { type: 'string' },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        properties: { in: { type: 'string' }, path: { type: 'string' }, message: { type: 'string' } },
      },
    },
  },
};

/** The OpenAPI 3.1 contract, generated from the same specs that mount the routes. */
export function openapiDocument(specs: readonly RouteSpec[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const s of specs) {
    const op: Record<string, unknown> = {
      operationId: s.operationId,
      summary: s.summary,
      tags: s.tags,
      responses: {
        ...s.responses,
        default: {
          description: `An RFC 9457 problem document; \`type\` is ${PROBLEM_BASE}{code}`,
          content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
        },
      },
    };
    if (s.parameters?.length) {
      op.parameters = s.parameters.map((p) => ({ ...p, required: p.in === 'path' ? true : !!p.required }));
    }
    if (s.requestBody) {
      op.requestBody = {
        required: s.requestBody.required,
        description: s.requestBody.description,
        content: jsonContent(s.requestBody.schema),
      };
    }
    if (s.security) op.security = s.security;
    paths[s.path] ??= {};
    (paths[s.path] as Record<string, unknown>)[s.method] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'ferrite',
      version,
      description: 'The endpoints existing clients call, served by one TypeScript monolith.',
    },
    paths,
    components: {
      schemas: { Problem: problemSchema },
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
    },
  };
}

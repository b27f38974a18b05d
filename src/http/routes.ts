import express, { type IRouter, type RequestHandler, type Router } from 'express';
import { AppError } from '../errors.ts';
import type { RouteSpec } from './route-spec.ts';
import { compileValidator } from './validation.ts';

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
export function mountRoutes(
  router: IRouter,
  specs: readonly RouteSpec[],
  opts: {
    bodyParser?: RequestHandler;
    /** Takes every OPTIONS request before the routes (see `answerOtherMethods`). */
    options?: RequestHandler;
  } = {},
): void {
  const { bodyParser, options } = opts;
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
  // The one layer every request passes before the routes: OPTIONS, then the route group.
  router.use((req, res, next) => {
    if (options && req.method === 'OPTIONS') {
      options(req, res, next);
      return;
    }
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

/** A method and a path as express matches it (`/a/:id`), for `answerOtherMethods`. */
export interface ServedPath {
  method: string;
  path: string;
}

/** The express paths and methods of route specs. */
export function servedPaths(specs: readonly RouteSpec[]): ServedPath[] {
  return specs.map((s) => ({ method: s.method, path: expressPath(s.path, s.wildcard) }));
}

/**
 * For a path some route serves, the methods none serves: `OPTIONS` answers 204 and any other
 * 405 problem+json, both with `Allow` (RFC 9110 §9.3.7, §15.5.6), on `router`, which the app
 * mounts after every route and before the 404 (only a request no route took reaches it), and
 * for OPTIONS before the routes as well: a group's router would otherwise answer OPTIONS itself
 * with express's own 200. express's matcher decides what "the path" is, as for the routes (any
 * case, a trailing slash).
 */
export function answerOtherMethods(router: IRouter, served: readonly ServedPath[]): void {
  const byPath = new Map<string, Set<string>>();
  for (const { method, path } of served) {
    const methods = byPath.get(path) ?? new Set(['OPTIONS']);
    methods.add(method.toUpperCase());
    if (method === 'get') methods.add('HEAD');
    byPath.set(path, methods);
  }
  for (const [path, methods] of byPath) {
    const allow = [...methods].sort().join(', ');
    router.all(path, (req, res, next) => {
      res.setHeader('Allow', allow);
      if (req.method === 'OPTIONS') {
        res.status(204).end();
        return;
      }
      next(new AppError('METHOD_NOT_ALLOWED', { detail: `${req.method} is not one of ${allow} here.` }));
    });
  }
}

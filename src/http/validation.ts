import type { ErrorObject, ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { AppError } from '../errors.ts';
import { textViolations } from './input.ts';
import type { JsonSchema, ParameterSpec, RouteSpec } from './route-spec.ts';
import { lengthFirst } from './schema-guard.ts';

export interface Violation {
  in: 'path' | 'query' | 'header' | 'body';
  path: string;
  message: string;
}

// Query and path values arrive as strings; they are coerced to the declared types.
const coercing = new Ajv2020({ allErrors: true, coerceTypes: true, useDefaults: true, strict: false });
const strictBody = new Ajv2020({ allErrors: true, useDefaults: true, strict: false });
addFormats.default(coercing);
addFormats.default(strictBody);

/** ajv's errors as the problem document names them: where, the member's JSON pointer, and why. */
export function violations(where: Violation['in'], errors: ErrorObject[] | null | undefined): Violation[] {
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

export function compileValidator(spec: RouteSpec): RequestHandler {
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
      next(validationFailed(found));
      return;
    }
    next();
  };
}

/** The 400 problem for a request that broke its contract, naming every field. */
export function validationFailed(found: readonly Violation[]): AppError {
  return new AppError('VALIDATION_FAILED', {
    detail: found.map((v) => `${v.in} ${v.path}: ${v.message}`).join('; '),
    extensions: { errors: found },
  });
}

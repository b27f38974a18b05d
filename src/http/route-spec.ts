import type { Request, RequestHandler, Response } from 'express';

// What an operation is: its OpenAPI description and its handler, kept side by side. The router
// (`routes.ts`), the validator (`validation.ts`) and the contract (`openapi.ts`) read it.

export type JsonSchema = Record<string, unknown>;

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

/** `content` of a JSON request or response in an OpenAPI operation. */
export function jsonContent(schema: JsonSchema): Record<string, { schema: JsonSchema }> {
  return { 'application/json': { schema } };
}

import { errorCodes, PROBLEM_BASE } from '../errors.ts';
import { jsonContent, type RouteSpec } from './route-spec.ts';

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

const problemContent = {
  'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } },
};

/**
 * The client errors an operation can answer whatever its handler does, named once in
 * `components.responses`: a generated SDK gets a typed error for each, and Redocly's
 * recommended rules (every operation declares a 4XX) hold without hand-written lists.
 */
const CLIENT_ERRORS = {
  '400': [
    'BadRequest',
    'The path, query, headers or body break this contract (`VALIDATION_FAILED`, `MALFORMED_JSON`, `BAD_REQUEST`); `errors` names each field.',
  ],
  '401': ['Unauthorized', 'No valid bearer token (`UNAUTHORIZED`).'],
  '404': ['NotFound', 'No such resource (`NOT_FOUND`).'],
  '413': ['PayloadTooLarge', 'The body is over `BODY_LIMIT_BYTES` (`PAYLOAD_TOO_LARGE`).'],
  '415': ['UnsupportedMediaType', 'The body is not `application/json` (`UNSUPPORTED_MEDIA_TYPE`).'],
  '431': ['HeadersTooLarge', 'The request headers are over `MAX_HEADER_SIZE` (`HEADERS_TOO_LARGE`).'],
} as const;

type ClientError = keyof typeof CLIENT_ERRORS;

/** The client errors `op` can answer, from what it takes: parameters, a body, a token. */
export function clientErrors(op: {
  parameters?: readonly { in: string }[];
  requestBody?: { required?: boolean };
  security?: readonly Record<string, unknown>[];
}): ClientError[] {
  const found: ClientError[] = [];
  if (op.parameters?.length || op.requestBody) found.push('400');
  if (op.security?.some((s) => Object.keys(s).length > 0)) found.push('401');
  if (op.parameters?.some((p) => p.in === 'path')) found.push('404');
  if (op.requestBody) found.push('413');
  if (op.requestBody?.required) found.push('415');
  // Every request: the listeners refuse oversized headers before any route sees them.
  found.push('431');
  return found;
}

/** Adds `errors` to `responses` where the operation does not describe them itself. */
export function withClientErrors(
  responses: Record<string, unknown>,
  errors: readonly ClientError[],
  used: Set<ClientError>,
): Record<string, unknown> {
  const out = { ...responses };
  for (const status of errors) {
    if (out[status] !== undefined) continue;
    out[status] = { $ref: `#/components/responses/${CLIENT_ERRORS[status][0]}` };
    used.add(status);
  }
  return out;
}

/** `components.responses` for the client errors some operation refers to. */
export function clientErrorResponses(used: ReadonlySet<ClientError>): Record<string, unknown> {
  return Object.fromEntries(
    [...used].sort().map((status) => {
      const [name, description] = CLIENT_ERRORS[status];
      return [name, { description, content: problemContent }];
    }),
  );
}

type Json = Record<string, unknown>;

/** Another service's operations, in OpenAPI 3.1, to list beside ferrite's own. */
export interface ForeignOperations {
  paths: Record<string, Record<string, Json>>;
  schemas: Json;
  securitySchemes: Json;
}

/** A copy of `node` with `$ref`s to renamed schemas pointed at their new names. */
function renameRefs(node: unknown, renamed: ReadonlyMap<string, string>): unknown {
  if (Array.isArray(node)) return node.map((n) => renameRefs(n, renamed));
  if (!node || typeof node !== 'object') return node;
  const out: Json = {};
  for (const [key, value] of Object.entries(node)) out[key] = renameRefs(value, renamed);
  const ref = typeof out.$ref === 'string' ? /^#\/components\/schemas\/(.+)$/.exec(out.$ref) : null;
  if (ref && renamed.has(ref[1] as string))
    out.$ref = `#/components/schemas/${renamed.get(ref[1] as string)}`;
  return out;
}

/** The schema names `roots` refer to, directly or through other schemas. */
function referencedSchemas(roots: unknown[], schemas: Json): Set<string> {
  const seen = new Set<string>();
  const visit = (node: unknown) => {
    if (Array.isArray(node)) for (const n of node) visit(n);
    else if (node && typeof node === 'object') {
      const ref = (node as Json).$ref;
      const name = typeof ref === 'string' ? /^#\/components\/schemas\/(.+)$/.exec(ref)?.[1] : undefined;
      if (name !== undefined && !seen.has(name)) {
        seen.add(name);
        visit(schemas[name]);
      }
      for (const value of Object.values(node)) visit(value);
    }
  };
  visit(roots);
  return seen;
}

/**
 * Adds `foreign`'s operations that ferrite does not serve itself (the existing service's, while
 * routes move), with the client errors ferrite's own check of them answers, and the schemas and
 * security schemes they use (renamed where a name is taken).
 */
function addForeign(
  paths: Record<string, Record<string, unknown>>,
  components: { schemas: Json; securitySchemes: Json },
  foreign: ForeignOperations,
  used: Set<ClientError>,
): void {
  const unique = (name: string, taken: Json) => {
    let candidate = `Legacy${name}`;
    for (let i = 2; candidate in taken; i++) candidate = `Legacy${name}${i}`;
    return candidate;
  };
  const renamed = new Map<string, string>();
  for (const name of Object.keys(foreign.schemas)) {
    if (name in components.schemas)
      renamed.set(name, unique(name, { ...components.schemas, ...foreign.schemas }));
  }
  const schemes = new Map<string, string>();
  for (const [name, scheme] of Object.entries(foreign.securitySchemes)) {
    const ours = components.securitySchemes[name];
    if (ours !== undefined && JSON.stringify(ours) === JSON.stringify(scheme)) schemes.set(name, name);
    else schemes.set(name, ours === undefined ? name : unique(name, components.securitySchemes));
  }
  const operationIds = new Set(
    Object.values(paths).flatMap((item) => Object.values(item).map((op) => (op as Json).operationId)),
  );
  const added: unknown[] = [];
  for (const [path, item] of Object.entries(foreign.paths)) {
    for (const [method, raw] of Object.entries(item)) {
      if (paths[path]?.[method] !== undefined) continue; // ferrite serves it: its own description
      const op = renameRefs(raw, renamed) as Json;
      if (typeof op.operationId === 'string' && operationIds.has(op.operationId)) {
        op.operationId = `legacy_${op.operationId}`;
      }
      operationIds.add(op.operationId);
      op.summary ??= typeof op.operationId === 'string' ? op.operationId : `${method.toUpperCase()} ${path}`;
      op.security = ((op.security as Json[]) ?? []).map((req) =>
        Object.fromEntries(Object.entries(req).map(([name, scopes]) => [schemes.get(name) ?? name, scopes])),
      );
      // What ferrite answers before forwarding: a path variant or a contract breach (400), a body
      // too large or of an undeclared type (413, 415), oversized headers (431).
      const body = op.requestBody as Json | undefined;
      const errors: ClientError[] = ['400', ...(body ? (['413', '415'] as const) : []), '431'];
      const responses = { ...(op.responses as Json) };
      for (const status of errors) {
        const own = responses[status] as Json | undefined;
        if (own === undefined) continue;
        // The existing service's own description stays; ferrite's problem is one more form.
        responses[status] = { ...own, content: { ...((own.content as Json) ?? {}), ...problemContent } };
      }
      op.responses = withClientErrors(responses, errors, used);
      paths[path] ??= {};
      (paths[path] as Json)[method] = op;
      added.push(op);
    }
  }
  const needed = referencedSchemas(added, renameRefs(foreign.schemas, renamed) as Json);
  for (const [name, schema] of Object.entries(foreign.schemas)) {
    const as = renamed.get(name) ?? name;
    if (needed.has(as)) components.schemas[as] = renameRefs(schema, renamed);
  }
  for (const [name, scheme] of Object.entries(foreign.securitySchemes)) {
    const as = schemes.get(name) as string;
    const usedBy = added.some((op) => ((op as Json).security as Json[]).some((r) => as in r));
    if (usedBy) components.securitySchemes[as] = scheme;
  }
}

/**
 * The OpenAPI 3.1 contract, generated from the same specs that mount the routes, and listing
 * `foreign`'s operations (the existing service's, LEGACY_OPENAPI_FILE) that ferrite forwards.
 */
export function openapiDocument(
  specs: readonly RouteSpec[],
  about: { version: string; license: string },
  foreign?: ForeignOperations,
): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const used = new Set<ClientError>();
  for (const s of specs) {
    const parameters = s.parameters?.map((p) => ({ ...p, required: p.in === 'path' ? true : !!p.required }));
    // An operation without a security requirement is public, and says so.
    const security = s.security ?? [];
    const op: Record<string, unknown> = {
      operationId: s.operationId,
      summary: s.summary,
      tags: s.tags,
      security,
      responses: {
        ...withClientErrors(s.responses, clientErrors({ ...s, parameters, security }), used),
        default: {
          description: `An RFC 9457 problem document; \`type\` is ${PROBLEM_BASE}{code}`,
          content: problemContent,
        },
      },
    };
    if (parameters?.length) op.parameters = parameters;
    if (s.requestBody) {
      op.requestBody = {
        required: s.requestBody.required,
        description: s.requestBody.description,
        content: jsonContent(s.requestBody.schema),
      };
    }
    paths[s.path] ??= {};
    (paths[s.path] as Record<string, unknown>)[s.method] = op;
  }
  const components = {
    schemas: { Problem: problemSchema } as Json,
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } as Json,
  };
  if (foreign) addForeign(paths, components, foreign, used);
  return {
    openapi: '3.1.0',
    info: {
      title: 'ferrite',
      version: about.version,
      description: 'The endpoints existing clients call, served by one TypeScript monolith.',
      license: { name: about.license, identifier: about.license },
    },
    // Relative: the document describes whichever address served it (cleartext, TLS, a proxy).
    servers: [{ url: '/', description: 'the service that served this document' }],
    paths,
    components: {
      schemas: components.schemas,
      responses: clientErrorResponses(used),
      securitySchemes: components.securitySchemes,
    },
  };
}

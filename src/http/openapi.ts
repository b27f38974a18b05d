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

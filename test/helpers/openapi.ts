import assert from 'node:assert/strict';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { Reply } from './clients.ts';

const pointer = (s: string) => s.replaceAll('~', '~0').replaceAll('/', '~1');

type Doc = {
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>>;
};

/** Checks replies against the schema the served OpenAPI document declares for path, method and status. */
export function openapiChecker(doc: Record<string, unknown>) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats.default(ajv);
  ajv.addSchema(doc, 'openapi');
  return (res: Reply, openapiPath: string, method: string): void => {
    const status = String(res.status);
    const type = String(res.headers['content-type'] ?? '').split(';')[0] as string;
    const declared = (doc as Doc).paths[openapiPath]?.[method]?.responses;
    assert.ok(declared, `${method.toUpperCase()} ${openapiPath} is in the contract`);
    const key = status in declared ? status : 'default';
    // A response may be one of components.responses, by reference.
    const shared = (declared[key] as { $ref?: string } | undefined)?.$ref;
    const response = shared
      ? (doc as { components: { responses: Record<string, { content?: Record<string, unknown> }> } })
          .components.responses[shared.split('/').pop() as string]
      : declared[key];
    const at = shared ? shared.slice(1) : `/paths/${pointer(openapiPath)}/${method}/responses/${key}`;
    const content = response?.content;
    if (!content) {
      assert.equal(res.body.length, 0, `${status} declares no body`);
      return;
    }
    assert.ok(type in content, `${method} ${openapiPath} ${status}: ${type} is declared`);
    const ref = `openapi#${at}/content/${pointer(type)}/schema`;
    const validate = ajv.compile({ $ref: ref });
    assert.ok(validate(res.json()), `${method} ${openapiPath} ${status}: ${ajv.errorsText(validate.errors)}`);
  };
}

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
    const content = declared[key]?.content;
    if (!content) {
      assert.equal(res.body.length, 0, `${status} declares no body`);
      return;
    }
    assert.ok(type in content, `${method} ${openapiPath} ${status}: ${type} is declared`);
    const ref = `openapi#/paths/${pointer(openapiPath)}/${method}/responses/${key}/content/${pointer(type)}/schema`;
    const validate = ajv.compile({ $ref: ref });
    assert.ok(validate(res.json()), `${method} ${openapiPath} ${status}: ${ajv.errorsText(validate.errors)}`);
  };
}

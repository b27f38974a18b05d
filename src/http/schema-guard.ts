type JsonSchema = Record<string, unknown>;

// Data, not schemas: never rewritten.
const DATA_KEYWORDS = new Set(['const', 'enum', 'default', 'examples', 'example']);

function rewrite(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(rewrite);
  if (node === null || typeof node !== 'object') return node;
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(node)) out[key] = DATA_KEYWORDS.has(key) ? value : rewrite(value);
  const { pattern, format, maxLength } = out;
  if (typeof maxLength !== 'number' || (typeof pattern !== 'string' && typeof format !== 'string'))
    return out;
  const guarded: JsonSchema = {};
  if (typeof pattern === 'string') guarded.pattern = pattern;
  if (typeof format === 'string') guarded.format = format;
  delete out.pattern;
  delete out.format;
  // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then, never awaited
  const lengthHolds = { if: { maxLength }, then: guarded };
  out.allOf = [...((out.allOf as unknown[] | undefined) ?? []), lengthHolds];
  return out;
}

/**
 * A copy of `schema` for the validator in which a string's `pattern` and `format` run only once
 * its `maxLength` holds. ajv runs with allErrors, so every keyword runs: a pattern would
 * otherwise scan a string of any size after its length already failed (issue 11: a backtracking
 * name pattern held a worker for seconds). Patterns are kept linear as well; this bounds even a
 * linear one by the declared length. The OpenAPI document keeps the schema as written.
 */
export function lengthFirst(schema: JsonSchema): JsonSchema {
  return rewrite(schema) as JsonSchema;
}

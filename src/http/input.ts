// Postgres text and jsonb cannot hold NUL, a lone surrogate has no UTF-8 form (the driver would
// store U+FFFD in its place), and a deeply nested body overflows the stack of whatever recurses
// over it next (JSON.stringify, ajv, jsonb). So every string and key of a request's path, query
// and JSON body is checked once, where requests are validated, and refused with the other
// violations as 400 VALIDATION_FAILED before any handler or query sees it.

/** Deeper JSON than any route takes; a body nested further is refused, not walked. */
export const MAX_JSON_DEPTH = 64;
const MAX_REPORTED = 10;

export interface TextViolation {
  in: 'path' | 'query' | 'body';
  path: string;
  message: string;
}

const pointerPart = (key: string) => key.replaceAll('~', '~0').replaceAll('/', '~1');

function textProblem(s: string): string | undefined {
  if (s.includes('\u0000')) return 'must not contain NUL (\\u0000)';
  if (!s.isWellFormed()) return 'must be well-formed Unicode (no lone surrogates)';
  return undefined;
}

interface Frame {
  value: unknown;
  depth: number;
  path: string;
}

/**
 * Violations in `value` (params, query or a parsed body): NUL, lone surrogates, in strings and
 * in keys, and nesting past MAX_JSON_DEPTH. Iterative, so depth cannot overflow the stack here.
 * `skip` names top-level members whose strings the handler checks with a stricter rule of its
 * own (a VFS path names the broken rule in `reason`).
 */
export function textViolations(
  where: TextViolation['in'],
  value: unknown,
  skip: readonly string[] = [],
): TextViolation[] {
  const found: TextViolation[] = [];
  const stack: Frame[] = [{ value, depth: 0, path: '' }];
  while (stack.length > 0 && found.length < MAX_REPORTED) {
    const { value: v, depth, path } = stack.pop() as Frame;
    if (typeof v === 'string') {
      const problem = textProblem(v);
      if (problem) found.push({ in: where, path: path || '/', message: problem });
      continue;
    }
    if (v === null || typeof v !== 'object' || Buffer.isBuffer(v)) continue;
    if (depth >= MAX_JSON_DEPTH) {
      found.push({
        in: where,
        path: path || '/',
        message: `must not nest deeper than ${MAX_JSON_DEPTH} levels`,
      });
      continue;
    }
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) {
        // Numbers, booleans and null need no frame (a 1 MB array of them is common enough).
        if (typeof v[i] === 'string' || (typeof v[i] === 'object' && v[i] !== null)) {
          stack.push({ value: v[i], depth: depth + 1, path: `${path}/${i}` });
        }
      }
      continue;
    }
    for (const key of Object.keys(v)) {
      const child = `${path}/${pointerPart(key)}`;
      if (depth === 0 && skip.includes(child)) continue;
      const problem = textProblem(key);
      if (problem) found.push({ in: where, path: child, message: `member name ${problem}` });
      else stack.push({ value: (v as Record<string, unknown>)[key], depth: depth + 1, path: child });
    }
  }
  return found;
}

type Kind = 'null' | 'array' | 'object' | 'string' | 'number' | 'boolean' | 'undefined';

function kind(v: unknown): Kind {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v as Kind;
}

const pointer = (key: string) => key.replaceAll('~', '~0').replaceAll('/', '~1');

/**
 * Where two parsed JSON documents differ, as JSON pointers (at most `limit` of them). Key order
 * never matters; keys named in `ignore` are skipped at any depth (timestamps, request ids).
 * A missing key and a key of another type both count as a difference at that key.
 */
export function jsonDifferences(a: unknown, b: unknown, ignore: ReadonlySet<string>, limit = 10): string[] {
  const out: string[] = [];
  walk(a, b, '', ignore, out, limit);
  return out;
}

function walk(
  a: unknown,
  b: unknown,
  path: string,
  ignore: ReadonlySet<string>,
  out: string[],
  limit: number,
) {
  if (out.length >= limit || a === b) return;
  const ka = kind(a);
  if (ka !== kind(b)) {
    out.push(path || '/');
    return;
  }
  if (ka === 'array') {
    const x = a as unknown[];
    const y = b as unknown[];
    if (x.length !== y.length) out.push(`${path}/length`);
    for (let i = 0; i < Math.min(x.length, y.length); i++)
      walk(x[i], y[i], `${path}/${i}`, ignore, out, limit);
    return;
  }
  if (ka === 'object') {
    const x = a as Record<string, unknown>;
    const y = b as Record<string, unknown>;
    for (const key of new Set([...Object.keys(x), ...Object.keys(y)])) {
      if (!ignore.has(key)) walk(x[key], y[key], `${path}/${pointer(key)}`, ignore, out, limit);
    }
    return;
  }
  out.push(path || '/');
}

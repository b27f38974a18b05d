// Method + path patterns as operators write them (the routes file, SHADOW_IDEMPOTENT):
// `GET,HEAD /api/items/:id`, `* /legacy/*`. Literal segments, `:param` (one non-empty segment),
// and a final `*` (the rest of the path, possibly nothing).

export interface RoutePattern {
  /** Upper-case methods; undefined: any. An array: configuration crosses processes as JSON. */
  methods: readonly string[] | undefined;
  segments: readonly string[];
}

const METHOD = /^[A-Z]+$/;
export const PATTERN_FORM = '"METHOD[,METHOD] /path" or "* /path" (":param" segments, a final "*")';

/** The pattern `text` names, or what is wrong with it. */
export function parseRoutePattern(text: string): RoutePattern | { problem: string } {
  const [methodText = '', path = '', ...extra] = text.trim().split(/\s+/);
  const methods = methodText === '*' ? undefined : methodText.split(',').map((m) => m.toUpperCase());
  if (extra.length > 0 || !path.startsWith('/') || methods?.some((m) => !METHOD.test(m))) {
    return { problem: `must be ${PATTERN_FORM}` };
  }
  const segments = path.split('/').slice(1);
  if (segments.slice(0, -1).includes('*')) return { problem: '"*" only as the last segment' };
  return { methods, segments };
}

/** Whether `pattern` covers this method and path (without its query). A GET pattern covers HEAD. */
export function routeMatches(pattern: RoutePattern, method: string, path: string): boolean {
  const { methods, segments } = pattern;
  if (methods && !methods.includes(method) && !(method === 'HEAD' && methods.includes('GET'))) return false;
  const parts = path.split('/');
  // parts[0] is the empty string before the leading '/'.
  for (let i = 0; i < segments.length; i++) {
    const want = segments[i] as string;
    if (want === '*' && i === segments.length - 1) return true;
    const got = parts[i + 1];
    if (got === undefined) return false;
    if (want.startsWith(':') ? got === '' : got !== want) return false;
  }
  return parts.length === segments.length + 1;
}

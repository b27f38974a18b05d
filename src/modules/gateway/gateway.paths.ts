/**
 * The gateway decides where a request goes from its path, and the service behind it reads the
 * same path again, perhaps decoding, normalising or dropping `;` parameters as it goes (Tomcat
 * and Spring read `/a/..;/b` as `/b`). So a path is judged by what any such reader could make
 * of it: each segment is percent-decoded until it no longer changes and its `;` parameters are
 * cut off. What is left must be a plain segment.
 */

export interface CanonicalPath {
  /** The path as a normalising reader sees it, lower-cased: for spotting an owned prefix. */
  loose: string;
  /** Why the path is not forwarded, or undefined when it is safe to pass on byte for byte. */
  problem: string | undefined;
}

// Paths of only these characters need no decoding: no `%`, `;` or `\`, no control characters.
const PLAIN = /^[A-Za-z0-9\-._~!$&'()*+,=:@/]*$/;
// Enough for any honest path; more layers of encoding than this is an attack.
const MAX_DECODES = 4;

function decodeSegment(segment: string): { value: string; problem?: string } {
  let value = segment;
  for (let i = 0; i <= MAX_DECODES; i++) {
    if (!value.includes('%')) return { value };
    let next: string;
    try {
      next = decodeURIComponent(value);
    } catch {
      // A `%` that is not an escape: a reader that tolerates it keeps it as is.
      return { value };
    }
    if (next === value) return { value };
    value = next;
  }
  return { value, problem: 'is percent-encoded too many times' };
}

/** The path of a request target, without its query. */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/** Reads `pathname` (without the query) the way a lenient upstream might. */
export function canonicalPath(pathname: string): CanonicalPath {
  if (PLAIN.test(pathname) && !pathname.includes('//') && !/(^|\/)\.\.?(\/|$)/.test(pathname)) {
    return { loose: pathname.toLowerCase(), problem: undefined };
  }
  let problem: string | undefined;
  const note = (p: string) => {
    problem ??= p;
  };
  if (pathname.charCodeAt(0) !== 47 /* / */) note('is not absolute');
  const raw = pathname.split('/');
  const kept: string[] = [];
  for (let i = 1; i < raw.length; i++) {
    const decoded = decodeSegment(raw[i] as string);
    if (decoded.problem) note(decoded.problem);
    let segment = decoded.value;
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
    if (/[\u0000-\u001f\u007f]/.test(segment)) note('contains a control character');
    if (/[/\\]/.test(segment)) note('contains a \\ or an encoded /');
    const semi = segment.indexOf(';');
    if (semi >= 0) segment = segment.slice(0, semi);
    if (segment === '.' || segment === '..') note('has a . or .. segment');
    // A trailing slash is a path of its own; an empty segment anywhere else collapses in many readers.
    if (segment === '' && i < raw.length - 1) {
      note('has an empty segment');
      continue;
    }
    kept.push(segment);
  }
  return { loose: `/${kept.join('/')}`.toLowerCase(), problem };
}

/** Whether `path` is `prefix` or lies below it (whole segments only). */
export function underPrefix(path: string, prefix: string): boolean {
  if (!path.startsWith(prefix)) return false;
  const next = path.charCodeAt(prefix.length);
  return Number.isNaN(next) || next === 47; /* / */
}

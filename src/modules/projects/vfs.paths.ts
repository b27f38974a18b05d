import { AppError } from '../../errors.ts';

export interface PathLimits {
  /** Longest path in UTF-8 bytes. */
  maxBytes: number;
  /** Most segments. */
  maxDepth: number;
}

/** The longest single name, in UTF-8 bytes: what ext4, APFS and NTFS allow. */
export const MAX_NAME_BYTES = 255;

export type PathRule =
  | 'empty'
  | 'absolute'
  | 'trailing-slash'
  | 'dot-dot'
  | 'control-character'
  | 'backslash'
  | 'malformed-unicode'
  | 'name-too-long'
  | 'too-long'
  | 'too-deep';

// C0, DEL and C1 control characters; NUL among them (Postgres text cannot hold it).
const CONTROL = /\p{Cc}/u;

export function invalidPath(path: string, reason: PathRule, detail: string): AppError {
  return new AppError('INVALID_PATH', {
    detail,
    // Quoted back only when it is printable: a path with control characters would be echoed raw.
    extensions: { reason, path: CONTROL.test(path) || !path.isWellFormed() ? undefined : path },
  });
}

/**
 * The one spelling of a file path that the store keys on. Unicode is NFC (so é typed two ways
 * is one file), `.` segments and repeated slashes collapse. Everything that could escape the
 * project or mean two things is refused rather than repaired: a leading slash (an absolute
 * path), `..` (even where it would resolve inside the project), a trailing slash (a directory),
 * backslashes (a separator on Windows), control characters, lone surrogates, names over 255
 * bytes, and paths past the configured length and depth.
 */
export function normalisePath(raw: string, limits: PathLimits): string {
  if (typeof raw !== 'string' || raw.length === 0) throw invalidPath('', 'empty', 'The path is empty.');
  if (!raw.isWellFormed()) {
    throw invalidPath(raw, 'malformed-unicode', 'The path is not well-formed Unicode.');
  }
  if (CONTROL.test(raw)) {
    throw invalidPath(raw, 'control-character', 'The path contains control characters.');
  }
  if (raw.includes('\\')) {
    throw invalidPath(raw, 'backslash', 'Use "/" to separate path segments; "\\" is not allowed.');
  }
  if (raw.startsWith('/')) {
    throw invalidPath(raw, 'absolute', 'The path must be relative to the project (no leading "/").');
  }
  if (raw.endsWith('/')) {
    throw invalidPath(raw, 'trailing-slash', 'The path names a directory (trailing "/"), not a file.');
  }
  const segments: string[] = [];
  for (const segment of raw.normalize('NFC').split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') throw invalidPath(raw, 'dot-dot', 'The path must not contain "..".');
    if (Buffer.byteLength(segment) > MAX_NAME_BYTES) {
      throw invalidPath(raw, 'name-too-long', `A name in the path is longer than ${MAX_NAME_BYTES} bytes.`);
    }
    segments.push(segment);
  }
  if (segments.length === 0) throw invalidPath(raw, 'empty', 'The path names no file.');
  if (segments.length > limits.maxDepth) {
    throw invalidPath(raw, 'too-deep', `The path is deeper than ${limits.maxDepth} segments.`);
  }
  const path = segments.join('/');
  if (Buffer.byteLength(path) > limits.maxBytes) {
    throw invalidPath(raw, 'too-long', `The path is longer than ${limits.maxBytes} bytes.`);
  }
  return path;
}

/** The directories above a path, nearest last: `a/b/c` → `a`, `a/b`. */
export function ancestors(path: string): string[] {
  const parts = path.split('/');
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) out.push(parts.slice(0, i).join('/'));
  return out;
}

/** Whether `path` is `dir` itself or lies below it. */
export function within(path: string, dir: string): boolean {
  return path === dir || path.startsWith(`${dir}/`);
}

// Conditional requests on files (RFC 9110 §13): a file's ETag is its content hash, quoted.

/** The entity tag of a file: its content hash, quoted. */
export function etagOf(hash: string): string {
  return `"${hash}"`;
}

interface Tag {
  weak: boolean;
  hash: string;
}

function parseTags(header: string): Tag[] | '*' {
  if (header.trim() === '*') return '*';
  return header
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean)
    .map((t) => {
      const weak = t.startsWith('W/');
      const bare = weak ? t.slice(2) : t;
      return { weak, hash: bare.startsWith('"') && bare.endsWith('"') ? bare.slice(1, -1) : bare };
    });
}

/** If-Match: strong comparison (RFC 9110 §13.1.1); `*` holds when the file exists. */
export function ifMatchHolds(header: string, current: string | undefined): boolean {
  const tags = parseTags(header);
  if (current === undefined) return false;
  return tags === '*' || tags.some((t) => !t.weak && t.hash === current);
}

/** If-None-Match: weak comparison (RFC 9110 §13.1.2); `*` fails when the file exists. */
export function ifNoneMatchHolds(header: string, current: string | undefined): boolean {
  const tags = parseTags(header);
  if (current === undefined) return true;
  return tags !== '*' && !tags.some((t) => t.hash === current);
}

/** The hashes an If-None-Match names (for a conditional read); `*` names every one. */
export function noneMatchHashes(header: string | undefined): string[] | '*' {
  if (!header) return [];
  const tags = parseTags(header);
  return tags === '*' ? '*' : tags.map((t) => t.hash);
}

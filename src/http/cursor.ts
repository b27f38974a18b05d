import { AppError } from '../errors.ts';

// A keyset cursor is the sort key (a pair) of the last item of a page, as base64url JSON: opaque
// to clients, and readable back only if it is a pair this service could have issued.

export function encodeCursor(first: string, second: string): string {
  return Buffer.from(JSON.stringify([first, second])).toString('base64url');
}

/** The pair in `cursor` when both parts pass `valid`; otherwise 400 VALIDATION_FAILED on query /cursor. */
export function decodeCursor(
  cursor: string,
  valid: (first: string, second: string) => boolean,
): [string, string] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (
    Array.isArray(parsed) &&
    parsed.length === 2 &&
    typeof parsed[0] === 'string' &&
    typeof parsed[1] === 'string' &&
    valid(parsed[0], parsed[1])
  ) {
    return [parsed[0], parsed[1]];
  }
  throw new AppError('VALIDATION_FAILED', {
    detail: 'query /cursor: not a cursor this service issued',
    extensions: { errors: [{ in: 'query', path: '/cursor', message: 'not a cursor this service issued' }] },
  });
}

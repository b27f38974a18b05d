import { AppError } from '../errors.ts';

// A keyset cursor is the sort key (a pair) of the last item of a page, as base64url JSON: opaque
// to clients, and readable back only if it is a pair this service could have issued. Whatever
// comes back is bound into SQL, so each part is checked for the exact shape it was issued in:
// a malformed one is the client's 400 here, never a cast error in Postgres.

export function encodeCursor(first: string, second: string): string {
  return Buffer.from(JSON.stringify([first, second])).toString('base64url');
}

const PG_TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.\d{1,6})?[+-](\d{2})(?::(\d{2}))?(?::(\d{2}))?$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function daysIn(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Checks for one part of a cursor. */
export const cursorPart = {
  /**
   * `timestamptz::text` as Postgres prints it (`2024-05-01 12:00:00.123456+00`), naming a real
   * instant: `2024-02-30` or `99:99:99` match the pattern but not the calendar.
   */
  timestamp(s: string): boolean {
    const m = PG_TIMESTAMP.exec(s);
    if (!m) return false;
    // Absent offset minutes/seconds are zero (a missing group is undefined, which Number makes NaN).
    const [year, month, day, hour, minute, second, offH, offM, offS] = m.slice(1).map((g) => Number(g ?? 0));
    return (
      (year as number) >= 1 &&
      (month as number) >= 1 &&
      (month as number) <= 12 &&
      (day as number) >= 1 &&
      (day as number) <= daysIn(year as number, month as number) &&
      (hour as number) <= 23 &&
      (minute as number) <= 59 &&
      (second as number) <= 59 &&
      (offH as number) <= 15 &&
      (offM as number) <= 59 &&
      (offS as number) <= 59
    );
  },
  uuid: (s: string): boolean => UUID.test(s),
  /** A non-negative bigint as decimal digits. */
  integer: (s: string): boolean => /^\d{1,18}$/.test(s),
  /** Free text of at most `max` characters (NUL and lone surrogates are refused for every part). */
  text:
    (max: number) =>
    (s: string): boolean =>
      s.length <= max,
};

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
    plainText(parsed[0]) &&
    plainText(parsed[1]) &&
    valid(parsed[0], parsed[1])
  ) {
    return [parsed[0], parsed[1]];
  }
  throw new AppError('VALIDATION_FAILED', {
    detail: 'query /cursor: not a cursor this service issued',
    extensions: { errors: [{ in: 'query', path: '/cursor', message: 'not a cursor this service issued' }] },
  });
}

// Postgres text cannot hold NUL, and a lone surrogate has no UTF-8 form.
function plainText(s: string): boolean {
  return !s.includes('\u0000') && s.isWellFormed();
}

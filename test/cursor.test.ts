import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError } from '../src/errors.ts';
import { cursorPart, decodeCursor, encodeCursor } from '../src/http/cursor.ts';

// Timestamps as Postgres prints them (with or without offset minutes), and ones of that shape
// that name no instant.
const INSTANTS = [
  '2024-05-01 12:00:00.123456+00',
  '2024-05-01 12:00:00+00',
  '2024-05-01 12:00:00+05:30',
  '2024-02-29 23:59:59-03',
];
const NOT_INSTANTS = [
  '2024-99-99 99:99:99+00',
  '2023-02-29 00:00:00+00',
  '2024-05-01 24:00:00+00',
  '2024-05-01 12:00:00+16',
];

describe('keyset cursors', () => {
  it('accepts timestamps as Postgres prints them, with or without offset minutes', () => {
    for (const ts of INSTANTS) assert.equal(cursorPart.timestamp(ts), true, ts);
  });

  it('refuses timestamps that match the shape but name no instant', () => {
    for (const ts of NOT_INSTANTS) assert.equal(cursorPart.timestamp(ts), false, ts);
  });

  it('round-trips a cursor it issued and refuses a foreign one with 400', () => {
    const cursor = encodeCursor('2024-05-01 12:00:00.5+00', '00000000-0000-4000-8000-000000000000');
    assert.deepEqual(
      decodeCursor(cursor, (a, b) => cursorPart.timestamp(a) && cursorPart.uuid(b)),
      ['2024-05-01 12:00:00.5+00', '00000000-0000-4000-8000-000000000000'],
    );
    const foreign = encodeCursor('2024-05-01 12:00:00+00\u0000', 'x');
    assert.throws(
      () => decodeCursor(foreign, () => true),
      (err: unknown) => err instanceof AppError && err.status === 400,
    );
  });
});

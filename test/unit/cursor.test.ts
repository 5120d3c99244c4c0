import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidationFailed } from '../../app/errors.ts';
import {
  decodeCursor,
  decodeTimeCursor,
  encodeCursor,
  encodeTimeCursor,
  pageQuerySchema,
  toPage,
} from '../../app/http/cursor.ts';

const b64 = (text: string) => Buffer.from(text).toString('base64url');
const id = '0b7e6f5a-1c2d-4e3f-8a9b-0c1d2e3f4a5b';

describe('position cursors', () => {
  it('are opaque base64url of "p:<position>"', () => {
    expect(encodeCursor(42)).toBe(b64('p:42'));
  });

  it('round-trip every position up to 15 digits (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 999_999_999_999_999 }), (position) => {
        expect(decodeCursor(encodeCursor(position))).toBe(position);
      }),
    );
  });

  it('decode an absent cursor as the first page', () => {
    expect(decodeCursor(undefined)).toBeUndefined();
  });

  it('refuse, as a 422 of query.cursor, anything this API did not issue', () => {
    for (const forged of [
      '',
      'not base64 at all!',
      b64('p:'),
      b64('p:-1'),
      b64('p:1.5'),
      b64('p:1 '),
      b64(' p:1'),
      b64('x:1'),
      b64('p:1234567890123456'),
      b64(`t:2026-01-01T00:00:00.000Z|${id}`),
    ]) {
      const decode = () => decodeCursor(forged);
      expect(decode, forged).toThrow(ValidationFailed);
      expect(decode, forged).toThrow(
        expect.objectContaining({
          status: 422,
          errors: [{ path: 'query.cursor', message: 'is not a cursor this API issued' }],
        }),
      );
    }
  });
});

describe('pages', () => {
  const rows = [{ n: 1 }, { n: 2 }, { n: 3 }];
  const position = (r: { n: number }) => r.n * 10;
  const view = (r: { n: number }) => `row ${r.n}`;

  it('give limit items and a cursor at the last one when the limit+1 fetch found one more row', () => {
    const fetched = [...rows, { n: 4 }];
    expect(toPage(fetched, 3, position, view)).toEqual({
      items: ['row 1', 'row 2', 'row 3'],
      next_cursor: encodeCursor(30),
    });
    expect(toPage(rows, 1, position, view)).toEqual({ items: ['row 1'], next_cursor: encodeCursor(10) });
  });

  it('give no next cursor when the fetch found exactly limit rows or fewer', () => {
    expect(toPage(rows, 3, position, view)).toEqual({
      items: ['row 1', 'row 2', 'row 3'],
      next_cursor: null,
    });
    expect(toPage(rows.slice(0, 1), 3, position, view)).toEqual({ items: ['row 1'], next_cursor: null });
    expect(toPage([], 3, position, view)).toEqual({ items: [], next_cursor: null });
  });

  it('take limit 1..100, default 20, and refuse 0, 101, fractions and unknown parameters', () => {
    expect(pageQuerySchema.parse({})).toEqual({ limit: 20 });
    expect(pageQuerySchema.parse({ limit: '1' }).limit).toBe(1);
    expect(pageQuerySchema.parse({ limit: '100', cursor: 'c' })).toEqual({ limit: 100, cursor: 'c' });
    for (const bad of [{ limit: '0' }, { limit: '101' }, { limit: '2.5' }, { limit: 'ten' }, { page: '2' }]) {
      expect(pageQuerySchema.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });

  it('take a cursor of 1..200 characters', () => {
    expect(pageQuerySchema.safeParse({ cursor: '' }).success).toBe(false);
    expect(pageQuerySchema.safeParse({ cursor: 'c'.repeat(200) }).success).toBe(true);
    expect(pageQuerySchema.safeParse({ cursor: 'c'.repeat(201) }).success).toBe(false);
  });
});

describe('time cursors', () => {
  it('are opaque base64url of "t:<timestamp>|<id>"', () => {
    expect(encodeTimeCursor('2026-11-23T10:00:00.123456Z', id)).toBe(
      b64(`t:2026-11-23T10:00:00.123456Z|${id}`),
    );
  });

  it('round-trip microsecond and millisecond timestamps unchanged, as Postgres needs them', () => {
    for (const at of [
      '2026-11-23T10:00:00.123456Z',
      '2026-11-23T10:00:00.123Z',
      '1970-01-01T00:00:00.000Z',
    ]) {
      expect(decodeTimeCursor(encodeTimeCursor(at, id))).toEqual({ createdAt: at, id });
    }
  });

  it('round-trip any instant since 1970 at microsecond precision (property)', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date(0), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true }),
        fc.integer({ min: 0, max: 999 }),
        fc.uuid(),
        (date, micros, uuid) => {
          const at = date.toISOString().replace('Z', `${String(micros).padStart(3, '0')}Z`);
          expect(decodeTimeCursor(encodeTimeCursor(at, uuid))).toEqual({
            createdAt: at,
            id: uuid.toLowerCase(),
          });
        },
      ),
    );
  });

  it('give the id in lower case, as the uuid column compares it', () => {
    expect(decodeTimeCursor(encodeTimeCursor('2026-11-23T10:00:00.123Z', id.toUpperCase()))?.id).toBe(id);
  });

  it('decode an absent cursor as the first page', () => {
    expect(decodeTimeCursor(undefined)).toBeUndefined();
  });

  it('refuse, as a 422 of query.cursor, impossible instants, malformed timestamps, bad ids and other kinds', () => {
    for (const forged of [
      '',
      b64(`t:2026-02-30T00:00:00.000Z|${id}`), // no 30 February
      b64(`t:2026-13-01T00:00:00.000Z|${id}`),
      b64(`t:2026-01-01T24:00:00.000Z|${id}`),
      b64(`t:1969-12-31T23:59:59.999Z|${id}`), // before 1970
      b64(`t:2026-01-01T00:00:00Z|${id}`), // no fraction
      b64(`t:2026-01-01T00:00:00.12Z|${id}`),
      b64(`t:2026-01-01T00:00:00.1234567Z|${id}`),
      b64(`t:2026-01-01T00:00:00.000|${id}`), // no Z
      b64('t:2026-01-01T00:00:00.000Z|'),
      b64('t:2026-01-01T00:00:00.000Z|not-a-uuid'),
      b64(`t:2026-01-01T00:00:00.000Z|${id}x`),
      b64(`t:2026-01-01T00:00:00.000Z ${id}`),
      b64(`x:2026-01-01T00:00:00.000Z|${id}`),
      b64(` t:2026-01-01T00:00:00.000Z|${id}`),
      b64(`t:+2026-01-01T00:00:00.000Z|${id}`),
      encodeCursor(5),
    ]) {
      const decode = () => decodeTimeCursor(forged);
      expect(decode, forged).toThrow(ValidationFailed);
      expect(decode, forged).toThrow(
        expect.objectContaining({
          status: 422,
          errors: [{ path: 'query.cursor', message: 'is not a cursor this API issued' }],
        }),
      );
    }
  });
});

import { ValidationFailed } from '../errors.ts';
import { UUID } from './validation.ts';
import { z } from './zod.ts';

/**
 * Opaque pagination cursors: base64url of the last row's position. Opaque so clients do not build
 * them; validated so a forged one is a 422, not a 500.
 */
export function encodeCursor(position: number): string {
  return Buffer.from(`p:${position}`).toString('base64url');
}

export function decodeCursor(cursor: string | undefined): number | undefined {
  if (cursor === undefined) return undefined;
  const match = /^p:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match?.[1])
    throw new ValidationFailed([{ path: 'query.cursor', message: 'is not a cursor this API issued' }]);
  return Number(match[1]);
}

export const pageQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().min(1).max(200).optional(),
});

/** Turns a limit+1 fetch into a page and its next cursor. */
export function toPage<R, V>(rows: R[], limit: number, position: (row: R) => number, view: (row: R) => V) {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return {
    items: items.map(view),
    next_cursor: rows.length > limit && last !== undefined ? encodeCursor(position(last)) : null,
  };
}

/**
 * A cursor over a (timestamp, uuid) key, for lists ordered by creation time. The timestamp is the
 * row's own, to the microsecond as Postgres keeps it (`at` is its ISO text, made by SQL): a cursor
 * cut to the millisecond would skip the rows created in the same millisecond as a page's last row.
 */
export function encodeTimeCursor(at: string, id: string): string {
  return Buffer.from(`t:${at}|${id}`).toString('base64url');
}

/** The SQL that gives a timestamptz column as encodeTimeCursor wants it. */
export const CURSOR_TIME_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"';

/** `createdAt` is ISO text with 3 (older cursors) or 6 fractional digits; pass it to SQL as is. */
export function decodeTimeCursor(cursor: string | undefined): { createdAt: string; id: string } | undefined {
  if (cursor === undefined) return undefined;
  const match = /^t:((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})\d{0,3}Z)\|(.*)$/s.exec(
    Buffer.from(cursor, 'base64url').toString('utf8'),
  );
  const [, createdAt, millis, id] = match ?? [];
  // Round-tripped through Date so that only real instants reach SQL (no 2026-02-30, no year 0).
  const real = millis && new Date(`${millis}Z`);
  const valid =
    real && !Number.isNaN(real.getTime()) && real.getTime() >= 0 && real.toISOString() === `${millis}Z`;
  if (!createdAt || !valid || !id || !UUID.test(id)) {
    throw new ValidationFailed([{ path: 'query.cursor', message: 'is not a cursor this API issued' }]);
  }
  return { createdAt, id: id.toLowerCase() };
}

import { ValidationFailed } from '../errors.ts';
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

/** A cursor over a (timestamp, uuid) key, for lists ordered by creation time. */
export function encodeTimeCursor(at: Date, id: string): string {
  return Buffer.from(`t:${at.toISOString()}|${id}`).toString('base64url');
}

export function decodeTimeCursor(cursor: string | undefined): { createdAt: Date; id: string } | undefined {
  if (cursor === undefined) return undefined;
  const match = /^t:(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\|([0-9a-f-]{36})$/.exec(
    Buffer.from(cursor, 'base64url').toString('utf8'),
  );
  const createdAt = match?.[1] ? new Date(match[1]) : undefined;
  if (!match?.[2] || !createdAt || Number.isNaN(createdAt.getTime())) {
    throw new ValidationFailed([{ path: 'query.cursor', message: 'is not a cursor this API issued' }]);
  }
  return { createdAt, id: match[2] };
}

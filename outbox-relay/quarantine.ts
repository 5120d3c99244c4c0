import type pg from 'pg';
import type { Logger } from '../app/observability/logger.ts';
import { relayQuarantinedTotal } from './metrics.ts';
import type { OutboxRow } from './outbox-rows.ts';

export type QuarantineReason = 'message_too_large' | 'broker_refused_too_large';

/** Records rows set aside instead of sent; resolves once they are durably recorded. */
export type SetAside = (rows: OutboxRow[], reason: QuarantineReason, detail: string) => Promise<void>;

/**
 * Sets rows aside in relay_quarantine. The relay acknowledges past a row only after this resolved,
 * so a row is never skipped without a record. Meeting a row again (a replay after a crash, a
 * backfill) records and counts nothing new.
 */
export function quarantineIn(pool: pg.Pool, logger: Logger): SetAside {
  return async (rows, reason, detail) => {
    const { rows: added } = await pool.query<{
      outbox_id: string;
      event_id: string;
      topic: string;
      key: string;
    }>(
      `insert into relay_quarantine (outbox_id, event_id, topic, key, size_bytes, reason, detail)
       select r.outbox_id, r.event_id, r.topic, r.key, r.size_bytes, $6, $7
         from unnest($1::bigint[], $2::uuid[], $3::text[], $4::text[], $5::int[])
              as r(outbox_id, event_id, topic, key, size_bytes)
       on conflict (outbox_id) do nothing
       returning outbox_id::text, event_id::text, topic, key`,
      [
        rows.map((r) => r.outboxId),
        rows.map((r) => r.eventId),
        rows.map((r) => r.message.topic),
        rows.map((r) => r.message.key),
        rows.map((r) => r.bytes),
        reason,
        detail,
      ],
    );
    for (const row of added) {
      relayQuarantinedTotal.inc({ topic: row.topic, reason });
      logger.error(
        { outboxId: row.outbox_id, eventId: row.event_id, topic: row.topic, key: row.key, reason, detail },
        'set aside an outbox row too large to send (relay_quarantine); the stream goes on without it',
      );
    }
  };
}

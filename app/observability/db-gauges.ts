import { sql } from 'kysely';
import client from 'prom-client';
import type { Db } from '../db/database.ts';
import { registry } from './metrics.ts';

/**
 * Gauges read from the database when Prometheus scrapes the API: the state they report lives in
 * tables (dead letters, relay progress) or in Postgres itself (the relay's slots), not in any one
 * process, and must be seen while the process it concerns (the relay) is down.
 */
let gaugeDb: Db | undefined;

/** Points the gauges at the API's database (the last call wins; tests start several APIs). */
export function useDatabaseForGauges(db: Db): void {
  gaugeDb = db;
}

/** The database the scrape-time gauges read (queue-gauges.ts reads it too); none before the API starts. */
export function gaugeDatabase(): Db | undefined {
  return gaugeDb;
}

/** A gauge that is one count from the database, read at scrape time (no value if it cannot be read). */
function countGauge(name: string, help: string, query: () => ReturnType<typeof sql<{ n: number }>>) {
  new client.Gauge({
    name,
    help,
    registers: [registry],
    async collect() {
      if (!gaugeDb) return;
      const { rows } = await query()
        .execute(gaugeDb)
        .catch(() => ({ rows: [] as { n: number }[] }));
      if (rows[0]) this.set(rows[0].n);
    },
  });
}

countGauge(
  'dead_letter_jobs',
  'Dead-lettered jobs not yet replayed',
  () =>
    sql<{
      n: number;
    }>`select count(*)::int as n from dead_letter_jobs where replayed_at is null and resolved_at is null`,
);

new client.Gauge({
  name: 'outbox_relay_lag_seconds',
  help: 'Age of the oldest outbox row not yet acknowledged by Kafka (0 when the relay is caught up)',
  registers: [registry],
  async collect() {
    if (!gaugeDb) return;
    const { rows } = await sql<{ lag: number | null }>`
      select extract(epoch from now() - min(o.created_at))::float8 as lag from outbox o
       where o.created_at > coalesce((select min(last_commit_at) from relay_progress), '-infinity')`
      .execute(gaugeDb)
      .catch(() => ({ rows: [] as { lag: number | null }[] }));
    if (rows[0]) this.set(rows[0].lag ?? 0);
  },
});

countGauge(
  'outbox_relay_quarantined_rows',
  'Outbox rows the relay set aside as too large to send and nobody resolved yet (relay_quarantine): not on Kafka',
  () => sql<{ n: number }>`select count(*)::int as n from relay_quarantine where resolved_at is null`,
);

/**
 * The relay's replication slots: what relay_progress names, joined with pg_replication_slots, so a
 * slot that is gone shows as "missing".
 */
interface SlotRow {
  slot: string;
  active: boolean;
  status: string;
  retained: string | null;
  safe: string | null;
}
const SLOT_STATUSES = ['reserved', 'extended', 'unreserved', 'lost', 'missing'] as const;
let slotsReading: Promise<SlotRow[]> | undefined;
/** The four gauges collect together on a scrape: they share the one query in flight. */
function readSlots(db: Db): Promise<SlotRow[]> {
  slotsReading ??= sql<SlotRow>`
    select p.slot_name as slot, coalesce(s.active, false) as active,
           case when s.slot_name is null then 'missing'
                -- invalidation_reason (Postgres 17+) also covers idle_replication_slot_timeout
                when to_jsonb(s) ->> 'invalidation_reason' is not null then 'lost'
                else s.wal_status end as status,
           pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::text as retained,
           s.safe_wal_size::text as safe
      from relay_progress p left join pg_replication_slots s on s.slot_name = p.slot_name`
    .execute(db)
    .then((r) => r.rows)
    .catch(() => [])
    .finally(() => {
      slotsReading = undefined;
    });
  return slotsReading;
}
function slotGauge(
  name: string,
  help: string,
  labelNames: string[],
  set: (gauge: client.Gauge<string>, row: SlotRow) => void,
) {
  new client.Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    async collect() {
      if (!gaugeDb) return;
      const rows = await readSlots(gaugeDb);
      this.reset();
      for (const row of rows) set(this, row);
    },
  });
}

slotGauge(
  'outbox_relay_slot_retained_wal_bytes',
  'WAL the relay slot keeps on disk (current WAL position - restart_lsn); none once the slot is lost',
  ['slot'],
  (g, row) => {
    if (row.retained !== null) g.set({ slot: row.slot }, Number(row.retained));
  },
);
slotGauge(
  'outbox_relay_slot_safe_wal_bytes',
  'WAL that can still be written before Postgres invalidates the relay slot (safe_wal_size, max_slot_wal_keep_size)',
  ['slot'],
  (g, row) => {
    if (row.safe !== null) g.set({ slot: row.slot }, Number(row.safe));
  },
);
slotGauge('outbox_relay_slot_active', '1 while a relay streams from the slot', ['slot'], (g, row) =>
  g.set({ slot: row.slot }, row.active ? 1 : 0),
);
slotGauge(
  'outbox_relay_slot_wal_status',
  "The relay slot's wal_status (1 for the current one): reserved, extended, unreserved (lost at the next checkpoint), lost (invalidated), missing",
  ['slot', 'status'],
  (g, row) => {
    for (const status of SLOT_STATUSES) g.set({ slot: row.slot, status }, row.status === status ? 1 : 0);
  },
);

new client.Gauge({
  name: 'audit_discrepancies',
  help: 'Discrepancies found by the latest scheduled consistency check (audit_runs)',
  registers: [registry],
  async collect() {
    if (!gaugeDb) return;
    const { rows } = await sql<{
      n: number;
    }>`select discrepancies as n from audit_runs order by id desc limit 1`
      .execute(gaugeDb)
      .catch(() => ({ rows: [] as { n: number }[] }));
    this.set(rows[0]?.n ?? 0);
  },
});

new client.Gauge({
  name: 'gateway_attempts_unknown',
  help: 'Charge attempts whose outcome is not known yet (their payments wait in PROCESSING), by provider',
  labelNames: ['provider'] as const,
  registers: [registry],
  async collect() {
    if (!gaugeDb) return;
    const { rows } = await sql<{ provider: string; n: number }>`
      select p.provider, count(a.id)::int as n from (values ('alpha'), ('beta')) p(provider)
        left join charge_attempts a on a.provider = p.provider and a.status = 'unknown'
       group by p.provider`
      .execute(gaugeDb)
      .catch(() => ({ rows: [] as { provider: string; n: number }[] }));
    for (const row of rows) this.set({ provider: row.provider }, row.n);
  },
});

countGauge(
  'gateway_stray_charges_open',
  'Charges that took money no payment keeps and are not refunded at the gateway yet',
  () => sql<{ n: number }>`
    select count(*)::int as n from charge_attempts where stray_detected_at is not null and stray_refund_id is null`,
);

countGauge(
  'gateway_reconciliation_discrepancies',
  'Open differences between what the gateway reports and our records (gateway_reconciliation_differences)',
  () =>
    sql<{
      n: number;
    }>`select count(*)::int as n from gateway_reconciliation_differences where resolved_at is null`,
);

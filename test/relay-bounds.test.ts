import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConsumedMessage, consumeUntil, versionsByKey } from './helpers/kafka.ts';
import { type RoleProcess, waitFor } from './helpers/processes.ts';
import { startSystem, type TestSystem } from './helpers/system.ts';

/**
 * The relay's sends are bounded (rows and bytes), split only between transactions (or inside one
 * transaction too large for a send, acknowledged after its last row), and a row too large to send
 * is set aside instead of stopping the stream. The broker refuses requests over 1 MB (Kafka's
 * default message.max.bytes): mokapi has no such limit, so a proxy enforces it (see
 * startSizeLimitedProxy); mokapi's own limit, no record over 64 KiB, applies behind it.
 */
const BROKER_LIMIT = 1_048_576;

let system: TestSystem;
let relay: RoleProcess;
let relayMetricsPort: number;
/** Stops the running relay; `start` starts another, with its metrics on a known port. */
async function stopRelay() {
  await Promise.all(system.relays.map((r) => r.kill('SIGTERM')));
}
async function startRelay() {
  relay = await system.startRelay();
  relayMetricsPort = await relay.listening('metrics');
}
beforeAll(async () => {
  system = await startSystem({}, { workers: 0, relays: 1, kafkaMaxRequestBytes: BROKER_LIMIT });
  await waitFor('the first relay to create its slot', async () => {
    const row = await system.database.db
      .selectFrom('relay_progress')
      .select('backfill_completed_at')
      .executeTakeFirst();
    return row?.backfill_completed_at ?? undefined;
  });
  await stopRelay();
  await startRelay();
});
afterAll(async () => {
  await system?.close();
});

/** Deposits written straight through event__append: versions `from`..`to` of each aggregate, one transaction. */
async function appendDeposits(aggregates: string[], from: number, to: number, reference = 'backlog') {
  const ids = aggregates.map((a) => `'${a}'`).join(',');
  await sql
    .raw(`DO $$
    DECLARE a uuid; v int;
    BEGIN
      FOR v IN ${from}..${to} LOOP
        FOREACH a IN ARRAY ARRAY[${ids}]::uuid[] LOOP
          PERFORM event__append(gen_random_uuid(), 'wallet', a, v - 1, 'wallet.deposited',
            jsonb_build_object('entry_id', gen_random_uuid(), 'amount', 1, 'currency', 'USD',
                               'balance_after', v, 'reference', '${reference}'),
            'bounds-test');
        END LOOP;
      END LOOP;
    END $$`)
    .execute(system.database.db);
}

const insertLsn = async () =>
  (await sql<{ lsn: string }>`select pg_current_wal_insert_lsn()::text as lsn`.execute(system.database.db))
    .rows[0]?.lsn as string;

const slotConfirmedPast = (lsn: string) => async () =>
  (
    await sql<{ past: boolean }>`
      select confirmed_flush_lsn >= ${lsn}::pg_lsn as past from pg_replication_slots
       where slot_name = ${system.env.RELAY_SLOT_NAME}`.execute(system.database.db)
  ).rows[0]?.past;

/** A failed wait says what the broker limit and the relay saw. */
const explain = (err: Error): never => {
  throw new Error(
    `${err.message}\nrequests the broker limit refused: ${system.brokerLimit?.refused()}\nrelay log (tail): ${relay.output().slice(-1500)}`,
  );
};

const metricsOf = async (url: string) => (await fetch(url)).text();

describe('relay batches with bounds', () => {
  it('relays a backlog of 6,000 rows through a broker that refuses requests over 1 MB, in per-key order', async () => {
    await stopRelay();

    // While the relay is down: 100 transactions of 30 rows, then one transaction of 3,000 rows
    // (about 1.3 MB alone): 6,000 rows, versions 1..200 of 30 aggregates.
    const aggregates = Array.from({ length: 30 }, () => crypto.randomUUID());
    for (let v = 1; v <= 100; v++) await appendDeposits(aggregates, v, v);
    await appendDeposits(aggregates, 101, 200);
    const end = await insertLsn();

    await startRelay();

    // This test's rows only: other tests append with the same trace id, in whatever order they run.
    const ours = new Set<string>(aggregates);
    const backlog = (ms: ConsumedMessage[]) => ms.filter((m) => ours.has(m.key));
    const messages = backlog(
      await consumeUntil(
        system.brokers as string,
        (ms) => new Set(backlog(ms).map((m) => m.value.event_id)).size >= 6000,
        120_000,
      ).catch(explain),
    );
    expect(new Set(messages.map((m) => m.value.event_id)).size).toBe(6000);
    const versions = versionsByKey(messages);
    const expected = Array.from({ length: 200 }, (_, i) => i + 1);
    for (const aggregate of aggregates) expect(versions.get(aggregate), aggregate).toEqual(expected);

    await waitFor('the slot to be confirmed past the backlog', slotConfirmedPast(end));
    expect(system.brokerLimit?.refused()).toBe(0);
  }, 180_000);

  it('sets aside a row too large for the broker, records and counts it, and relays what follows', async () => {
    const big = crypto.randomUUID();
    const after = crypto.randomUUID();
    // 100 kB: more than mokapi stores in one record (it never answers such a produce request).
    await appendDeposits([big], 1, 1, 'x'.repeat(100_000));
    await appendDeposits([after], 1, 1);
    const end = await insertLsn();

    const messages = await consumeUntil(
      system.brokers as string,
      (ms) => ms.some((m) => m.key === after),
      60_000,
    ).catch(explain);
    expect(messages.some((m) => m.key === big)).toBe(false);
    await waitFor('the slot to be confirmed past both rows', slotConfirmedPast(end));

    const { rows } = await sql<{
      outbox_id: string;
      event_id: string;
      topic: string;
      key: string;
      size_bytes: number;
      reason: string;
      quarantined_at: Date;
      resolved_at: Date | null;
    }>`select q.*, o.id::text as outbox_id from relay_quarantine q join outbox o on o.id = q.outbox_id`.execute(
      system.database.db,
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      topic: 'wallets.events',
      key: big,
      reason: 'message_too_large',
      resolved_at: null,
    });
    expect(rows[0]?.size_bytes).toBeGreaterThan(100_000);

    expect(await metricsOf(`http://127.0.0.1:${relayMetricsPort}/metrics`)).toMatch(
      /^outbox_relay_quarantined_total\{[^}]*reason="message_too_large"[^}]*\} 1$/m,
    );
    expect(await metricsOf(`${system.api.baseUrl}/metrics`)).toMatch(
      /^outbox_relay_quarantined_rows(\{[^}]*\})? 1$/m,
    );
    const audit = await sql<{
      details: Record<string, number>;
    }>`select details from audit__run()`.execute(system.database.db);
    expect(audit.rows[0]?.details.relay_quarantine).toBe(1);
    expect(relay.output()).toMatch(/set aside/);

    // The runbook's way out: accept it (with a reason), and the gauge and the audit are clear.
    const id = (await sql<{ id: string }>`select id::text from relay_quarantine`.execute(system.database.db))
      .rows[0]?.id;
    await expect(
      sql`select relay_quarantine__resolve(${id}::bigint, 'accepted')`.execute(system.database.db),
    ).rejects.toMatchObject({ code: 'WP011' });
    await sql`select relay_quarantine__resolve(${id}::bigint, 'accepted', 'test: too large by design')`.execute(
      system.database.db,
    );
    expect(await metricsOf(`${system.api.baseUrl}/metrics`)).toMatch(
      /^outbox_relay_quarantined_rows(\{[^}]*\})? 0$/m,
    );
    const clean = await sql<{ details: Record<string, number> }>`select details from audit__run()`.execute(
      system.database.db,
    );
    expect(clean.rows[0]?.details.relay_quarantine).toBe(0);
  }, 120_000);
});

import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paymentEventsQuery } from '../app/payments/payment.repository.ts';
import { TEST_OWNER } from './helpers/app.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { makeWallet } from './helpers/factories.ts';

/**
 * The API's reads by id must read that id's rows, not the table: with an event store of tens of
 * thousands of rows, EXPLAIN ANALYZE counts every row each scan of `events` touched (returned or
 * filtered away), whatever plan the planner picks.
 */
let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database.drop();
});

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  Plans?: PlanNode[];
}

function scansOf(node: PlanNode, relation: string): PlanNode[] {
  const own = node['Relation Name'] === relation ? [node] : [];
  return [...own, ...(node.Plans ?? []).flatMap((child) => scansOf(child, relation))];
}

const rowsTouched = (scan: PlanNode) =>
  (scan['Actual Rows'] ?? 0) * (scan['Actual Loops'] ?? 1) +
  (scan['Rows Removed by Filter'] ?? 0) +
  (scan['Rows Removed by Index Recheck'] ?? 0);

describe('GET /payments/:id/events', () => {
  it('reads only the payment’s events and the wallet events it caused, among 25,000 others', async () => {
    const { db } = database;
    // Noise: 20,000 wallet events caused by 20,000 other payments, and 5,000 payment events.
    await sql`insert into events (event_id, aggregate_type, aggregate_id, version, event_type, data, trace_id)
              select gen_random_uuid(), 'wallet', w.id, v, 'wallet.debited',
                     jsonb_build_object('payment_id', gen_random_uuid()::text, 'amount', 1), 'noise'
                from (select gen_random_uuid() as id from generate_series(1, 2000)) w,
                     generate_series(1, 10) v`.execute(db);
    await sql`insert into events (event_id, aggregate_type, aggregate_id, version, event_type, data, trace_id)
              select gen_random_uuid(), 'payment', gen_random_uuid(), 1, 'payment.requested', '{}'::jsonb, 'noise'
                from generate_series(1, 5000)`.execute(db);
    // The payment: three events of its own, two on its wallet (after its wallet.created).
    const paymentId = randomUUID();
    const walletId = (await makeWallet(database)).id;
    await sql`insert into payments (id, wallet_id, owner_id, service_id, amount, currency, status, saga_step, version, trace_id)
              values (${paymentId}::uuid, ${walletId}::uuid, ${TEST_OWNER}, 's', 1, 'USD', 'PENDING', 'requested', 3, 't')`.execute(
      db,
    );
    for (const [version, type] of ['payment.requested', 'payment.fraud_checked', 'payment.debited'].entries())
      await sql`insert into events (event_id, aggregate_type, aggregate_id, version, event_type, data, trace_id)
                values (gen_random_uuid(), 'payment', ${paymentId}::uuid, ${version + 1}, ${type}, '{}'::jsonb, 't')`.execute(
        db,
      );
    for (const [version, type] of ['wallet.debited', 'wallet.debit_reversed'].entries())
      await sql`insert into events (event_id, aggregate_type, aggregate_id, version, event_type, data, trace_id)
                values (gen_random_uuid(), 'wallet', ${walletId}::uuid, ${version + 2}, ${type},
                        jsonb_build_object('payment_id', ${paymentId}::text), 't')`.execute(db);
    await sql`analyze events`.execute(db);

    // Another owner reads nothing of it, as if it did not exist.
    expect((await paymentEventsQuery('someone-else', paymentId).execute(db)).rows).toEqual([]);
    const { rows } = await paymentEventsQuery(TEST_OWNER, paymentId).execute(db);
    expect(rows.map((r) => (r.envelope as { event_type: string }).event_type)).toEqual([
      'payment.requested',
      'payment.fraud_checked',
      'payment.debited',
      'wallet.debited',
      'wallet.debit_reversed',
    ]);

    const explained = await sql<{
      'QUERY PLAN': Array<{ Plan: PlanNode }>;
    }>`explain (analyze, format json) ${paymentEventsQuery(TEST_OWNER, paymentId)}`.execute(db);
    const plan = explained.rows[0]?.['QUERY PLAN'][0]?.Plan as PlanNode;
    const scans = scansOf(plan, 'events');
    expect(scans.map((s) => s['Node Type'])).not.toContain('Seq Scan');
    const touched = scans.reduce((sum, s) => sum + rowsTouched(s), 0);
    expect(touched, JSON.stringify(plan, null, 1)).toBeLessThanOrEqual(10);
  });
});

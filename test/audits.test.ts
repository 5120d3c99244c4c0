import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestPayment } from '../app/payments/payment.commands.ts';
import { depositToWallet } from '../app/wallets/wallet.commands.ts';
import { TEST_OWNER } from './helpers/app.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { makePayment, makeWallet } from './helpers/factories.ts';

/**
 * The audit and replay functions, on a real database: clean data passes, and each kind of damage
 * an operator could meet is reported by the function meant to find it.
 */
let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database.drop();
});

const rows = async <T>(query: ReturnType<typeof sql<T>>) => (await query.execute(database.db)).rows;

/** Damage bypassing the append-only guards, as a buggy migration or a manual UPDATE could. */
async function tamper(statement: string) {
  await database.db.transaction().execute(async (trx) => {
    await sql`set local session_replication_role = replica`.execute(trx); // skips triggers
    await sql.raw(statement).execute(trx);
  });
}

describe('audits and replay', () => {
  it('finds nothing wrong in consistent data', async () => {
    await makeWallet(database, { balance: 5000 });
    expect(await rows(sql`select * from audit__wallet_balances()`)).toEqual([]);
    expect(
      (await rows(sql<{ ok: boolean }>`select * from audit__money_conservation()`)).every((r) => r.ok),
    ).toBe(true);
    expect(await rows(sql`select * from audit__payment_status()`)).toEqual([]);
    expect(await rows(sql`select * from audit__outbox()`)).toEqual([]);
    expect(await rows(sql`select * from replay__verify()`)).toEqual([]);
    const [run] = await rows(sql<{ discrepancies: number }>`select * from audit__run()`);
    expect(run?.discrepancies).toBe(0);
  });

  it('reports a wallet whose balance drifted from its ledger and events, and repairs it with a logged reason', async () => {
    const wallet = await makeWallet(database, { balance: 1000 });
    await tamper(`update wallets set balance = 1234 where id = '${wallet.id}'`);

    const [drift] = await rows(sql<{
      wallet_id: string;
      balance: number;
      ledger_sum: string;
      event_balance: number;
    }>`
      select * from audit__wallet_balances() where wallet_id = ${wallet.id}::uuid`);
    expect(drift).toMatchObject({ balance: 1234, event_balance: 1000 });
    expect(Number(drift?.ledger_sum)).toBe(1000);
    const conservation = await rows(
      sql<{ check_name: string; ok: boolean }>`select * from audit__money_conservation()`,
    );
    expect(conservation.find((c) => c.check_name.startsWith('balances'))?.ok).toBe(false);

    const diff = await rows(sql`select field, live, replayed from replay__verify(${wallet.id}::uuid)`);
    expect(diff).toEqual([{ field: 'balance', live: '1234', replayed: '1000' }]);
    expect(
      (await rows(sql<{ balance: number }>`select balance from wallets where id = ${wallet.id}::uuid`))[0]
        ?.balance,
    ).toBe(1234); // dry run

    await expect(
      sql`select replay__repair('', ${wallet.id}::uuid)`.execute(database.db),
    ).rejects.toMatchObject({ code: 'WP005' });
    const [repaired] = await rows(
      sql<{ n: number }>`select replay__repair('test: balance drift', ${wallet.id}::uuid) as n`,
    );
    expect(repaired?.n).toBe(1);
    expect(await rows(sql`select * from audit__wallet_balances()`)).toEqual([]);
    const log = await rows(
      sql`select reason, field, live_value, replayed_value from replay_repairs where aggregate_id = ${wallet.id}::uuid`,
    );
    expect(log).toEqual([
      { reason: 'test: balance drift', field: 'balance', live_value: '1234', replayed_value: '1000' },
    ]);
  });

  it('reports an event without its outbox row, and an outbox row without its event', async () => {
    const wallet = await makeWallet(database);
    await tamper(`delete from outbox where key = '${wallet.id}'`);
    const missing = await rows(sql<{ problem: string }>`select * from audit__outbox()`);
    expect(missing.map((m) => m.problem)).toEqual(['event without outbox row']);
    await tamper(`insert into outbox (event_id, topic, key, event_type, headers, payload)
                  select event_id, 'wallets.events', aggregate_id::text, event_type, '{}', '{}' from events where aggregate_id = '${wallet.id}'`);
    await tamper(`delete from events where aggregate_id = '${wallet.id}'`);
    const orphan = await rows(sql<{ problem: string }>`select * from audit__outbox()`);
    expect(orphan.map((m) => m.problem)).toContain('outbox row without event');
    // And the wallet no longer replays: the replay says its row is missing on the event side.
    const diff = await rows(
      sql<{ field: string; replayed: string }>`select * from replay__verify(${wallet.id}::uuid)`,
    );
    expect(diff).toContainEqual(expect.objectContaining({ field: 'row', replayed: '(missing)' }));
    await tamper(`delete from outbox where key = '${wallet.id}'`);
    await tamper(`delete from wallets where id = '${wallet.id}'`);
  });

  it('stores each scheduled run with its discrepancy count', async () => {
    const wallet = await makeWallet(database, { balance: 10 });
    await tamper(`update wallets set balance = 11 where id = '${wallet.id}'`);
    const [run] =
      await rows(sql<{ discrepancies: number; details: Record<string, number> }>`select * from audit__run()`);
    expect(run?.details.wallet_balances).toBe(1);
    expect(run?.discrepancies).toBeGreaterThanOrEqual(2); // the wallet, and the conservation check
    await sql`select replay__repair('test cleanup')`.execute(database.db);
  });

  it('reports a payment whose status disagrees with its event stream', async () => {
    const wallet = await makeWallet(database, { balance: 100 });
    const payment = await database.db.transaction().execute((trx) =>
      requestPayment(
        trx,
        {
          ownerId: TEST_OWNER,
          walletId: wallet.id,
          serviceId: 's',
          amount: 50,
          currency: 'USD',
          description: null,
          metadata: {},
          traceId: 't',
        },
        {
          jobMaxAttempts: 1,
          webhookDeadlineSeconds: 1,
          unknownRetryMaxSeconds: 60,
          chargeBackstopSeconds: 30,
        },
      ),
    );
    expect(await rows(sql`select * from audit__payment_status()`)).toEqual([]);
    await tamper(
      `update payments set status = 'COMPLETED', saga_step = 'completed' where id = '${payment.id}'`,
    );
    const [wrong] = await rows(
      sql`select payment_id, live_status, event_status from audit__payment_status()`,
    );
    expect(wrong).toEqual({ payment_id: payment.id, live_status: 'COMPLETED', event_status: 'PENDING' });
    await sql`select replay__repair('test: status drift', ${payment.id}::uuid)`.execute(database.db);
    expect(await rows(sql`select * from audit__payment_status()`)).toEqual([]);
  });
});

describe('the incremental audit (the scheduled one)', () => {
  type Run = { kind: string; through_position: string; flagged: { wallets: string[]; payments: string[] } };
  const incremental = async () => (await rows(sql<Run>`select * from audit__run_incremental()`))[0] as Run;
  const full = async () => (await rows(sql<Run>`select * from audit__run()`))[0] as Run;
  // An incremental run starts from a run at least five minutes old: age the runs so far.
  const age = () => sql`update audit_runs set ran_at = ran_at - interval '10 minutes'`.execute(database.db);

  it('runs the full audit instead when no earlier run is old enough to start from', async () => {
    await sql`delete from audit_runs`.execute(database.db);
    expect((await incremental()).kind).toBe('full');
    expect((await incremental()).kind).toBe('full');
    await age();
    expect((await incremental()).kind).toBe('incremental');
  });

  it('checks what has events since, keeps reporting what is still wrong, and leaves a change with no event to the full audit', async () => {
    const moved = await makeWallet(database, { balance: 1000 });
    const silent = await makeWallet(database, { balance: 1000 });
    const start = await full();
    await age();

    // Damaged, then moved: the deposit's event brings the wallet into the next incremental run.
    await tamper(`update wallets set balance = balance + 1 where id = '${moved.id}'`);
    await database.db.transaction().execute((trx) =>
      depositToWallet(trx, {
        walletId: moved.id,
        amount: 100,
        reference: 'test',
        sourceRef: `deposit:${moved.id}:incremental`,
        traceId: 'test-trace',
      }),
    );
    // Damaged with no event: the incremental audit cannot see it.
    await tamper(`update wallets set balance = balance + 1 where id = '${silent.id}'`);
    const first = await incremental();
    expect(first.kind).toBe('incremental');
    expect(Number(first.through_position)).toBeGreaterThan(Number(start.through_position));
    expect(first.flagged.wallets).toContain(moved.id);
    expect(first.flagged.wallets).not.toContain(silent.id);

    // No new event for it, still wrong: still reported.
    await age();
    expect((await incremental()).flagged.wallets).toContain(moved.id);
    // The full audit finds both; from then on the incremental runs check both again.
    const everything = await full();
    expect(everything.flagged.wallets).toEqual(expect.arrayContaining([moved.id, silent.id]));
    await age();
    expect((await incremental()).flagged.wallets).toEqual(expect.arrayContaining([moved.id, silent.id]));

    // Repaired: reported no more.
    await tamper(`update wallets set balance = balance - 1 where id in ('${moved.id}', '${silent.id}')`);
    await age();
    const repaired = await incremental();
    expect(repaired.kind).toBe('incremental');
    expect(repaired.flagged.wallets).not.toContain(moved.id);
    expect(repaired.flagged.wallets).not.toContain(silent.id);
  });

  it('finds a payment whose ledger or status disagrees with it, among the payments it is given', async () => {
    const wallet = await makeWallet(database, { balance: 1000 });
    const payment = await makePayment(database, wallet.id);
    const check = () =>
      rows(sql<{ check_name: string; aggregate_id: string }>`
        select * from audit__aggregates(array[${wallet.id}]::uuid[], array[${payment.id}]::uuid[])`);
    expect(await check()).toEqual([]);
    // Past the debit step with no debit in the ledger: money that never moved.
    await tamper(
      `update payments set saga_step = 'debited', status = 'PROCESSING' where id = '${payment.id}'`,
    );
    expect(await check()).toEqual([
      { check_name: 'money_conservation', aggregate_id: payment.id },
      { check_name: 'payment_status', aggregate_id: payment.id },
    ]);
  });
});

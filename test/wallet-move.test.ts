import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LedgerEntryType } from '../app/db/types.ts';
import { BalanceLimitExceeded } from '../app/wallets/wallet.balance.ts';
import { moveWalletMoney } from '../app/wallets/wallet.money.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { makeWallet } from './helpers/factories.ts';

/**
 * The arithmetic of a money movement, done by wallet__move (db/functions/wallet__move.sql) under
 * the wallet's lock: the signed amount, the balance after it, the funds check and the limit.
 */
let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.drop();
});

const MAX = Number.MAX_SAFE_INTEGER;
const paymentId = '0b7e6f5a-1c2d-4e3f-8a9b-0c1d2e3f4a5b';
let seq = 0;

/** One movement on a wallet holding `balance`, as the saga, a deposit or a refund would make it. */
async function move(balance: number, type: LedgerEntryType, amount: number) {
  const wallet = await makeWallet(database, { balance });
  const n = seq++;
  const eventType = {
    DEPOSIT: 'wallet.deposited',
    PAYMENT_DEBIT: 'wallet.debited',
    PAYMENT_REVERSAL: 'wallet.debit_reversed',
    REFUND: 'wallet.refund_credited',
  }[type] as 'wallet.deposited';
  // The payment-side movements name a payment; the ledger's foreign key wants it to exist.
  const payment = type === 'DEPOSIT' ? null : await aPayment(wallet.id);
  const eventData =
    type === 'DEPOSIT'
      ? { amount, reference: null }
      : type === 'REFUND'
        ? { payment_id: payment, refund_id: paymentId, amount }
        : { payment_id: payment, amount };
  const result = await database.db.transaction().execute((trx) =>
    moveWalletMoney(trx, {
      walletId: wallet.id,
      entryType: type,
      amount,
      paymentId: payment,
      sourceRef: `test:${n}`,
      reference: null,
      traceId: 'test-trace',
      eventType,
      eventData: eventData as never,
    }),
  );
  return { wallet, result };
}

async function aPayment(walletId: string): Promise<string> {
  const { rows } = await database.pool.query<{ id: string }>(
    `insert into payments (id, wallet_id, owner_id, service_id, amount, currency, status, saga_step, version, trace_id)
     select gen_random_uuid(), id, owner_id, 's', 1, currency, 'PENDING', 'requested', 1, 't' from wallets where id = $1
     returning id`,
    [walletId],
  );
  return rows[0]?.id as string;
}

const outcome = (r: Awaited<ReturnType<typeof move>>['result']) =>
  r.ok
    ? { ok: true, signed: r.entry.amount, balanceAfter: r.entry.balance_after, balance: r.wallet.balance }
    : { ok: false, reason: r.reason };

describe('wallet__move', () => {
  it('credits deposits, reversals and refunds and debits payments, with the signed ledger amount', async () => {
    expect(outcome((await move(100, 'DEPOSIT', 30)).result)).toEqual({
      ok: true,
      signed: 30,
      balanceAfter: 130,
      balance: 130,
    });
    for (const type of ['PAYMENT_REVERSAL', 'REFUND'] as const)
      expect(outcome((await move(100, type, 30)).result)).toMatchObject({ signed: 30, balanceAfter: 130 });
    expect(outcome((await move(100, 'PAYMENT_DEBIT', 30)).result)).toMatchObject({
      signed: -30,
      balanceAfter: 70,
    });
  });

  it('lets a debit take the balance to exactly 0 and refuses one a unit more as INSUFFICIENT_FUNDS, writing nothing', async () => {
    expect(outcome((await move(100, 'PAYMENT_DEBIT', 100)).result)).toMatchObject({
      ok: true,
      balanceAfter: 0,
    });
    const { wallet, result } = await move(100, 'PAYMENT_DEBIT', 101);
    expect(outcome(result)).toEqual({ ok: false, reason: 'INSUFFICIENT_FUNDS' });
    // Only the factory's deposit: no entry, no event for the refused debit.
    const { rows } = await database.pool.query<{ entries: number; events: number }>(
      `select (select count(*)::int from ledger_entries where wallet_id = $1) as entries,
              (select count(*)::int from events where aggregate_id = $1) as events`,
      [wallet.id],
    );
    expect(rows[0]).toEqual({ entries: 1, events: 2 });
    expect(result.wallet).toMatchObject({ id: wallet.id, balance: 100, version: wallet.version });
  });

  it('credits up to exactly Number.MAX_SAFE_INTEGER and refuses a unit more with BALANCE_LIMIT_EXCEEDED', async () => {
    expect(outcome((await move(MAX - 5, 'DEPOSIT', 5)).result)).toMatchObject({ balanceAfter: MAX });
    await expect(move(MAX - 5, 'DEPOSIT', 6)).rejects.toBeInstanceOf(BalanceLimitExceeded);
    await expect(move(MAX - 1, 'REFUND', 2)).rejects.toThrow(
      expect.objectContaining({ status: 422, code: 'BALANCE_LIMIT_EXCEEDED' }),
    );
  });

  it('moves exactly amount, signed by the entry type, refusing only a debit past the balance (property)', async () => {
    const types: LedgerEntryType[] = ['DEPOSIT', 'PAYMENT_DEBIT', 'PAYMENT_REVERSAL', 'REFUND'];
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 1e15 }),
        fc.constantFrom(...types),
        fc.integer({ min: 1, max: 1e12 }),
        async (balance, type, amount) => {
          const signed = type === 'PAYMENT_DEBIT' ? -amount : amount;
          const expected =
            balance + signed < 0
              ? { ok: false, reason: 'INSUFFICIENT_FUNDS' }
              : { ok: true, signed, balanceAfter: balance + signed, balance: balance + signed };
          expect(outcome((await move(balance, type, amount)).result)).toEqual(expected);
        },
      ),
      { numRuns: 40 },
    );
  });
});

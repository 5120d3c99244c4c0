import type { Database } from '../../app/db/database.ts';
import { requestPayment } from '../../app/payments/payment.commands.ts';
import type { PaymentRow } from '../../app/payments/payment.repository.ts';
import { createWallet, depositToWallet } from '../../app/wallets/wallet.commands.ts';
import type { WalletRow } from '../../app/wallets/wallet.repository.ts';
import { TEST_OWNER } from './app.ts';

/** Real rows through the real commands, with sparse overrides. */
export async function makeWallet(
  database: Database,
  overrides: { ownerId?: string; currency?: string; balance?: number } = {},
): Promise<WalletRow> {
  return database.db.transaction().execute(async (trx) => {
    const wallet = await createWallet(trx, {
      ownerId: overrides.ownerId ?? TEST_OWNER,
      currency: overrides.currency ?? 'USD',
      traceId: 'test-trace',
    });
    if (!overrides.balance) return wallet;
    const { wallet: funded } = await depositToWallet(trx, {
      walletId: wallet.id,
      amount: overrides.balance,
      reference: 'factory',
      sourceRef: `deposit:${wallet.id}:factory`,
      traceId: 'test-trace',
    });
    return funded;
  });
}

/** Everything a command could have changed about a wallet, to assert that nothing did. */
export async function walletFootprint(database: Database, walletId: string) {
  const { db } = database;
  const wallet = await db
    .selectFrom('wallets')
    .select(['balance', 'version', 'updated_at'])
    .where('id', '=', walletId)
    .executeTakeFirst();
  const count = async (
    table: 'ledger_entries' | 'events' | 'outbox' | 'idempotency_keys' | 'payments' | 'refunds',
  ) =>
    Number(
      (
        await db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  return {
    wallet,
    ledgerEntries: await count('ledger_entries'),
    events: await count('events'),
    outbox: await count('outbox'),
    idempotencyKeys: await count('idempotency_keys'),
    payments: await count('payments'),
    refunds: await count('refunds'),
  };
}

/** A PENDING payment of `amount` from the wallet, through the real command (its first job enqueued). */
export async function makePayment(
  database: Database,
  walletId: string,
  overrides: { amount?: number; traceId?: string } = {},
): Promise<PaymentRow> {
  return database.db.transaction().execute((trx) =>
    requestPayment(
      trx,
      {
        ownerId: TEST_OWNER,
        walletId,
        serviceId: 'svc',
        amount: overrides.amount ?? 100,
        currency: 'USD',
        description: null,
        metadata: {},
        traceId: overrides.traceId ?? 'test-trace',
      },
      {
        jobMaxAttempts: 5,
        webhookDeadlineSeconds: 30,
        unknownRetryMaxSeconds: 60,
        chargeBackstopSeconds: 30,
      },
    ),
  );
}

import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Trx } from '../db/database.ts';
import { AppError, WalletNotFound } from '../errors.ts';
import { jobSpec, validEventData } from '../events/record-event.ts';
import { findOwnedWallet } from '../wallets/wallet.repository.ts';
import type { PaymentRow } from './payment.repository.ts';
import { type SagaOptions, stepJob } from './saga-definition.ts';

export class CurrencyMismatch extends AppError {
  constructor(walletCurrency: string, currency: string) {
    super(
      422,
      'CURRENCY_MISMATCH',
      'Currency mismatch',
      `The wallet holds ${walletCurrency}; a payment in ${currency} cannot be paid from it.`,
    );
  }
}

export interface PaymentRequest {
  /** The caller's owner: only a wallet of theirs can pay. */
  ownerId: string;
  walletId: string;
  serviceId: string;
  amount: number;
  currency: string;
  description: string | null;
  metadata: Record<string, string>;
  traceId: string;
}

/**
 * Creates a PENDING payment with payment.requested and enqueues its first step, on `trx`, in one
 * round trip (db/functions/payment__create.sql). Nothing is debited here: the saga's steps do that.
 * Throws WalletNotFound, CurrencyMismatch.
 */
export async function requestPayment(
  trx: Trx,
  input: PaymentRequest,
  opts: SagaOptions,
): Promise<PaymentRow> {
  const wallet = await findOwnedWallet(trx, input.ownerId, input.walletId);
  if (!wallet) throw new WalletNotFound(input.walletId);
  if (wallet.currency !== input.currency) throw new CurrencyMismatch(wallet.currency, input.currency);

  const id = randomUUID();
  const requested = {
    wallet_id: wallet.id,
    service_id: input.serviceId,
    amount: input.amount,
    currency: input.currency,
    method: 'balance' as const,
    description: input.description,
    metadata: input.metadata,
  };
  const row = { ...requested, id, owner_id: wallet.owner_id, trace_id: input.traceId };
  const event = {
    event_id: randomUUID(),
    type: 'payment.requested',
    data: validEventData('payment.requested', requested),
    job: jobSpec(stepJob('requested', id, opts)),
  };
  const { rows } = await sql<PaymentRow>`
    select * from payment__create(${JSON.stringify(row)}::jsonb, ${JSON.stringify(event)}::jsonb)`.execute(
    trx,
  );
  const payment = rows[0];
  if (!payment) throw new Error('payment__create returned no row');
  return payment;
}

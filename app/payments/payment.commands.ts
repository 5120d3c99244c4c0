import { randomUUID } from 'node:crypto';
import type { Trx } from '../db/database.ts';
import { AppError, WalletNotFound } from '../errors.ts';
import { findOwnedWallet } from '../wallets/wallet.repository.ts';
import { changePayment } from './payment.aggregate.ts';
import { insertPayment, type PaymentRow } from './payment.repository.ts';
import { SAGA_TASKS, type SagaOptions, sagaJob } from './saga-jobs.ts';

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
 * Creates a PENDING payment with payment.requested and enqueues the fraud check, on `trx`.
 * Nothing is debited here: the saga's steps do that. Throws WalletNotFound, CurrencyMismatch.
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
  const created = await insertPayment(trx, {
    id,
    wallet_id: wallet.id,
    owner_id: wallet.owner_id,
    service_id: input.serviceId,
    amount: input.amount,
    currency: input.currency,
    method: 'balance',
    description: input.description,
    metadata: input.metadata,
    status: 'PENDING',
    saga_step: 'requested',
    failure_reason: null,
    provider: null,
    // The event below takes the aggregate from version 0 to 1.
    version: 1,
    trace_id: input.traceId,
  });
  const payment = await changePayment(
    trx,
    { ...created, version: 0 },
    [
      {
        type: 'payment.requested',
        data: {
          wallet_id: wallet.id,
          service_id: input.serviceId,
          amount: input.amount,
          currency: input.currency,
          method: 'balance',
          description: input.description,
          metadata: input.metadata,
        },
        next: sagaJob(SAGA_TASKS.fraudCheck, id, opts),
      },
    ],
    {},
    [{ name: 'request', status: 'accepted' }],
  );
  return payment;
}

import { randomUUID } from 'node:crypto';
import type { Trx } from '../db/database.ts';
import { AppError } from '../errors.ts';
import { recordEvent } from '../events/record-event.ts';
import { moveWalletMoney } from './wallet.money.ts';
import {
  findLedgerEntryBySource,
  insertWallet,
  type LedgerEntryRow,
  type WalletRow,
} from './wallet.repository.ts';

/**
 * The deposit's key was used before and its stored response is gone (pruned after
 * IDEMPOTENCY_RETENTION_HOURS), but the deposit it made is in the ledger for good: it is not
 * applied twice, and it cannot be replayed either, since the answer it got is not kept.
 */
export class DepositAlreadyApplied extends AppError {
  constructor(entry: Pick<LedgerEntryRow, 'id' | 'created_at'>) {
    super(
      409,
      'DEPOSIT_ALREADY_APPLIED',
      'Deposit already applied',
      `This Idempotency-Key made ledger entry ${entry.id} at ${entry.created_at.toISOString()}; its stored response has expired, so it cannot be replayed. Send a new Idempotency-Key for a new deposit.`,
    );
  }
}

/** Creates a wallet at version 1 with its wallet.created event. */
export async function createWallet(
  trx: Trx,
  input: { ownerId: string; currency: string; traceId: string },
): Promise<WalletRow> {
  const id = randomUUID();
  const wallet = await insertWallet(trx, {
    id,
    owner_id: input.ownerId,
    currency: input.currency,
    version: 1,
  });
  await recordEvent(trx, {
    type: 'wallet.created',
    aggregateId: id,
    expectedVersion: 0,
    data: { owner_id: input.ownerId, currency: input.currency },
    traceId: input.traceId,
  });
  return wallet;
}

/**
 * Credits a wallet (see moveWalletMoney for the locking). `sourceRef` is unique in the ledger, so
 * the same deposit can never be applied twice even if idempotency were bypassed.
 * Throws WalletNotFound, BalanceLimitExceeded, DepositAlreadyApplied.
 */
export async function depositToWallet(
  trx: Trx,
  input: { walletId: string; amount: number; reference: string | null; sourceRef: string; traceId: string },
): Promise<{ wallet: WalletRow; entry: LedgerEntryRow }> {
  const applied = await findLedgerEntryBySource(trx, input.sourceRef);
  if (applied) throw new DepositAlreadyApplied(applied);
  const result = await moveWalletMoney(trx, {
    walletId: input.walletId,
    entryType: 'DEPOSIT',
    amount: input.amount,
    paymentId: null,
    sourceRef: input.sourceRef,
    reference: input.reference,
    traceId: input.traceId,
    eventType: 'wallet.deposited',
    eventData: { amount: input.amount, reference: input.reference },
  });
  if (!result.ok) throw new Error('a deposit cannot be refused for funds');
  return { wallet: result.wallet, entry: result.entry };
}

import { randomUUID } from 'node:crypto';
import type { Trx } from '../db/database.ts';
import { AppError, WalletNotFound } from '../errors.ts';
import { recordEvent } from '../events/record-event.ts';
import {
  insertLedgerEntry,
  insertWallet,
  type LedgerEntryRow,
  lockWalletById,
  updateWalletBalance,
  type WalletRow,
} from './wallet.repository.ts';

export class BalanceLimitExceeded extends AppError {
  constructor() {
    super(
      422,
      'BALANCE_LIMIT_EXCEEDED',
      'Balance limit exceeded',
      `A wallet balance cannot exceed ${Number.MAX_SAFE_INTEGER} minor units.`,
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
 * Credits a wallet. Locks the wallet row (FOR UPDATE), appends wallet.deposited, writes the
 * DEPOSIT ledger entry and the new balance, all on `trx`. `sourceRef` is unique in the ledger, so
 * the same deposit can never be applied twice even if idempotency were bypassed.
 * Throws WalletNotFound, BalanceLimitExceeded.
 */
export async function depositToWallet(
  trx: Trx,
  input: { walletId: string; amount: number; reference: string | null; sourceRef: string; traceId: string },
): Promise<{ wallet: WalletRow; entry: LedgerEntryRow }> {
  const wallet = await lockWalletById(trx, input.walletId);
  if (!wallet) throw new WalletNotFound(input.walletId);
  const balanceAfter = wallet.balance + input.amount;
  if (!Number.isSafeInteger(balanceAfter)) throw new BalanceLimitExceeded();

  const entryId = randomUUID();
  const event = await recordEvent(trx, {
    type: 'wallet.deposited',
    aggregateId: wallet.id,
    expectedVersion: wallet.version,
    data: {
      entry_id: entryId,
      amount: input.amount,
      currency: wallet.currency,
      balance_after: balanceAfter,
      reference: input.reference,
    },
    traceId: input.traceId,
  });
  const entry = await insertLedgerEntry(trx, {
    id: entryId,
    wallet_id: wallet.id,
    type: 'DEPOSIT',
    amount: input.amount,
    balance_after: balanceAfter,
    payment_id: null,
    source_ref: input.sourceRef,
    reference: input.reference,
    event_id: event.eventId,
  });
  const updated = await updateWalletBalance(trx, wallet.id, balanceAfter, event.version);
  return { wallet: updated, entry };
}

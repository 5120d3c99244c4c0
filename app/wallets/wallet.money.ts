import { randomUUID } from 'node:crypto';
import type { Trx } from '../db/database.ts';
import type { LedgerEntryType } from '../db/types.ts';
import { WalletNotFound } from '../errors.ts';
import type { EventData } from '../events/catalogue.ts';
import { recordEvent } from '../events/record-event.ts';
import { changeBalance } from './wallet.balance.ts';
import {
  insertLedgerEntry,
  type LedgerEntryRow,
  lockWalletById,
  updateWalletBalance,
  type WalletRow,
} from './wallet.repository.ts';

type WalletMoneyEvent =
  | 'wallet.deposited'
  | 'wallet.debited'
  | 'wallet.debit_reversed'
  | 'wallet.refund_credited';

export interface MoneyMovement<T extends WalletMoneyEvent> {
  walletId: string;
  entryType: LedgerEntryType;
  /** Magnitude in minor units; the sign comes from the entry type. */
  amount: number;
  paymentId: string | null;
  /** Unique in the ledger: the same movement can never be applied twice. */
  sourceRef: string;
  reference: string | null;
  traceId: string;
  eventType: T;
  eventData: (ctx: { entryId: string; balanceAfter: number; currency: string }) => EventData<T>;
}

export type MovementResult =
  | { ok: true; wallet: WalletRow; entry: LedgerEntryRow }
  | { ok: false; reason: 'INSUFFICIENT_FUNDS'; wallet: WalletRow };

/**
 * The only way money moves. Locks the wallet row (FOR NO KEY UPDATE: concurrent movements on one wallet
 * queue here), refuses a debit the balance cannot cover (a business outcome, returned, not
 * thrown), then appends the wallet event, the ledger entry and the new balance on `trx`.
 * Throws WalletNotFound, BalanceLimitExceeded.
 */
export async function moveWalletMoney<T extends WalletMoneyEvent>(
  trx: Trx,
  m: MoneyMovement<T>,
): Promise<MovementResult> {
  const wallet = await lockWalletById(trx, m.walletId);
  if (!wallet) throw new WalletNotFound(m.walletId);
  const change = changeBalance(wallet.balance, m.entryType, m.amount);
  if (!change.ok) return { ok: false, reason: change.reason, wallet };
  const { signed, balanceAfter } = change;

  const entryId = randomUUID();
  const event = await recordEvent(trx, {
    type: m.eventType,
    aggregateId: wallet.id,
    expectedVersion: wallet.version,
    data: m.eventData({ entryId, balanceAfter, currency: wallet.currency }),
    traceId: m.traceId,
  });
  const entry = await insertLedgerEntry(trx, {
    id: entryId,
    wallet_id: wallet.id,
    type: m.entryType,
    amount: signed,
    balance_after: balanceAfter,
    payment_id: m.paymentId,
    source_ref: m.sourceRef,
    reference: m.reference,
    event_id: event.eventId,
  });
  const updated = await updateWalletBalance(trx, wallet.id, balanceAfter, event.version);
  return { ok: true, wallet: updated, entry };
}

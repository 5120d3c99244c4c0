import type { LedgerEntryType } from '../db/types.ts';
import { AppError } from '../errors.ts';

/**
 * The arithmetic of a money movement, apart from the locking and writing (wallet.money.ts), so that
 * it can be tested, and mutation-tested, without a database.
 */
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

const SIGN: Record<LedgerEntryType, 1 | -1> = {
  DEPOSIT: 1,
  PAYMENT_DEBIT: -1,
  PAYMENT_REVERSAL: 1,
  REFUND: 1,
};

export type BalanceChange =
  | { ok: true; signed: number; balanceAfter: number }
  | { ok: false; reason: 'INSUFFICIENT_FUNDS' };

/**
 * The ledger amount (signed by the entry type) and the balance after moving `amount` minor units.
 * A debit the balance cannot cover is a business outcome, returned; a balance past
 * Number.MAX_SAFE_INTEGER (where integer arithmetic stops being exact) throws BalanceLimitExceeded.
 */
export function changeBalance(balance: number, entryType: LedgerEntryType, amount: number): BalanceChange {
  const signed = SIGN[entryType] * amount;
  const balanceAfter = balance + signed;
  if (balanceAfter < 0) return { ok: false, reason: 'INSUFFICIENT_FUNDS' };
  if (!Number.isSafeInteger(balanceAfter)) throw new BalanceLimitExceeded();
  return { ok: true, signed, balanceAfter };
}

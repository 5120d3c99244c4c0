import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { LedgerEntryType } from '../../app/db/types.ts';
import { BalanceLimitExceeded, changeBalance } from '../../app/wallets/wallet.balance.ts';

const MAX = Number.MAX_SAFE_INTEGER;

describe('balance arithmetic', () => {
  it('credits deposits, reversals and refunds and debits payments, with the signed ledger amount', () => {
    expect(changeBalance(100, 'DEPOSIT', 30)).toEqual({ ok: true, signed: 30, balanceAfter: 130 });
    expect(changeBalance(100, 'PAYMENT_REVERSAL', 30)).toEqual({ ok: true, signed: 30, balanceAfter: 130 });
    expect(changeBalance(100, 'REFUND', 30)).toEqual({ ok: true, signed: 30, balanceAfter: 130 });
    expect(changeBalance(100, 'PAYMENT_DEBIT', 30)).toEqual({ ok: true, signed: -30, balanceAfter: 70 });
  });

  it('lets a debit take the balance to exactly 0 and refuses one a unit more as INSUFFICIENT_FUNDS', () => {
    expect(changeBalance(100, 'PAYMENT_DEBIT', 100)).toEqual({ ok: true, signed: -100, balanceAfter: 0 });
    expect(changeBalance(100, 'PAYMENT_DEBIT', 101)).toEqual({ ok: false, reason: 'INSUFFICIENT_FUNDS' });
    expect(changeBalance(0, 'PAYMENT_DEBIT', 1)).toEqual({ ok: false, reason: 'INSUFFICIENT_FUNDS' });
  });

  it('credits up to exactly Number.MAX_SAFE_INTEGER and refuses a unit more with BALANCE_LIMIT_EXCEEDED', () => {
    expect(changeBalance(MAX - 5, 'DEPOSIT', 5)).toEqual({ ok: true, signed: 5, balanceAfter: MAX });
    const over = () => changeBalance(MAX - 5, 'DEPOSIT', 6);
    expect(over).toThrow(BalanceLimitExceeded);
    expect(over).toThrow(expect.objectContaining({ status: 422, code: 'BALANCE_LIMIT_EXCEEDED' }));
    expect(() => changeBalance(MAX, 'REFUND', 1)).toThrow(BalanceLimitExceeded);
  });

  it('moves exactly amount, signed by the entry type, refusing only a debit past the balance (property)', () => {
    const types: LedgerEntryType[] = ['DEPOSIT', 'PAYMENT_DEBIT', 'PAYMENT_REVERSAL', 'REFUND'];
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1e15 }),
        fc.constantFrom(...types),
        fc.integer({ min: 1, max: 1e12 }),
        (balance, type, amount) => {
          const signed = type === 'PAYMENT_DEBIT' ? -amount : amount;
          const expected =
            balance + signed < 0
              ? { ok: false, reason: 'INSUFFICIENT_FUNDS' }
              : { ok: true, signed, balanceAfter: balance + signed };
          expect(changeBalance(balance, type, amount)).toEqual(expected);
        },
      ),
    );
  });
});

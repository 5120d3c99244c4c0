import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decideFraud, type FraudFacts, type FraudRules } from '../../app/payments/fraud-rules.ts';

const rules: FraudRules = { maxAmount: 10_000, velocityPerMinute: 3, declineScore: 70 };
const quiet: FraudFacts = { recentPayments: 1, blocklisted: false };

describe('fraud rules', () => {
  it('approves an ordinary payment with score 0 and no reasons', () => {
    expect(decideFraud(1, quiet, rules)).toEqual({ approved: true, score: 0, reasons: [] });
  });

  it('adds nothing at exactly half the limit and HIGH_AMOUNT (+30) one unit above it', () => {
    expect(decideFraud(5_000, quiet, rules)).toEqual({ approved: true, score: 0, reasons: [] });
    expect(decideFraud(5_001, quiet, rules)).toEqual({ approved: true, score: 30, reasons: ['HIGH_AMOUNT'] });
  });

  it('counts half of an odd limit as a fraction: 5 of 11 adds nothing, 6 of 11 is HIGH_AMOUNT', () => {
    const odd = { ...rules, maxAmount: 11 };
    expect(decideFraud(5, quiet, odd).reasons).toEqual([]);
    expect(decideFraud(6, quiet, odd).reasons).toEqual(['HIGH_AMOUNT']);
  });

  it('keeps the limit itself HIGH_AMOUNT and declines one unit above it as AMOUNT_OVER_LIMIT (+100)', () => {
    expect(decideFraud(10_000, quiet, rules)).toEqual({
      approved: true,
      score: 30,
      reasons: ['HIGH_AMOUNT'],
    });
    expect(decideFraud(10_001, quiet, rules)).toEqual({
      approved: false,
      score: 100,
      reasons: ['AMOUNT_OVER_LIMIT'],
    });
  });

  it('allows exactly velocityPerMinute payments in the minute and declines one more as VELOCITY_EXCEEDED', () => {
    expect(decideFraud(1, { ...quiet, recentPayments: 3 }, rules)).toEqual({
      approved: true,
      score: 0,
      reasons: [],
    });
    expect(decideFraud(1, { ...quiet, recentPayments: 4 }, rules)).toEqual({
      approved: false,
      score: 100,
      reasons: ['VELOCITY_EXCEEDED'],
    });
  });

  it('declines a blocklisted wallet, owner or service as BLOCKLISTED whatever the amount', () => {
    expect(decideFraud(1, { ...quiet, blocklisted: true }, rules)).toEqual({
      approved: false,
      score: 100,
      reasons: ['BLOCKLISTED'],
    });
  });

  it('caps the score at 100 and names every rule that fired, in rule order', () => {
    const decision = decideFraud(10_001, { recentPayments: 99, blocklisted: true }, rules);
    expect(decision).toEqual({
      approved: false,
      score: 100,
      reasons: ['AMOUNT_OVER_LIMIT', 'VELOCITY_EXCEEDED', 'BLOCKLISTED'],
    });
    const high = decideFraud(6_000, { recentPayments: 99, blocklisted: false }, rules);
    expect(high).toEqual({ approved: false, score: 100, reasons: ['HIGH_AMOUNT', 'VELOCITY_EXCEEDED'] });
  });

  it('declines at declineScore itself and approves one point below it', () => {
    expect(decideFraud(6_000, quiet, { ...rules, declineScore: 30 }).approved).toBe(false);
    expect(decideFraud(6_000, quiet, { ...rules, declineScore: 31 }).approved).toBe(true);
  });

  it('approves exactly when the capped score is below declineScore (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 30_000 }),
        fc.integer({ min: 0, max: 10 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 101 }),
        (amount, recentPayments, blocklisted, declineScore) => {
          const decision = decideFraud(amount, { recentPayments, blocklisted }, { ...rules, declineScore });
          expect(decision.score).toBeGreaterThanOrEqual(0);
          expect(decision.score).toBeLessThanOrEqual(100);
          expect(decision.approved).toBe(decision.score < declineScore);
          expect(decision.score === 0).toBe(decision.reasons.length === 0);
        },
      ),
    );
  });
});

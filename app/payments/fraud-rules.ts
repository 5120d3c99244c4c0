/**
 * The fraud rules themselves, apart from the query that gathers their facts (fraud.ts), so that
 * they can be tested, and mutation-tested, without a database.
 */
export interface FraudRules {
  maxAmount: number;
  velocityPerMinute: number;
  declineScore: number;
}

export interface FraudDecision {
  approved: boolean;
  score: number;
  reasons: string[];
}

/** What the database knows about the payment's wallet at the payment's creation. */
export interface FraudFacts {
  /** Payments the wallet requested in the minute up to this one's creation, this one included. */
  recentPayments: number;
  /** The wallet, its owner or the service is in fraud_blocklist. */
  blocklisted: boolean;
}

/**
 * Deterministic rules, each adding to a score capped at 100; the payment is declined at
 * `declineScore`. The same amount and facts always give the same decision.
 * - AMOUNT_OVER_LIMIT (+100): amount > maxAmount; HIGH_AMOUNT (+30): amount > maxAmount / 2
 * - VELOCITY_EXCEEDED (+100): recentPayments > velocityPerMinute
 * - BLOCKLISTED (+100): blocklisted
 */
export function decideFraud(amount: number, facts: FraudFacts, rules: FraudRules): FraudDecision {
  const reasons: string[] = [];
  let score = 0;
  if (amount > rules.maxAmount) {
    score += 100;
    reasons.push('AMOUNT_OVER_LIMIT');
  } else if (amount > rules.maxAmount / 2) {
    score += 30;
    reasons.push('HIGH_AMOUNT');
  }
  if (facts.recentPayments > rules.velocityPerMinute) {
    score += 100;
    reasons.push('VELOCITY_EXCEEDED');
  }
  if (facts.blocklisted) {
    score += 100;
    reasons.push('BLOCKLISTED');
  }
  score = Math.min(score, 100);
  return { approved: score < rules.declineScore, score, reasons };
}

import { sql } from 'kysely';
import type { Trx } from '../db/database.ts';
import type { PaymentRow } from './payment.repository.ts';

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

/**
 * Deterministic rules, each adding to a score capped at 100; the payment is declined at
 * `declineScore`. The same payment and database state always give the same decision.
 * - AMOUNT_OVER_LIMIT (+100): amount > maxAmount; HIGH_AMOUNT (+30): amount > maxAmount / 2
 * - VELOCITY_EXCEEDED (+100): the wallet requested more than velocityPerMinute payments in the
 *   minute up to this one's creation (this one included). Compared with created_at as Postgres keeps
 *   it, to the microsecond: the row's Date is cut to the millisecond, and compared with that the
 *   payment itself fell outside its own minute, so the limit let one payment too many through.
 * - BLOCKLISTED (+100): the wallet, its owner or the service is in fraud_blocklist
 */
export async function evaluateFraud(
  trx: Trx,
  payment: PaymentRow,
  rules: FraudRules,
): Promise<FraudDecision> {
  const reasons: string[] = [];
  let score = 0;
  if (payment.amount > rules.maxAmount) {
    score += 100;
    reasons.push('AMOUNT_OVER_LIMIT');
  } else if (payment.amount > rules.maxAmount / 2) {
    score += 30;
    reasons.push('HIGH_AMOUNT');
  }

  const { rows } = await sql<{ recent: number; blocked: string[] | null }>`
    select
      (select count(*)::int from payments me join payments p on p.wallet_id = me.wallet_id
        where me.id = ${payment.id}
          and p.created_at > me.created_at - interval '1 minute'
          and p.created_at <= me.created_at) as recent,
      (select array_agg(b.kind || ':' || b.reason) from fraud_blocklist b
        join wallets w on w.id = ${payment.wallet_id}
        where (b.kind = 'wallet' and b.value = w.id::text)
           or (b.kind = 'owner' and b.value = w.owner_id)
           or (b.kind = 'service' and b.value = ${payment.service_id})) as blocked`.execute(trx);
  const facts = rows[0];
  if (facts && facts.recent > rules.velocityPerMinute) {
    score += 100;
    reasons.push('VELOCITY_EXCEEDED');
  }
  if (facts?.blocked?.length) {
    score += 100;
    reasons.push('BLOCKLISTED');
  }
  score = Math.min(score, 100);
  return { approved: score < rules.declineScore, score, reasons };
}

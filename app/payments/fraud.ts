import { sql } from 'kysely';
import type { Trx } from '../db/database.ts';
import { decideFraud, type FraudDecision, type FraudRules } from './fraud-rules.ts';
import type { PaymentRow } from './payment.repository.ts';

/**
 * Gathers the facts the fraud rules (fraud-rules.ts) need, as of the payment's creation, and
 * applies them. The same payment and database state always give the same decision.
 * - velocity: the wallet's payments in the minute up to this one's creation (this one included)
 * - blocklist: the wallet, its owner or the service is in fraud_blocklist
 */
export async function evaluateFraud(
  trx: Trx,
  payment: PaymentRow,
  rules: FraudRules,
): Promise<FraudDecision> {
  const { rows } = await sql<{ recent: number; blocked: string[] | null }>`
    select
      (select count(*)::int from payments p
        where p.wallet_id = ${payment.wallet_id}
          and p.created_at > ${payment.created_at}::timestamptz - interval '1 minute'
          and p.created_at <= ${payment.created_at}::timestamptz) as recent,
      (select array_agg(b.kind || ':' || b.reason) from fraud_blocklist b
        join wallets w on w.id = ${payment.wallet_id}
        where (b.kind = 'wallet' and b.value = w.id::text)
           or (b.kind = 'owner' and b.value = w.owner_id)
           or (b.kind = 'service' and b.value = ${payment.service_id})) as blocked`.execute(trx);
  const facts = rows[0];
  return decideFraud(
    payment.amount,
    { recentPayments: facts?.recent ?? 0, blocklisted: (facts?.blocked?.length ?? 0) > 0 },
    rules,
  );
}

import { sql } from 'kysely';
import type { Trx } from '../db/database.ts';
import { decideFraud, type FraudDecision, type FraudRules } from './fraud-rules.ts';
import type { PaymentRow } from './payment.repository.ts';

/**
 * Gathers the facts the fraud rules (fraud-rules.ts) need, as of the payment's creation, and
 * applies them. The same payment and database state always give the same decision.
 * - velocity: the wallet's payments in the minute up to this one's creation (this one included),
 *   compared with created_at as Postgres keeps it, to the microsecond: the row's Date is cut to
 *   the millisecond, and compared with that the payment itself fell outside its own minute, so the
 *   limit let one payment too many through.
 * - blocklist: the wallet, its owner or the service is in fraud_blocklist
 */
export async function evaluateFraud(
  trx: Trx,
  payment: PaymentRow,
  rules: FraudRules,
): Promise<FraudDecision> {
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
  return decideFraud(
    payment.amount,
    { recentPayments: facts?.recent ?? 0, blocklisted: (facts?.blocked?.length ?? 0) > 0 },
    rules,
  );
}

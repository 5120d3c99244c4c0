import type { Provider } from '../db/types.ts';
import { type ChargeAttempt, keptCharge, PROVIDERS } from './charge-attempts.ts';
import type { PaymentRow } from './payment.repository.ts';

/**
 * The gateway part of the saga as a pure decision: from the payment and its charge attempts, the
 * next transition. advancePayment (saga.ts) carries it out; here it can be tested, and
 * mutation-tested, without a database. The rules, in order:
 * - a succeeded attempt of ours completes the payment; any other success is stray money;
 * - a pending attempt waits for its webhook, with a status poll at the deadline;
 * - an unknown attempt waits too: the charge step asks again (same key) with a growing gap;
 * - only when every attempt is known not to have charged does the saga try the next provider, or
 *   give the money back (GATEWAY_DECLINED after a decline, GATEWAY_UNAVAILABLE otherwise).
 */
export type GatewayNext =
  /** Nothing to decide: the saga is over, or already waits for this pending attempt. */
  | { kind: 'record' }
  | { kind: 'complete'; winner: ChargeAttempt }
  | { kind: 'await_webhook'; pending: ChargeAttempt }
  | { kind: 'ask_again'; unknown: ChargeAttempt; gapSeconds: number }
  | { kind: 'fail_declined'; declined: ChargeAttempt }
  | { kind: 'try_provider'; provider: Provider }
  | { kind: 'fail_unavailable'; canceled: ChargeAttempt | undefined };

export interface GatewayDecision {
  /** Succeeded attempts the payment does not keep: money to find and give back. */
  strays: ChargeAttempt[];
  next: GatewayNext;
}

/** The gap before asking again about an attempt whose outcome is unknown: 2^calls s, capped. */
export const unknownRetryGapSeconds = (calls: number, maxSeconds: number) =>
  Math.min(2 ** Math.min(calls, 10), maxSeconds);

export function decideGatewayStep(
  payment: Pick<PaymentRow, 'saga_step' | 'provider'>,
  attempts: ChargeAttempt[],
  unknownRetryMaxSeconds: number,
): GatewayDecision {
  const ours = attempts.filter((a) => a.idempotency_key !== null);
  const succeeded = attempts.filter((a) => a.status === 'succeeded');
  const over =
    payment.saga_step === 'completed' || payment.saga_step === 'failed' || payment.saga_step === 'rejected';
  const winner = over
    ? payment.saga_step === 'completed'
      ? keptCharge(payment, attempts)
      : undefined
    : succeeded.find((a) => a.idempotency_key !== null);
  const strays = succeeded.filter((a) => a !== winner);
  const decide = (next: GatewayNext): GatewayDecision => ({ strays, next });

  if (over) return decide({ kind: 'record' });
  if (winner) return decide({ kind: 'complete', winner });

  const pending = ours.find((a) => a.status === 'pending');
  if (pending) {
    const waiting = payment.saga_step === 'charge_requested' && payment.provider === pending.provider;
    return decide(waiting ? { kind: 'record' } : { kind: 'await_webhook', pending });
  }
  const unknown = ours.find((a) => a.status === 'unknown');
  if (unknown) {
    // Unknown is never "no": ask again later, with the same key, whatever the breaker says.
    const gapSeconds = unknownRetryGapSeconds(unknown.calls, unknownRetryMaxSeconds);
    return decide({ kind: 'ask_again', unknown, gapSeconds });
  }
  const declined = ours.find((a) => a.status === 'failed');
  if (declined) return decide({ kind: 'fail_declined', declined });

  const canceled = ours.find((a) => a.status === 'canceled');
  const provider = canceled ? undefined : PROVIDERS.find((p) => !ours.some((a) => a.provider === p));
  if (provider) return decide({ kind: 'try_provider', provider });
  return decide({ kind: 'fail_unavailable', canceled });
}

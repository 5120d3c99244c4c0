import { describe, expect, it } from 'vitest';
import type { ChargeAttemptStatus, Provider, SagaStep } from '../../app/db/types.ts';
import type { ChargeAttempt } from '../../app/payments/charge-attempts.ts';
import { decideGatewayStep, unknownRetryGapSeconds } from '../../app/payments/gateway-decision.ts';

const paymentId = '0b7e6f5a-1c2d-4e3f-8a9b-0c1d2e3f4a5b';
let nextId = 1;

/** An attempt of ours (sent with an idempotency key) unless `ours: false`: a charge we never asked for. */
function attempt(
  provider: Provider,
  status: ChargeAttemptStatus,
  extra: Partial<ChargeAttempt> & { ours?: boolean } = {},
): ChargeAttempt {
  const { ours = true, ...rest } = extra;
  return {
    id: nextId++,
    payment_id: paymentId,
    provider,
    idempotency_key: ours ? `${paymentId}:${provider}` : null,
    gateway_charge_id: `ch_${nextId}`,
    amount: 500,
    currency: 'USD',
    status,
    calls: 1,
    refused_calls: 0,
    settled_by: null,
    decline_code: null,
    last_error: null,
    polls: 0,
    stray_detected_at: null,
    stray_refund_id: null,
    created_at: new Date(0),
    updated_at: new Date(0),
    ...rest,
  };
}

const at = (saga_step: SagaStep, provider: Provider | null = null) => ({ saga_step, provider });
const decide = (payment: ReturnType<typeof at>, attempts: ChargeAttempt[]) =>
  decideGatewayStep(payment, attempts, 60);

describe('gateway decision of the saga', () => {
  it('tries alpha first when nothing was attempted', () => {
    expect(decide(at('debited'), [])).toEqual({
      strays: [],
      next: { kind: 'try_provider', provider: 'alpha' },
    });
  });

  it('falls back to beta only after alpha is known not to have charged (not_created: the gateway answered processed: false)', () => {
    const alpha = attempt('alpha', 'not_created');
    expect(decide(at('debited'), [alpha]).next).toEqual({ kind: 'try_provider', provider: 'beta' });
  });

  it('completes with our succeeded attempt, at its provider', () => {
    const alpha = attempt('alpha', 'not_created');
    const beta = attempt('beta', 'succeeded');
    expect(decide(at('charge_requested', 'beta'), [alpha, beta])).toEqual({
      strays: [],
      next: { kind: 'complete', winner: beta },
    });
  });

  it('never completes with a charge we did not ask for: it is stray money, and the saga still tries alpha', () => {
    const foreign = attempt('alpha', 'succeeded', { ours: false });
    expect(decide(at('debited'), [foreign])).toEqual({
      strays: [foreign],
      next: { kind: 'try_provider', provider: 'alpha' },
    });
  });

  it('completes with the first of two succeeded attempts of ours and marks the second stray', () => {
    const alpha = attempt('alpha', 'succeeded');
    const beta = attempt('beta', 'succeeded');
    expect(decide(at('charge_requested', 'beta'), [alpha, beta])).toEqual({
      strays: [beta],
      next: { kind: 'complete', winner: alpha },
    });
  });

  it('after completion, keeps the charge at the payment provider and marks any later success stray', () => {
    const alpha = attempt('alpha', 'succeeded');
    const beta = attempt('beta', 'succeeded');
    expect(decide(at('completed', 'beta'), [alpha, beta])).toEqual({
      strays: [alpha],
      next: { kind: 'record' },
    });
  });

  it('after failure or rejection, decides nothing and marks every success stray (the money was given back)', () => {
    for (const step of ['failed', 'rejected'] as const) {
      const alpha = attempt('alpha', 'succeeded');
      expect(decide(at(step, 'alpha'), [alpha]), step).toEqual({ strays: [alpha], next: { kind: 'record' } });
    }
  });

  it('waits for the webhook of a pending attempt, and only records when it already waits for it', () => {
    const pending = attempt('alpha', 'pending');
    expect(decide(at('debited'), [pending]).next).toEqual({ kind: 'await_webhook', pending });
    expect(decide(at('charge_requested', 'alpha'), [pending]).next).toEqual({ kind: 'record' });
    // waiting at another provider is not waiting for this one
    expect(decide(at('charge_requested', 'beta'), [pending]).next).toEqual({
      kind: 'await_webhook',
      pending,
    });
    // nor is a step before charge_requested, whatever provider the row names
    expect(decide(at('debited', 'alpha'), [pending]).next).toEqual({ kind: 'await_webhook', pending });
  });

  it('never falls back while an attempt is unknown: asks again, with a gap of 2^calls seconds', () => {
    const unknown = attempt('alpha', 'unknown', { calls: 3 });
    expect(decide(at('debited'), [unknown]).next).toEqual({ kind: 'ask_again', unknown, gapSeconds: 8 });
  });

  it('prefers waiting for a pending attempt over asking again about an unknown one', () => {
    const unknown = attempt('alpha', 'unknown');
    const pending = attempt('beta', 'pending');
    expect(decide(at('debited'), [unknown, pending]).next).toEqual({ kind: 'await_webhook', pending });
  });

  it('asks again about an unknown attempt rather than failing on a declined one', () => {
    const declined = attempt('alpha', 'failed', { decline_code: 'card_declined' });
    const unknown = attempt('beta', 'unknown', { calls: 1 });
    expect(decide(at('debited'), [declined, unknown]).next).toEqual({
      kind: 'ask_again',
      unknown,
      gapSeconds: 2,
    });
  });

  it('fails GATEWAY_DECLINED on a decline, without trying the other provider', () => {
    const declined = attempt('alpha', 'failed', { decline_code: 'card_declined' });
    expect(decide(at('charge_requested', 'alpha'), [declined]).next).toEqual({
      kind: 'fail_declined',
      declined,
    });
  });

  it('fails GATEWAY_UNAVAILABLE when every provider was tried and none charged', () => {
    const alpha = attempt('alpha', 'not_created');
    const beta = attempt('beta', 'not_created');
    expect(decide(at('debited'), [alpha, beta]).next).toEqual({
      kind: 'fail_unavailable',
      canceled: undefined,
    });
  });

  it('fails GATEWAY_UNAVAILABLE at once after a canceled attempt, without trying the next provider', () => {
    const canceled = attempt('alpha', 'canceled');
    expect(decide(at('charge_requested', 'alpha'), [canceled]).next).toEqual({
      kind: 'fail_unavailable',
      canceled,
    });
  });

  it('counts only our own attempts as tried: a foreign charge at alpha does not skip alpha', () => {
    const foreign = attempt('alpha', 'failed', { ours: false });
    expect(decide(at('debited'), [foreign]).next).toEqual({ kind: 'try_provider', provider: 'alpha' });
  });
});

describe('gap before asking again about an unknown outcome', () => {
  it('doubles per call from 1 s, capped by the configured maximum', () => {
    expect([0, 1, 2, 3, 4].map((calls) => unknownRetryGapSeconds(calls, 60))).toEqual([1, 2, 4, 8, 16]);
    expect(unknownRetryGapSeconds(6, 60)).toBe(60);
    expect(unknownRetryGapSeconds(5, 32)).toBe(32);
    expect(unknownRetryGapSeconds(6, 32)).toBe(32);
  });

  it('stops doubling at 2^10 s, however many calls were made', () => {
    expect(unknownRetryGapSeconds(10, 5_000)).toBe(1024);
    expect(unknownRetryGapSeconds(11, 5_000)).toBe(1024);
    expect(unknownRetryGapSeconds(10_000, 1e9)).toBe(1024);
  });
});

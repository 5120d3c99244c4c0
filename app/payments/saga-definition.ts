import { z } from 'zod';
import type { Config } from '../config.ts';
import type { SagaStep } from '../db/types.ts';
import type { NextJob } from '../events/record-event.ts';
import { traceCarrier } from '../observability/tracing.ts';

export const paymentPayload = z.object({ paymentId: z.uuid() }).loose();
export const refundPayload = z.object({ paymentId: z.uuid(), refundId: z.uuid() }).loose();
export const strayChargePayload = z
  .object({ paymentId: z.uuid(), attemptId: z.number().int().positive() })
  .loose();

/**
 * The payment saga in one table: for each step a payment waits at, the graphile-worker task that
 * moves it on, that task's payload, and the steps it may lead to. The task list
 * (workers/tasks/index.ts), the job keys (stepJob) and the stuck-saga redrive
 * (db/functions/payment__redrive_stuck.sql, checked against this table by
 * test/saga-definition.test.ts) all follow from it.
 *
 * `continues`: the step's job goes straight on to the next step. The fraud check and the debit are
 * two steps and two events in one transaction, which also claims the first charge attempt; the
 * same job then makes the charge call (workers/tasks/payment/fraud-check.ts). The later steps keep
 * tasks of their own: for a payment re-driven there, left there by an older version, or (the
 * charge) asked again after an unknown outcome.
 */
export const PAYMENT_SAGA = {
  requested: {
    task: 'payment__fraud_check',
    payload: paymentPayload,
    next: ['fraud_checked', 'rejected'],
    continues: true,
  },
  fraud_checked: {
    task: 'payment__debit_wallet',
    payload: paymentPayload,
    next: ['debited', 'rejected'],
    continues: true,
  },
  debited: {
    task: 'payment__charge_gateway',
    payload: paymentPayload,
    next: ['charge_requested', 'completed', 'failed'],
    continues: false,
  },
  charge_requested: {
    task: 'payment__poll_charge',
    payload: paymentPayload,
    next: ['completed', 'failed'],
    continues: false,
  },
} as const satisfies Record<
  Exclude<SagaStep, SettledStep>,
  { task: string; payload: z.ZodType; next: readonly SagaStep[]; continues: boolean }
>;

/** The steps a payment's saga ends at; it has no job from there (refunds are a saga of their own). */
export type SettledStep = 'completed' | 'rejected' | 'failed';
export type WaitingStep = keyof typeof PAYMENT_SAGA;

/** The jobs a payment's events start beside the saga's own steps, each keyed by what it settles. */
export const PAYMENT_SIDE_TASKS = {
  refund: { task: 'payment__refund', payload: refundPayload },
  refundStrayCharge: { task: 'payment__refund_stray_charge', payload: strayChargePayload },
} as const;

/** Every payment task's identifier, by name (the bench, tests and operators' queries use them). */
export const SAGA_TASKS = {
  fraudCheck: PAYMENT_SAGA.requested.task,
  debitWallet: PAYMENT_SAGA.fraud_checked.task,
  chargeGateway: PAYMENT_SAGA.debited.task,
  pollCharge: PAYMENT_SAGA.charge_requested.task,
  refund: PAYMENT_SIDE_TASKS.refund.task,
  refundStrayCharge: PAYMENT_SIDE_TASKS.refundStrayCharge.task,
} as const;

export interface SagaOptions {
  jobMaxAttempts: number;
  webhookDeadlineSeconds: number;
  /** The longest gap between two questions about a charge attempt whose outcome is unknown. */
  unknownRetryMaxSeconds: number;
  /**
   * When the charge step's own job runs if the job that debited has not moved the payment on by
   * then (it died, or spent its attempts): longer than that job's calls to both providers take.
   */
  chargeBackstopSeconds: number;
}

export function sagaOptionsFrom(config: Config): SagaOptions {
  return {
    jobMaxAttempts: config.JOB_MAX_ATTEMPTS,
    webhookDeadlineSeconds: config.WEBHOOK_DEADLINE_SECONDS,
    unknownRetryMaxSeconds: config.GATEWAY_UNKNOWN_RETRY_MAX_SECONDS,
    // Every call to alpha then beta with its retries, timing out, plus a margin.
    chargeBackstopSeconds:
      Math.ceil(
        (2 *
          config.GATEWAY_MAX_ATTEMPTS *
          (config.GATEWAY_ATTEMPT_TIMEOUT_MS + config.GATEWAY_BACKOFF_MAX_MS)) /
          1000,
      ) + 5,
  };
}

/**
 * A step's job key: one per step and payment, so a step enqueued twice runs once (add_job with an
 * existing, unlocked key replaces the pending job instead of adding another), and a settlement can
 * remove the pending poll by its key.
 */
export const stepJobKey = (step: WaitingStep, paymentId: string) => `${PAYMENT_SAGA[step].task}:${paymentId}`;

/** The job that moves a payment on from `step`, optionally after a delay. */
export function stepJob(
  step: WaitingStep,
  paymentId: string,
  opts: SagaOptions,
  delaySeconds?: number,
): NextJob {
  return {
    task: PAYMENT_SAGA[step].task,
    payload: { paymentId, ...traceCarrier() },
    jobKey: stepJobKey(step, paymentId),
    maxAttempts: opts.jobMaxAttempts,
    delaySeconds,
  };
}

/** A refund's job, keyed by the refund: a refund enqueued twice is refunded once. */
export const refundJob = (paymentId: string, refundId: string, opts: SagaOptions, delaySeconds?: number) =>
  sideJob('refund', { paymentId, refundId }, refundId, opts, delaySeconds);

/** A stray charge's refund, keyed by its attempt. */
export const strayRefundJob = (
  paymentId: string,
  attemptId: number,
  opts: SagaOptions,
  delaySeconds?: number,
) => sideJob('refundStrayCharge', { paymentId, attemptId }, String(attemptId), opts, delaySeconds);

function sideJob(
  name: keyof typeof PAYMENT_SIDE_TASKS,
  payload: Record<string, unknown>,
  by: string,
  opts: SagaOptions,
  delaySeconds?: number,
): NextJob {
  const { task } = PAYMENT_SIDE_TASKS[name];
  return {
    task,
    payload: { ...payload, ...traceCarrier() },
    jobKey: `${task}:${by}`,
    maxAttempts: opts.jobMaxAttempts,
    delaySeconds,
  };
}

import type { Config } from '../config.ts';
import type { NextJob } from '../events/record-event.ts';

/** graphile-worker task identifiers of the payment saga, one file each in workers/tasks/payment/. */
export const SAGA_TASKS = {
  fraudCheck: 'payment__fraud_check',
  debitWallet: 'payment__debit_wallet',
  chargeGateway: 'payment__charge_gateway',
  pollCharge: 'payment__poll_charge',
  refund: 'payment__refund',
  refundStrayCharge: 'payment__refund_stray_charge',
} as const;

export interface SagaOptions {
  jobMaxAttempts: number;
  webhookDeadlineSeconds: number;
  /** The longest gap between two questions about a charge attempt whose outcome is unknown. */
  unknownRetryMaxSeconds: number;
}

export function sagaOptionsFrom(config: Config): SagaOptions {
  return {
    jobMaxAttempts: config.JOB_MAX_ATTEMPTS,
    webhookDeadlineSeconds: config.WEBHOOK_DEADLINE_SECONDS,
    unknownRetryMaxSeconds: config.GATEWAY_UNKNOWN_RETRY_MAX_SECONDS,
  };
}

/**
 * The next step's job. The job key makes a step enqueued twice run once (add_job with an existing,
 * unlocked key replaces the pending job instead of adding another).
 */
export function sagaJob(
  task: (typeof SAGA_TASKS)[keyof typeof SAGA_TASKS],
  paymentId: string,
  opts: SagaOptions,
  extra: { delaySeconds?: number; payload?: Record<string, unknown>; key?: string } = {},
): NextJob {
  return {
    task,
    payload: { paymentId, ...(extra.payload ?? {}) },
    jobKey: extra.key ?? `${task}:${paymentId}`,
    maxAttempts: opts.jobMaxAttempts,
    delaySeconds: extra.delaySeconds,
  };
}

export const pollJobKey = (paymentId: string) => `${SAGA_TASKS.pollCharge}:${paymentId}`;

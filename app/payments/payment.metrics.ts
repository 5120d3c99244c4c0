import client from 'prom-client';
import { registry } from '../observability/metrics.ts';
import type { PaymentRow } from './payment.repository.ts';

/**
 * Business metrics (docs/saga.md, "Metrics"), incremented by the code that commits the transition they
 * count (after the commit, so a rolled-back transaction counts nothing).
 */
export const paymentCreatedTotal = new client.Counter({
  name: 'payment_created_total',
  help: 'Payments accepted by POST /payments',
  registers: [registry],
});
export const paymentApprovedTotal = new client.Counter({
  name: 'payment_approved_total',
  help: 'Payments that reached COMPLETED',
  registers: [registry],
});
export const paymentDeclinedTotal = new client.Counter({
  name: 'payment_declined_total',
  help: 'Payments that ended REJECTED or FAILED, by failure reason',
  labelNames: ['reason'] as const,
  registers: [registry],
});
export const paymentDurationSeconds = new client.Histogram({
  name: 'payment_duration_seconds',
  help: 'From payment request to terminal status',
  labelNames: ['status'] as const,
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
  registers: [registry],
});
export const walletDebitRequestedTotal = new client.Counter({
  name: 'wallet_debit_requested_total',
  help: 'Wallet debits attempted by the saga',
  registers: [registry],
});
export const walletDebitApprovedTotal = new client.Counter({
  name: 'wallet_debit_approved_total',
  help: 'Wallet debits committed',
  registers: [registry],
});
export const walletDebitDeclinedTotal = new client.Counter({
  name: 'wallet_debit_declined_total',
  help: 'Wallet debits refused for insufficient funds',
  registers: [registry],
});
export const gatewayRequestsTotal = new client.Counter({
  name: 'gateway_requests_total',
  help: 'Requests to the payment gateway by provider and outcome (success, refused, error, timeout, circuit_open)',
  labelNames: ['provider', 'outcome'] as const,
  registers: [registry],
});
export const gatewayUnknownOutcomesTotal = new client.Counter({
  name: 'gateway_unknown_outcomes_total',
  help: 'Charge calls that ended without a provable answer (timeout, 5xx, unreadable): the payment waits',
  labelNames: ['provider'] as const,
  registers: [registry],
});
export const gatewayAnswerMismatchTotal = new client.Counter({
  name: 'gateway_answer_mismatch_total',
  help: 'Gateway answers (charge answer, poll, webhook) whose amount, currency or reference differ from the payment',
  labelNames: ['provider', 'source'] as const,
  registers: [registry],
});
export const gatewayStrayRefundsTotal = new client.Counter({
  name: 'gateway_stray_refunds_total',
  help: 'Stray charges refunded at the gateway',
  labelNames: ['provider'] as const,
  registers: [registry],
});
export const refundsFailedTotal = new client.Counter({
  name: 'refunds_failed_total',
  help: 'Refunds that ended FAILED (refused by the gateway, or unreachable past their retries)',
  labelNames: ['reason'] as const,
  registers: [registry],
});
export const gatewayCircuitState = new client.Gauge({
  name: 'gateway_circuit_state',
  help: "1 for this process's current breaker state of the provider (closed, open, half_open), 0 for the others",
  labelNames: ['provider', 'state'] as const,
  registers: [registry],
});
export const gatewayCircuitOpen = new client.Gauge({
  name: 'gateway_circuit_open',
  help: '1 while this process has the provider circuit breaker open',
  labelNames: ['provider'] as const,
  registers: [registry],
});

/** Call after the commit that settled a payment (COMPLETED, REJECTED or FAILED). */
export function observeSettlement(payment: PaymentRow): void {
  if (payment.status === 'COMPLETED') paymentApprovedTotal.inc();
  else if (payment.failure_reason) paymentDeclinedTotal.inc({ reason: payment.failure_reason });
  else return;
  paymentDurationSeconds.observe(
    { status: payment.status },
    (Date.now() - payment.created_at.getTime()) / 1000,
  );
}

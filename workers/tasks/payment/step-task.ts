import type { Task } from 'graphile-worker';
import type { z } from 'zod';
import {
  walletDebitApprovedTotal,
  walletDebitDeclinedTotal,
  walletDebitRequestedTotal,
} from '../../../app/payments/payment.metrics.ts';
import type { paymentPayload } from '../../../app/payments/saga-definition.ts';

/** A saga step's task body: its payload already parsed against the step's schema (PAYMENT_SAGA). */
export type PaymentStepTask = (
  payload: z.output<typeof paymentPayload>,
  helpers: Parameters<Task>[1],
) => Promise<void>;

/** The debit counters, after the commit that debited or declined. */
export function countDebit(debit: 'debited' | 'declined' | undefined) {
  if (!debit) return;
  walletDebitRequestedTotal.inc();
  if (debit === 'debited') walletDebitApprovedTotal.inc();
  else walletDebitDeclinedTotal.inc();
}

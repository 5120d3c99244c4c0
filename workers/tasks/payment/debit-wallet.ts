import {
  observeSettlement,
  walletDebitApprovedTotal,
  walletDebitDeclinedTotal,
  walletDebitRequestedTotal,
} from '../../../app/payments/payment.metrics.ts';
import { lockPaymentById } from '../../../app/payments/payment.repository.ts';
import { debitWalletForPayment } from '../../../app/payments/saga.ts';
import type { WorkerDeps } from '../../deps.ts';
import { defineTask } from '../../task-catalogue.ts';
import { paymentPayload } from './payload.ts';

/**
 * Step 2: debit the wallet under its row lock (payment lock first, then wallet: the same order
 * everywhere, so no deadlock). Short balance -> REJECTED INSUFFICIENT_FUNDS; the gateway is never
 * called.
 */
export const debitWallet = (deps: WorkerDeps) =>
  defineTask(paymentPayload, async ({ paymentId }) => {
    const result = await deps.db.transaction().execute(async (trx) => {
      const payment = await lockPaymentById(trx, paymentId);
      if (payment?.saga_step !== 'fraud_checked') return undefined; // already applied
      return debitWalletForPayment(trx, payment, deps.saga);
    });
    if (!result) return;
    walletDebitRequestedTotal.inc();
    if (result.debited) walletDebitApprovedTotal.inc();
    else {
      walletDebitDeclinedTotal.inc();
      observeSettlement(result.payment);
    }
  });

import { debitWalletForPayment, runPaymentStep } from '../../../app/payments/saga.ts';
import type { WorkerDeps } from '../../deps.ts';
import { countDebit, type PaymentStepTask } from './step-task.ts';

/**
 * Step `fraud_checked` on its own: the debit for a payment that an older version left approved
 * but not debited, or that the stuck-saga sweeper re-drove there. The fraud check goes straight on
 * to it otherwise (fraud-check.ts).
 */
export const debitWallet =
  (deps: WorkerDeps): PaymentStepTask =>
  async ({ paymentId }) => {
    const result = await runPaymentStep(deps.db, paymentId, ['fraud_checked'], (trx, payment) =>
      debitWalletForPayment(trx, payment, deps.saga),
    );
    countDebit(result?.debit);
  };

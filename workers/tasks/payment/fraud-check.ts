import { evaluateFraud } from '../../../app/payments/fraud.ts';
import { checkFraudThenDebit, runPaymentStep } from '../../../app/payments/saga.ts';
import type { WorkerDeps } from '../../deps.ts';
import { countDebit, type PaymentStepTask } from './step-task.ts';

/**
 * Steps `requested` then `fraud_checked`: deterministic fraud rules, then, when approved, the
 * wallet debit, in one transaction. Declined -> REJECTED FRAUD_SUSPECTED; short balance ->
 * REJECTED INSUFFICIENT_FUNDS; debited -> PROCESSING, with the charge step enqueued.
 */
export const fraudCheck =
  (deps: WorkerDeps): PaymentStepTask =>
  async ({ paymentId }) => {
    const result = await runPaymentStep(deps.db, paymentId, ['requested'], async (trx, payment) =>
      checkFraudThenDebit(trx, payment, await evaluateFraud(trx, payment, deps.fraudRules), deps.saga),
    );
    countDebit(result?.debit);
  };

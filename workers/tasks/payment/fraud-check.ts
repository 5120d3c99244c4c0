import { evaluateFraud } from '../../../app/payments/fraud.ts';
import { checkFraudThenDebit, runPaymentStep } from '../../../app/payments/saga.ts';
import type { WorkerDeps } from '../../deps.ts';
import { chargeInline, handOverCharge } from './charge-gateway.ts';
import { countDebit, type PaymentStepTask } from './step-task.ts';

/**
 * Steps `requested`, `fraud_checked` and `debited` in one job: deterministic fraud rules, then,
 * when approved, the wallet debit and the claim of the first charge attempt, in one transaction;
 * then the charge itself (chargeInline). Declined -> REJECTED FRAUD_SUSPECTED; short balance ->
 * REJECTED INSUFFICIENT_FUNDS. A job run again after its worker died finds the payment `debited`
 * and hands the charge to its own step, which asks about the claimed attempt with the same key.
 */
export const fraudCheck =
  (deps: WorkerDeps): PaymentStepTask =>
  async ({ paymentId }, helpers) => {
    const result = await runPaymentStep(deps.db, paymentId, ['requested'], async (trx, payment) =>
      checkFraudThenDebit(trx, payment, await evaluateFraud(trx, payment, deps.fraudRules), deps.saga),
    );
    countDebit(result?.debit);
    if (result?.claim) await chargeInline(deps, paymentId, helpers, result.claim);
    // Run again (its worker died after the debit committed), or debited with nothing claimed.
    else if (!result || result.debit === 'debited') await handOverCharge(deps, paymentId);
  };

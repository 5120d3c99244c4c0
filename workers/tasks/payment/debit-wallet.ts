import { debitAndClaim, runPaymentStep } from '../../../app/payments/saga.ts';
import type { WorkerDeps } from '../../deps.ts';
import { chargeInline, handOverCharge } from './charge-gateway.ts';
import { countDebit, type PaymentStepTask } from './step-task.ts';

/**
 * Step `fraud_checked` on its own, then the charge: for a payment that an older version left
 * approved but not debited, or that the stuck-saga sweeper re-drove there. The fraud check goes
 * straight on through it otherwise (fraud-check.ts).
 */
export const debitWallet =
  (deps: WorkerDeps): PaymentStepTask =>
  async ({ paymentId }, helpers) => {
    const result = await runPaymentStep(deps.db, paymentId, ['fraud_checked'], (trx, payment) =>
      debitAndClaim(trx, payment, deps.saga),
    );
    countDebit(result?.debit);
    if (result?.claim) await chargeInline(deps, paymentId, helpers, result.claim);
    // Run again (its worker died after the debit committed), or debited with nothing claimed.
    else if (!result || result.debit === 'debited') await handOverCharge(deps, paymentId);
  };

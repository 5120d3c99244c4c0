import { evaluateFraud } from '../../../app/payments/fraud.ts';
import { observeSettlement } from '../../../app/payments/payment.metrics.ts';
import { lockPaymentById } from '../../../app/payments/payment.repository.ts';
import { applyFraudDecision } from '../../../app/payments/saga.ts';
import type { WorkerDeps } from '../../deps.ts';
import { defineTask } from '../../task-catalogue.ts';
import { paymentPayload } from './payload.ts';

/** Step 1: deterministic fraud rules; approved -> debit, declined -> REJECTED FRAUD_SUSPECTED. */
export const fraudCheck = (deps: WorkerDeps) =>
  defineTask(paymentPayload, async ({ paymentId }) => {
    const updated = await deps.db.transaction().execute(async (trx) => {
      const payment = await lockPaymentById(trx, paymentId);
      if (payment?.saga_step !== 'requested') return undefined; // already applied
      const decision = await evaluateFraud(trx, payment, deps.fraudRules);
      return applyFraudDecision(trx, payment, decision, deps.saga);
    });
    if (updated) observeSettlement(updated);
  });

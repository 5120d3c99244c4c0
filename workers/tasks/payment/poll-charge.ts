import { enqueueJob } from '../../../app/events/record-event.ts';
import type { GatewayCharge } from '../../../app/gateway/gateway-client.ts';
import { observeSettlement } from '../../../app/payments/payment.metrics.ts';
import {
  findCharge,
  findPaymentById,
  lockPaymentById,
  recordStep,
} from '../../../app/payments/payment.repository.ts';
import { applyChargeOutcome, failUnavailable } from '../../../app/payments/saga.ts';
import { pollJobKey, SAGA_TASKS, sagaJob } from '../../../app/payments/saga-jobs.ts';
import type { WorkerDeps } from '../../deps.ts';
import { defineTask } from '../../task-catalogue.ts';
import { paymentPayload } from './payload.ts';

/**
 * The webhook deadline passed (or a webhook was lost): ask the gateway for the charge. A final
 * answer is applied exactly as a webhook's would be; "pending" or no answer schedules the next
 * poll, with the gap doubling; after CHARGE_POLL_MAX polls the payment is compensated
 * (GATEWAY_UNAVAILABLE). A webhook that arrives first cancels this job.
 */
export const pollCharge = (deps: WorkerDeps) =>
  defineTask(paymentPayload, async ({ paymentId }) => {
    const payment = await findPaymentById(deps.db, paymentId);
    if (payment?.saga_step !== 'charge_requested' || !payment.provider) return;
    const charge = await findCharge(deps.db, paymentId, payment.provider);
    if (!charge) throw new Error(`payment ${paymentId} is charge_requested without a charge row`);

    let remote: GatewayCharge | undefined;
    let error: string | undefined;
    try {
      remote = await deps.gateway.getCharge(payment.provider, charge.gateway_charge_id);
    } catch (err) {
      error = (err as Error).message || (err as Error).name;
    }

    const settled = await deps.db.transaction().execute(async (trx) => {
      const locked = await lockPaymentById(trx, paymentId);
      if (locked?.saga_step !== 'charge_requested') return undefined;
      if (remote?.status === 'succeeded')
        return applyChargeOutcome(trx, locked, charge, { status: 'succeeded' }, 'poll');
      if (remote?.status === 'failed') {
        return applyChargeOutcome(
          trx,
          locked,
          charge,
          { status: 'failed', declineCode: remote.decline_code ?? null },
          'poll',
        );
      }
      const polls = charge.polls + 1;
      await trx
        .updateTable('payment_charges')
        .set({ polls })
        .where('payment_id', '=', paymentId)
        .where('provider', '=', charge.provider)
        .execute();
      await recordStep(trx, {
        paymentId,
        name: 'status_poll',
        status: error ? 'error' : 'pending',
        attempt: polls,
        detail: error ? { error } : undefined,
      });
      if (polls >= deps.config.CHARGE_POLL_MAX) {
        return failUnavailable(trx, locked, [
          { provider: charge.provider, error: `no final answer after ${polls} polls` },
        ]);
      }
      const delaySeconds = deps.saga.webhookDeadlineSeconds * 2 ** Math.min(polls, 6);
      const next = sagaJob(SAGA_TASKS.pollCharge, paymentId, deps.saga, {
        runAt: new Date(Date.now() + delaySeconds * 1000),
        key: pollJobKey(paymentId),
      });
      await enqueueJob(trx, next);
      return undefined;
    });
    if (settled) observeSettlement(settled);
  });

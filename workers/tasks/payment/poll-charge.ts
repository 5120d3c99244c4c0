import {
  type ChargeSource,
  checkChargeMatches,
  countPoll,
  findAttempt,
  listAttempts,
  recordReported,
} from '../../../app/payments/charge-attempts.ts';
import { findPaymentById } from '../../../app/payments/payment.repository.ts';
import { advancePayment, runPaymentStep } from '../../../app/payments/saga.ts';
import { stepJob } from '../../../app/payments/saga-definition.ts';
import { callSignal, type WorkerDeps } from '../../deps.ts';
import type { CancelOutcome, GatewayCharge, GatewayRequestError } from '../../gateway/gateway-client.ts';
import { logGatewayTrouble } from '../../gateway-trouble.ts';
import type { PaymentStepTask } from './step-task.ts';

/**
 * The webhook deadline passed (or a webhook was lost): ask the gateway for the pending charge. A
 * final answer is applied as a webhook's would be. "pending", or no answer, schedules the next poll
 * with the gap doubling. After CHARGE_POLL_MAX "pending" answers the charge is canceled at the
 * gateway, and only a confirmed cancel gives the money back; a 409 (it settled first) applies how
 * it settled. A cancel that gets no answer is tried again at the next poll: the wallet is never
 * refunded while the charge can still succeed. A webhook that arrives first removes this job.
 */
export const pollCharge =
  (deps: WorkerDeps): PaymentStepTask =>
  async ({ paymentId }, helpers) => {
    const payment = await findPaymentById(deps.db, paymentId);
    if (payment?.saga_step !== 'charge_requested' || !payment.provider) return;
    const attempt = (await listAttempts(deps.db, paymentId)).find(
      (a) => a.idempotency_key !== null && a.provider === payment.provider && a.status === 'pending',
    );
    if (!attempt?.gateway_charge_id) {
      throw new Error(`payment ${paymentId} is charge_requested without a pending attempt`);
    }
    const chargeId = attempt.gateway_charge_id;
    const cancel = attempt.polls >= deps.config.CHARGE_POLL_MAX;

    let report: { charge: GatewayCharge; source: ChargeSource } | undefined;
    let canceled = false;
    let error: string | null = null;
    try {
      if (cancel) {
        const outcome: CancelOutcome = await deps.gateway.cancelCharge(
          attempt.provider,
          chargeId,
          callSignal(deps, helpers),
        );
        if (outcome.kind === 'canceled') canceled = true;
        else report = { charge: outcome.charge, source: 'cancel' };
      } else {
        report = {
          charge: await deps.gateway.getCharge(attempt.provider, chargeId, callSignal(deps, helpers)),
          source: 'poll',
        };
      }
    } catch (err) {
      // The client's errors are GatewayRequestErrors: a message safe to record, the rest logged.
      const failure = err as GatewayRequestError;
      error = failure.message;
      logGatewayTrouble(
        helpers.logger,
        {
          call: cancel ? 'cancel' : 'poll',
          provider: attempt.provider,
          paymentId,
          traceId: payment.trace_id,
        },
        { reason: failure.message, detail: failure.detail },
      );
    }
    if (report) checkChargeMatches(payment, attempt.provider, report.charge, chargeId);

    await runPaymentStep(deps.db, paymentId, ['charge_requested'], async (trx, locked) => {
      const current = await findAttempt(trx, paymentId, attempt.id);
      if (current?.status !== 'pending') return advancePayment(trx, locked, [], [], 'poll', deps.saga);
      if (canceled || (report && report.charge.status !== 'pending')) {
        const charge = canceled
          ? { id: chargeId, status: 'canceled' as const }
          : (report as { charge: GatewayCharge }).charge;
        const source: ChargeSource = canceled ? 'cancel' : (report as { source: ChargeSource }).source;
        const { events } = await recordReported(trx, current, charge, source);
        const step = {
          name: cancel ? 'cancel' : 'status_poll',
          status: charge.status,
          attempt: current.polls + 1,
        };
        return advancePayment(trx, locked, events, [step], source, deps.saga);
      }
      const polls = await countPoll(trx, current, error);
      const step = {
        name: cancel ? 'cancel' : 'status_poll',
        status: error ? 'no_answer' : 'pending',
        attempt: polls,
        detail: error ? { error } : undefined,
      };
      const gap = Math.min(deps.saga.webhookDeadlineSeconds * 2 ** Math.min(polls, 6), 600);
      const nextPoll = stepJob('charge_requested', paymentId, deps.saga, gap);
      return advancePayment(trx, locked, [], [step], 'poll', deps.saga, [nextPoll]);
    });
  };

import type { Task, TaskList } from 'graphile-worker';
import type { z } from 'zod';
import { PAYMENT_SAGA, PAYMENT_SIDE_TASKS, type WaitingStep } from '../../app/payments/saga-definition.ts';
import { withDeadLetter } from '../dead-letter.ts';
import type { WorkerDeps } from '../deps.ts';
import { defineTask } from '../task-catalogue.ts';
import { redriveStuckPayments, runAudit } from './maintenance/consistency.ts';
import { pruneIdempotencyKeys } from './maintenance/prune-idempotency-keys.ts';
import { pruneOutbox } from './maintenance/prune-outbox.ts';
import { reconcileGateway } from './maintenance/reconcile-gateway.ts';
import { sweepDeadLetters } from './maintenance/sweep-dead-letters.ts';
import { chargeGateway } from './payment/charge-gateway.ts';
import { debitWallet } from './payment/debit-wallet.ts';
import { fraudCheck } from './payment/fraud-check.ts';
import { pollCharge } from './payment/poll-charge.ts';
import { refundPayment } from './payment/refund.ts';
import { refundStrayCharge } from './payment/refund-stray-charge.ts';
import type { PaymentStepTask } from './payment/step-task.ts';

/** What each step of the saga runs (the step's task and payload come from PAYMENT_SAGA). */
const stepTasks: Record<WaitingStep, (deps: WorkerDeps) => PaymentStepTask> = {
  requested: fraudCheck,
  fraud_checked: debitWallet,
  debited: chargeGateway,
  charge_requested: pollCharge,
};

/** A payment task: its payload parsed against its schema, dead-lettered when its attempts are spent. */
const paymentTask = <S extends z.ZodType>(
  schema: S,
  run: (payload: z.output<S>, helpers: Parameters<Task>[1]) => Promise<void>,
) => withDeadLetter(defineTask(schema, run));

/** Every task this worker runs, by identifier. */
export function createTaskList(deps: WorkerDeps): TaskList {
  const saga = Object.fromEntries(
    (Object.keys(PAYMENT_SAGA) as WaitingStep[]).map((step) => [
      PAYMENT_SAGA[step].task,
      paymentTask(PAYMENT_SAGA[step].payload, stepTasks[step](deps)),
    ]),
  );
  return {
    ...saga,
    [PAYMENT_SIDE_TASKS.refund.task]: paymentTask(PAYMENT_SIDE_TASKS.refund.payload, refundPayment(deps)),
    [PAYMENT_SIDE_TASKS.refundStrayCharge.task]: paymentTask(
      PAYMENT_SIDE_TASKS.refundStrayCharge.payload,
      refundStrayCharge(deps),
    ),
    maintenance__prune_idempotency_keys: pruneIdempotencyKeys,
    maintenance__sweep_dead_letters: sweepDeadLetters(deps.config.JOB_MAX_ATTEMPTS),
    maintenance__prune_outbox: pruneOutbox(deps.config.OUTBOX_RETENTION_HOURS),
    maintenance__audit: runAudit(deps.config.AUDIT_STUCK_AFTER_SECONDS, deps.config.OUTBOX_RETENTION_HOURS),
    maintenance__reconcile_gateway: reconcileGateway(deps),
    maintenance__redrive_stuck_payments: redriveStuckPayments(
      deps.config.STUCK_PAYMENT_SECONDS,
      deps.config.JOB_MAX_ATTEMPTS,
    ),
  };
}

/** graphile-worker crontab: m h dom mon dow task ?opts. State lives in graphile_worker tables. */
export const crontab = [
  '17 * * * * maintenance__prune_idempotency_keys ?fill=2h&max=3',
  '* * * * * maintenance__sweep_dead_letters ?max=3',
  '23 * * * * maintenance__prune_outbox ?fill=2h&max=3',
  // max=3: a run cut short (its worker killed, Postgres restarting) is retried within the minute;
  // one that spends its attempts is dropped by the dead-letter sweep, not dead-lettered.
  '* * * * * maintenance__audit ?max=3',
  // The full audit, over whole tables: finds what the incremental one cannot (a change without an event).
  '41 * * * * maintenance__audit ?max=3&id=audit_full {"full":true}',
  '* * * * * maintenance__redrive_stuck_payments ?max=3',
  '* * * * * maintenance__reconcile_gateway ?max=3',
].join('\n');

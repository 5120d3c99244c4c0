import type { TaskList } from 'graphile-worker';
import { SAGA_TASKS } from '../../app/payments/saga-jobs.ts';
import { withDeadLetter } from '../dead-letter.ts';
import type { WorkerDeps } from '../deps.ts';
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

/** Every task this worker runs, by identifier; saga steps dead-letter when their attempts are spent. */
export function createTaskList(deps: WorkerDeps): TaskList {
  return {
    [SAGA_TASKS.fraudCheck]: withDeadLetter(fraudCheck(deps)),
    [SAGA_TASKS.debitWallet]: withDeadLetter(debitWallet(deps)),
    [SAGA_TASKS.chargeGateway]: withDeadLetter(chargeGateway(deps)),
    [SAGA_TASKS.pollCharge]: withDeadLetter(pollCharge(deps)),
    [SAGA_TASKS.refund]: withDeadLetter(refundPayment(deps)),
    [SAGA_TASKS.refundStrayCharge]: withDeadLetter(refundStrayCharge(deps)),
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
  '* * * * * maintenance__redrive_stuck_payments ?max=3',
  '* * * * * maintenance__reconcile_gateway ?max=3',
].join('\n');

import { sql } from 'kysely';
import { z } from 'zod';
import type { Provider } from '../../../app/db/types.ts';
import {
  type ChargeAttempt,
  isFinal,
  keptCharge,
  listAttempts,
  PROVIDERS,
  recordDiscovered,
  recordReported,
  recordSucceededAfterAll,
} from '../../../app/payments/charge-attempts.ts';
import type { PaymentEvent } from '../../../app/payments/payment.aggregate.ts';
import { lockPaymentById, type PaymentRow } from '../../../app/payments/payment.repository.ts';
import { advancePayment } from '../../../app/payments/saga.ts';
import { callSignal, type WorkerDeps } from '../../deps.ts';
import type { GatewayCharge, GatewayRequestError } from '../../gateway/gateway-client.ts';
import { defineTask } from '../../task-catalogue.ts';

type DifferenceKind = 'charge_missing' | 'unexpected_charge' | 'amount_mismatch' | 'refunds_mismatch';
interface Difference {
  provider: Provider;
  kind: DifferenceKind;
  detail: Record<string, unknown>;
}

/** A run stops starting new payments after this long: the next run is a minute later. */
const RUN_BUDGET_MS = 40_000;

/**
 * Cron: compares, for payments that settled between RECONCILE_GRACE_SECONDS and
 * RECONCILE_WINDOW_MINUTES ago (and changed since their last check, by version), what each
 * provider reports (`GET /charges?reference=<payment id>`) with the payment and its attempts.
 * - What the gateway knows and we did not (a charge we never recorded, a status we missed, even a
 *   success after we recorded a decline or a cancel) is recorded as a lookup and goes through the
 *   saga's decider: a success nobody keeps is refunded.
 * - What still differs is written to gateway_reconciliation_differences (open until a later check
 *   finds it gone), counted by gateway_reconciliation_discrepancies and flagged on /health.
 * A provider that cannot be asked ends the run (the payments stay due); a payment about to leave
 * the window unchecked gets a `lookup_failed` difference, so it is never silently skipped.
 */
export const reconcileGateway = (deps: WorkerDeps) =>
  defineTask(z.object({}).loose(), async (_payload, helpers) => {
    // A run that fails (Postgres restarting, say) is not a dead letter: it changed nothing it did
    // not commit, and the next run, a minute later, starts over from what is still due.
    await reconcileDue(deps, helpers.logger, callSignal(deps, helpers)).catch((err: Error) =>
      helpers.logger.warn(`reconciliation run failed, the next run starts over: ${err.message}`),
    );
  });

async function reconcileDue(
  deps: WorkerDeps,
  logger: { warn(m: string): void; error(m: string): void },
  abort: AbortSignal,
) {
  const { RECONCILE_WINDOW_MINUTES: windowMinutes, RECONCILE_GRACE_SECONDS: grace } = deps.config;
  if (windowMinutes === 0) return;
  const startedAt = Date.now();
  const due = await paymentsDueForReconciliation(deps.db, {
    graceSeconds: grace,
    windowMinutes,
    batch: deps.config.RECONCILE_BATCH,
  });
  let found = 0;
  for (const payment of due) {
    if (Date.now() - startedAt > RUN_BUDGET_MS || abort.aborted) break;
    const reported = new Map<Provider, GatewayCharge[]>();
    try {
      for (const provider of PROVIDERS)
        reported.set(provider, await deps.gateway.findCharges(provider, payment.id, abort));
    } catch (err) {
      // Cut short by a shutdown: nothing was learned; the next run, elsewhere, starts over.
      if (abort.aborted) break;
      // A GatewayRequestError: its message is safe to record; its detail (the raw answer) is logged.
      const { message: error, detail } = err as GatewayRequestError;
      logger.warn(
        `reconciliation stopped: cannot ask the gateway about ${payment.id}: ${error}${detail ? ` (${detail})` : ''}`,
      );
      // Never let a payment leave the window unchecked in silence: every one about to leave is
      // flagged (resolved by itself if a later run gets to check it).
      for (const leaving of due.filter((d) => d.leaving)) await recordLookupFailed(deps, leaving.id, error);
      break;
    }
    found += await reconcilePayment(deps, payment, reported);
  }
  if (found > 0) logger.error(`reconciliation: ${found} differences with the gateway`);
}

/**
 * The settled payments a run compares with the gateway: settled between the grace and the window
 * ago, changed since their last check (or with an unanswered attempt of ours). "Ago" is by the
 * database's clock (updated_at is written with now()); `now` lets a test choose that clock.
 */
export async function paymentsDueForReconciliation(
  db: WorkerDeps['db'],
  o: { graceSeconds: number; windowMinutes: number; batch: number },
  now?: Date,
) {
  const at = now ? sql`${now.toISOString()}::timestamptz` : sql`now()`;
  const { rows } = await sql<PaymentRow & { leaving: boolean }>`
      select p.*, p.updated_at < ${at} - make_interval(mins => ${o.windowMinutes})
                                 + least(interval '5 minutes', make_interval(mins => ${o.windowMinutes}) / 2) as leaving
        from payments p
        left join gateway_reconciliation_checks c on c.payment_id = p.id
       where p.status in ('COMPLETED', 'FAILED', 'PARTIALLY_REFUNDED', 'REFUNDED')
         and p.updated_at < ${at} - make_interval(secs => ${o.graceSeconds})
         and p.updated_at > ${at} - make_interval(mins => ${o.windowMinutes})
         and exists (select 1 from charge_attempts a where a.payment_id = p.id)
         and not exists (select 1 from refunds r where r.payment_id = p.id and r.status = 'PENDING')
         and (c.payment_id is null or c.checked_version < p.version
              or exists (select 1 from charge_attempts a where a.payment_id = p.id
                            and a.idempotency_key is null and a.status in ('unknown', 'pending')))
       order by p.updated_at
       limit ${o.batch}`.execute(db);
  return rows;
}

async function recordLookupFailed(deps: WorkerDeps, paymentId: string, error: string) {
  await sql`insert into gateway_reconciliation_differences (payment_id, provider, kind, detail)
            values (${paymentId}::uuid, 'any', 'lookup_failed', ${JSON.stringify({ error })}::jsonb)
            on conflict (payment_id, provider, kind) where resolved_at is null do nothing`.execute(deps.db);
}

/** One payment: learn from the lookup, then record what still differs. Returns the count. */
async function reconcilePayment(
  deps: WorkerDeps,
  seen: PaymentRow,
  reported: Map<Provider, GatewayCharge[]>,
): Promise<number> {
  return deps.db.transaction().execute(async (trx) => {
    const payment = await lockPaymentById(trx, seen.id);
    // Changed since it was selected (a refund settling, a webhook): compared at the next run, with a
    // lookup made after the change.
    if (payment?.version !== seen.version) return 0;
    const paymentId = payment.id;
    let current = payment;
    for (const [provider, charges] of reported) {
      for (const charge of charges) {
        if (charge.amount !== payment.amount || charge.currency !== payment.currency) continue;
        const attempts = await listAttempts(trx, paymentId);
        let attempt = attempts.find((a) => a.provider === provider && a.gateway_charge_id === charge.id);
        if (attempt?.status === charge.status) continue;
        attempt ??= await recordDiscovered(trx, current, provider, charge);
        const final = isFinal(attempt);
        if (final && charge.status !== 'succeeded') continue;
        // A success where we recorded a decline or a cancel: the gateway took the money after all.
        let events: PaymentEvent[] = [];
        if (final) await recordSucceededAfterAll(trx, attempt);
        else events = (await recordReported(trx, attempt, charge, 'lookup')).events;
        current = (await advancePayment(trx, current, events, [], 'lookup', deps.saga)).payment;
      }
    }
    const differences = compare(current, await listAttempts(trx, paymentId), reported);
    for (const d of differences) {
      await sql`insert into gateway_reconciliation_differences (payment_id, provider, kind, detail)
                values (${paymentId}::uuid, ${d.provider}, ${d.kind}, ${JSON.stringify(d.detail)}::jsonb)
                on conflict (payment_id, provider, kind) where resolved_at is null do nothing`.execute(trx);
    }
    await sql`update gateway_reconciliation_differences
                 set resolved_at = now(), resolution = 'no longer found by the reconciliation'
               where payment_id = ${paymentId}::uuid and resolved_at is null
                 and (provider, kind) not in (select * from unnest(${differences.map((d) => d.provider)}::text[],
                                                                  ${differences.map((d) => d.kind)}::text[]))`.execute(
      trx,
    );
    await sql`insert into gateway_reconciliation_checks (payment_id, checked_version, checked_at, clean)
              values (${paymentId}::uuid, ${current.version}, now(), ${differences.length === 0})
              on conflict (payment_id) do update
                set checked_version = excluded.checked_version, checked_at = now(), clean = excluded.clean`.execute(
      trx,
    );
    return differences.length;
  });
}

/**
 * The invariant at the gateway: a COMPLETED, PARTIALLY_REFUNDED or REFUNDED payment has exactly one
 * succeeded charge, at its provider, for its amount, refunded by as much as the payment says; every
 * other charge that took money has been given all of it back.
 */
function compare(
  payment: PaymentRow,
  attempts: ChargeAttempt[],
  reported: Map<Provider, GatewayCharge[]>,
): Difference[] {
  const differences: Difference[] = [];
  const winner = payment.saga_step === 'completed' ? keptCharge(payment, attempts) : undefined;
  for (const [provider, charges] of reported) {
    for (const charge of charges) {
      const isWinner = winner?.provider === provider && winner.gateway_charge_id === charge.id;
      if (isWinner) {
        if (charge.status !== 'succeeded')
          differences.push({
            provider,
            kind: 'charge_missing',
            detail: { charge_id: charge.id, status: charge.status },
          });
        if (charge.amount !== payment.amount || charge.currency !== payment.currency)
          differences.push({
            provider,
            kind: 'amount_mismatch',
            detail: { charge_id: charge.id, amount: charge.amount, currency: charge.currency },
          });
        if ((charge.refunded ?? 0) !== payment.refunded_amount)
          differences.push({
            provider,
            kind: 'refunds_mismatch',
            detail: {
              charge_id: charge.id,
              gateway_refunded: charge.refunded ?? 0,
              refunded_amount: payment.refunded_amount,
            },
          });
      } else if (charge.status === 'succeeded' && (charge.refunded ?? 0) < charge.amount) {
        differences.push({
          provider,
          kind: 'unexpected_charge',
          detail: {
            charge_id: charge.id,
            amount: charge.amount,
            refunded: charge.refunded ?? 0,
            status: payment.status,
          },
        });
      }
    }
  }
  if (winner && !(reported.get(winner.provider) ?? []).some((c) => c.id === winner.gateway_charge_id))
    differences.push({
      provider: winner.provider,
      kind: 'charge_missing',
      detail: { charge_id: winner.gateway_charge_id },
    });
  return differences;
}

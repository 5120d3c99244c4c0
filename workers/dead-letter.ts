import type { Task } from 'graphile-worker';
import { AppError } from '../app/errors.ts';
import { GatewayAnswerMismatch } from '../app/payments/charge-attempts.ts';
import { gatewayAnswerMismatchTotal } from '../app/payments/payment.metrics.ts';

/** A failure that retrying cannot fix: the job is dead-lettered at once. */
export class PermanentJobError extends Error {
  override name = 'PermanentJobError';
}

/**
 * What a payment's steps say about a failed job: a stable code, never the error's text (a raw SQL
 * or connection error names tables, hosts and values; the payment and its steps are public). The
 * text stays in dead_letter_jobs.last_error (operators, behind the admin token) and in the
 * worker's log under the job id.
 */
export function publicErrorCode(err: unknown): string {
  if (err instanceof AppError) return err.code;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return 'DATABASE_ERROR'; // a SQLSTATE
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return 'CONNECTION_ERROR'; // ECONNRESET...
  return 'STEP_FAILED';
}

/**
 * Wraps a task so that a job that spends its attempts lands in dead_letter_jobs (with payload,
 * attempts, last error, first and last failure time) and shows in its payment's steps (by code and
 * job id: publicErrorCode); the job
 * then completes in graphile-worker. Earlier failures are recorded as 'retrying' steps and
 * rethrown, so graphile-worker retries them with its backoff. If the worker dies on the last
 * attempt, dead_letter__sweep() (cron) catches the job instead; both dedupe on the job id.
 * A gateway answer that does not match its payment is dead-lettered at once: asking again would
 * get the same answer, and it must never complete the payment.
 */
export function withDeadLetter(task: Task): Task {
  return async (payload, helpers) => {
    try {
      await task(payload, helpers);
    } catch (err) {
      const { job } = helpers;
      const error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      const step = { error_code: publicErrorCode(err), job_id: Number(job.id) };
      const paymentId = paymentIdOf(payload);
      const mismatch = err instanceof GatewayAnswerMismatch;
      if (mismatch) gatewayAnswerMismatchTotal.inc({ provider: err.provider, source: job.task_identifier });
      const final = mismatch || err instanceof PermanentJobError || job.attempts >= job.max_attempts;
      await helpers.withPgClient(async (client) => {
        if (!final) {
          if (paymentId) {
            await client.query(
              `insert into payment_steps (payment_id, name, status, attempt, detail)
               values ($1, $2, 'retrying', $3, $4::jsonb) on conflict do nothing`,
              [paymentId, job.task_identifier, job.attempts, JSON.stringify(step)],
            );
          }
          return;
        }
        await client.query('begin');
        try {
          const { rows } = await client.query<{ id: number }>(
            `insert into dead_letter_jobs (job_id, task, payload, attempts, last_error, payment_id, first_failed_at)
             values ($1, $2, $3, $4, $5, $6,
                     coalesce((select min(at) from payment_steps
                                where payment_id = $6 and name = $2 and status = 'retrying'), now()))
             on conflict (job_id) do nothing returning id`,
            [job.id, job.task_identifier, JSON.stringify(payload), job.attempts, error, paymentId],
          );
          if (paymentId && rows[0]) {
            await client.query(
              `insert into payment_steps (payment_id, name, status, attempt, detail)
               values ($1, $2, 'dead_lettered', $3, $4::jsonb || jsonb_build_object('dead_letter_id', $5::bigint))
               on conflict do nothing`,
              [paymentId, job.task_identifier, job.attempts, JSON.stringify(step), rows[0].id],
            );
          }
          await client.query('commit');
        } catch (dbErr) {
          await client.query('rollback');
          throw dbErr;
        }
      });
      if (!final) throw err;
      helpers.logger.error(
        `job ${job.id} (${job.task_identifier}) dead-lettered after ${job.attempts} attempts: ${error}`,
      );
    }
  };
}

function paymentIdOf(payload: unknown): string | null {
  const id = (payload as { paymentId?: unknown } | null)?.paymentId;
  return typeof id === 'string' && /^[0-9a-f-]{36}$/i.test(id) ? id : null;
}

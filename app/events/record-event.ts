import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Trx } from '../db/database.ts';
import { type AggregateType, type EventData, type EventType, eventCatalogue } from './catalogue.ts';

/** A graphile-worker job to enqueue in the same transaction as the event. */
export interface NextJob {
  task: string;
  payload: Record<string, unknown>;
  /** Deduplicates: a second add_job with the same key replaces the pending job. */
  jobKey?: string;
  /**
   * Runs this many seconds after it is enqueued, by Postgres' clock: graphile-worker compares
   * run_at with the database's now(), so a time taken from this process's clock (which may be off)
   * would make the job run early or late.
   */
  delaySeconds?: number;
  maxAttempts?: number;
}

export interface RecordEventInput<T extends EventType> {
  type: T;
  aggregateId: string;
  /** The aggregate's version before this event (0 for the first); refused with WP001 if stale. */
  expectedVersion: number;
  data: EventData<T>;
  traceId: string;
  next?: NextJob;
  eventId?: string;
}

export interface RecordedEvent {
  eventId: string;
  version: number;
  occurredAt: Date;
}

/**
 * The one write path, TypeScript side. Validates the event's data against the catalogue, then
 * calls event__append (db/functions/event__append.sql), which appends the event, writes its outbox
 * row and enqueues `next`, all on `trx`: nothing is visible until the caller commits, and a
 * rollback leaves no event, no outbox row and no job.
 */
export async function recordEvent<T extends EventType>(
  trx: Trx,
  input: RecordEventInput<T>,
): Promise<RecordedEvent> {
  const aggregateType: AggregateType = eventCatalogue[input.type].aggregateType;
  const data = validEventData(input.type, input.data);
  const eventId = input.eventId ?? randomUUID();
  const next = input.next;
  const { rows } = await sql<{ version: number; occurred_at: Date }>`
    select version, occurred_at from event__append(
      ${eventId}::uuid, ${aggregateType}, ${input.aggregateId}::uuid, ${input.expectedVersion}::int,
      ${input.type}, ${JSON.stringify(data)}::jsonb, ${input.traceId},
      ${next?.task ?? null}, ${next ? JSON.stringify(next.payload) : null}::json, ${next?.jobKey ?? null},
      clock_timestamp() + make_interval(secs => ${next?.delaySeconds ?? null}::float8),
      ${next?.maxAttempts ?? null}::int)`.execute(trx);
  const row = rows[0];
  if (!row) throw new Error('event__append returned no row');
  return { eventId, version: row.version, occurredAt: row.occurred_at };
}

/** An event's data checked against the catalogue: a malformed event never reaches the store. */
export function validEventData<T extends EventType>(type: T, data: EventData<T>): unknown {
  return eventCatalogue[type].data.parse(data);
}

/** A pending job, by its key, that a transition makes pointless (removed in the same transaction). */
export interface JobRemoval {
  removeKey: string;
}

/** A job change as event__append, payment__change and job__apply take it (JSON). */
export function jobSpec(job: NextJob | JobRemoval) {
  if ('removeKey' in job) return { remove_key: job.removeKey };
  return {
    task: job.task,
    payload: job.payload,
    key: job.jobKey ?? null,
    delay_seconds: job.delaySeconds ?? null,
    max_attempts: job.maxAttempts ?? null,
  };
}

/**
 * Enqueues a job on `trx` without an event, for a transition whose event belongs to another
 * aggregate, or none (a refund asked again later). Same transaction, same guarantees; job__apply
 * schedules it by the database's clock, as payment__change does.
 */
export async function enqueueJob(trx: Trx, job: NextJob): Promise<void> {
  await sql`select job__apply(${JSON.stringify(jobSpec(job))}::jsonb)`.execute(trx);
}

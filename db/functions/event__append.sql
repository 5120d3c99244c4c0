-- The one write path. Every state change calls this inside its own transaction, after changing
-- its state rows: it appends the event (optimistic version check), writes the outbox row shaped
-- as the Kafka message, and, when asked, enqueues the saga's next job in the same transaction.
-- Nothing here commits: the caller's COMMIT makes state, event, outbox row and job visible at once.
--
-- Raises WP001 when p_expected_version is not the aggregate's current version (a concurrent
-- writer got there first); the unique constraint event_version_unique backs this up under races.
CREATE OR REPLACE FUNCTION event__append(
  p_event_id          uuid,
  p_aggregate_type    text,
  p_aggregate_id      uuid,
  p_expected_version  integer,
  p_event_type        text,
  p_data              jsonb,
  p_trace_id          text,
  p_job_identifier    text DEFAULT NULL,
  p_job_payload       json DEFAULT NULL,
  p_job_key           text DEFAULT NULL,
  p_job_run_at        timestamptz DEFAULT NULL,
  p_job_max_attempts  integer DEFAULT NULL
) RETURNS events
LANGUAGE plpgsql AS $$
DECLARE
  v_current integer;
  v_event   events;
BEGIN
  SELECT e.version INTO v_current
    FROM events e WHERE e.aggregate_id = p_aggregate_id
    ORDER BY e.version DESC LIMIT 1;
  IF coalesce(v_current, 0) <> p_expected_version THEN
    RAISE EXCEPTION 'stale version for % %: expected %, current %',
      p_aggregate_type, p_aggregate_id, p_expected_version, coalesce(v_current, 0)
      USING ERRCODE = 'WP001';
  END IF;

  INSERT INTO events (event_id, aggregate_type, aggregate_id, version, event_type, data, trace_id)
  VALUES (p_event_id, p_aggregate_type, p_aggregate_id, p_expected_version + 1, p_event_type, p_data, p_trace_id)
  RETURNING * INTO v_event;

  PERFORM outbox__write(v_event);

  IF p_job_identifier IS NOT NULL THEN
    PERFORM graphile_worker.add_job(
      p_job_identifier,
      coalesce(p_job_payload, '{}'::json),
      job_key => p_job_key,
      -- Not now(), the transaction's start: the job is scheduled when it is enqueued, so the
      -- pickup latency measured from run_at is the queue's, not this transaction's duration.
      run_at => coalesce(p_job_run_at, clock_timestamp()),
      max_attempts => coalesce(p_job_max_attempts, 25));
  END IF;

  RETURN v_event;
END;
$$;

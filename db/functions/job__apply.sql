-- Applies one job change described as JSON, the shape the TypeScript side sends (jobSpec and
-- jobRemoval in app/events/record-event.ts): enqueues {"task", "payload", "key", "delay_seconds",
-- "max_attempts"}, with run_at by this database's clock plus the delay, never a caller's clock; or
-- removes the job {"remove_key"} (graphile-worker keeps a locked one from running again instead).
-- Nothing here commits.
CREATE OR REPLACE FUNCTION job__apply(p_job jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF p_job ? 'remove_key' THEN
    PERFORM graphile_worker.remove_job(p_job ->> 'remove_key');
    RETURN;
  END IF;
  PERFORM graphile_worker.add_job(
    p_job ->> 'task', coalesce((p_job -> 'payload')::json, '{}'::json),
    job_key => p_job ->> 'key',
    run_at => clock_timestamp() + make_interval(secs => coalesce((p_job ->> 'delay_seconds')::float8, 0)),
    max_attempts => coalesce((p_job ->> 'max_attempts')::integer, 25));
END;
$$;

-- Enqueues one job described as JSON, the shape the TypeScript side sends (jobSpec in
-- app/events/record-event.ts): {"task", "payload", "key", "delay_seconds", "max_attempts"}. run_at
-- is this database's clock plus the delay, never a caller's clock. Nothing here commits.
CREATE OR REPLACE FUNCTION job__add(p_job jsonb) RETURNS void
LANGUAGE sql AS $$
  SELECT graphile_worker.add_job(
    p_job ->> 'task', coalesce((p_job -> 'payload')::json, '{}'::json),
    job_key => p_job ->> 'key',
    run_at => clock_timestamp() + make_interval(secs => coalesce((p_job ->> 'delay_seconds')::float8, 0)),
    max_attempts => coalesce((p_job ->> 'max_attempts')::integer, 25));
$$;

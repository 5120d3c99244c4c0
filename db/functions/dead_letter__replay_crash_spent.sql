-- Replays the open dead letters of saga jobs that never failed on their own: every attempt was cut
-- short (its worker killed, its runner stopped with Postgres away), so the job recorded no error
-- (`last_error` 'unknown', as dead_letter__sweep writes it). Such a job says nothing about its
-- work; running it again is what an operator would do. At most p_max_auto product replays per
-- payment and task: a job that kills its worker every time (a poison job) stays dead-lettered for
-- an operator. Steps are idempotent and a charge asks again under its attempt's key. The same job
-- is the same task and payload without its `traceparent` (a traced step's jobs each carry the span
-- that enqueued them; with it, every recurrence would count from zero).
-- Called by the dead-letter sweep cron; returns how many it replayed.
-- Usage from psql: SELECT dead_letter__replay_crash_spent(5, 3);
CREATE OR REPLACE FUNCTION dead_letter__replay_crash_spent(p_max_attempts integer DEFAULT 5, p_max_auto integer DEFAULT 3)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_letter record;
  v_count integer := 0;
BEGIN
  FOR v_letter IN
    SELECT d.id FROM dead_letter_jobs d
     WHERE d.replayed_at IS NULL AND d.resolved_at IS NULL
       AND d.last_error = 'unknown' AND d.task LIKE 'payment\_\_%'
       AND (SELECT count(*) FROM dead_letter_jobs p
             WHERE p.replayed_by = 'product' AND p.task = d.task
               AND p.payload - 'traceparent' = d.payload - 'traceparent') < p_max_auto
     ORDER BY d.id
  LOOP
    PERFORM dead_letter__replay(v_letter.id, p_max_attempts);
    UPDATE dead_letter_jobs SET replayed_by = 'product' WHERE id = v_letter.id;
    v_count := v_count + 1;
  END LOOP;
  RETURN v_count;
END;
$$;

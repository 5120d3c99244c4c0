-- graphile-worker leaves a killed worker's jobs locked for 4 hours. Every live worker calls this
-- every WORKER_SWEEP_SECONDS: jobs locked for longer than p_dead_after_seconds by a graphile
-- worker id that no live process (heartbeat within p_dead_after_seconds) claims are unlocked with
-- graphile-worker's own force_unlock_workers, and run again. Returns the worker ids unlocked.
-- Both sides are Postgres' clock (heartbeats are stamped with now()), so a worker whose own clock
-- is off is judged by when it last beat, not by what time it thinks it is. p_now is for tests.
-- Usage from psql: SELECT worker__unlock_dead(20);
DROP FUNCTION IF EXISTS worker__unlock_dead(integer);
CREATE OR REPLACE FUNCTION worker__unlock_dead(p_dead_after_seconds integer, p_now timestamptz DEFAULT now())
RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
  v_dead text[];
BEGIN
  SELECT array_agg(DISTINCT j.locked_by) INTO v_dead
    FROM graphile_worker.jobs j
   WHERE j.locked_by IS NOT NULL
     AND j.locked_at < p_now - make_interval(secs => p_dead_after_seconds)
     AND NOT EXISTS (
       SELECT 1 FROM process_heartbeats h
        WHERE h.role = 'worker'
          AND h.last_seen_at > p_now - make_interval(secs => p_dead_after_seconds)
          AND j.locked_by = ANY (h.graphile_worker_ids));
  IF v_dead IS NOT NULL THEN
    PERFORM graphile_worker.force_unlock_workers(v_dead);
  END IF;
  DELETE FROM process_heartbeats
   WHERE role = 'worker' AND last_seen_at < p_now - make_interval(secs => greatest(p_dead_after_seconds * 10, 300));
  RETURN coalesce(v_dead, '{}');
END;
$$;

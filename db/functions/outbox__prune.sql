-- Outbox retention: deletes outbox rows older than p_older_than whose transactions the relay has
-- already had acknowledged by Kafka (relay_progress.last_commit_at). Deleting rows never harms the
-- replication slot: the relay reads the WAL, not the table, and the publication publishes inserts
-- only. The events themselves stay in `events` forever. Returns how many rows went.
-- p_now is for tests (a clock they control). Usage from psql: SELECT outbox__prune(interval '7 days');
DROP FUNCTION IF EXISTS outbox__prune(interval);
CREATE OR REPLACE FUNCTION outbox__prune(p_older_than interval, p_now timestamptz DEFAULT now()) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_relayed_until timestamptz;
  v_count bigint;
BEGIN
  SELECT min(last_commit_at) INTO v_relayed_until FROM relay_progress;
  IF v_relayed_until IS NULL THEN
    RETURN 0;  -- nothing is known to be relayed yet
  END IF;
  PERFORM set_config('app.outbox_prune', 'on', true);
  DELETE FROM outbox
   WHERE created_at < p_now - p_older_than
     AND created_at < v_relayed_until;
  GET DIAGNOSTICS v_count = ROW_COUNT;
  PERFORM set_config('app.outbox_prune', 'off', true);
  RETURN v_count;
END;
$$;

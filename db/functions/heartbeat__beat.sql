-- Records that a process is alive, with the graphile-worker worker ids it runs (workers only),
-- so the jobs of a process that stops beating can be unlocked (worker__unlock_dead).
DROP FUNCTION IF EXISTS heartbeat__beat(text, text, integer, text);
CREATE OR REPLACE FUNCTION heartbeat__beat(
  p_instance_id text, p_role text, p_pid integer, p_hostname text, p_graphile_worker_ids text[] DEFAULT '{}'
) RETURNS void LANGUAGE sql AS $$
  INSERT INTO process_heartbeats (instance_id, role, pid, hostname, graphile_worker_ids)
  VALUES (p_instance_id, p_role, p_pid, p_hostname, p_graphile_worker_ids)
  ON CONFLICT (instance_id) DO UPDATE
    SET last_seen_at = now(), graphile_worker_ids = excluded.graphile_worker_ids;
$$;

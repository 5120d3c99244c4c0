-- Records that a process is alive. Called every few seconds by workers (and later the relay).
CREATE OR REPLACE FUNCTION heartbeat__beat(p_instance_id text, p_role text, p_pid integer, p_hostname text)
RETURNS void LANGUAGE sql AS $$
  INSERT INTO process_heartbeats (instance_id, role, pid, hostname)
  VALUES (p_instance_id, p_role, p_pid, p_hostname)
  ON CONFLICT (instance_id) DO UPDATE SET last_seen_at = now();
$$;

-- Outbox rows without their event, and events without their outbox row. Retention deletes
-- relayed rows older than p_retention, so only events newer than that, or not yet relayed
-- (after relay_progress.last_commit_at), must still have a row. Usage:
-- SELECT * FROM audit__outbox(interval '168 hours');
CREATE OR REPLACE FUNCTION audit__outbox(p_retention interval DEFAULT interval '168 hours')
RETURNS TABLE (problem text, event_id uuid, outbox_id bigint)
LANGUAGE sql STABLE AS $$
  SELECT 'outbox row without event', o.event_id, o.id
    FROM outbox o LEFT JOIN events e ON e.event_id = o.event_id
   WHERE e.event_id IS NULL
  UNION ALL
  SELECT 'event without outbox row', e.event_id, NULL
    FROM events e
   WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.event_id = e.event_id)
     AND (e.occurred_at > now() - p_retention
          OR e.occurred_at >= coalesce((SELECT min(last_commit_at) FROM relay_progress), '-infinity'));
$$;

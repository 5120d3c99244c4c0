-- Re-publishes a range of events (by events.position, inclusive) to Kafka: their outbox rows are
-- written again, in one transaction, and the relay streams the new inserts like any other. The
-- events are unchanged; consumers see them again and drop them by event_id. Old versions may now
-- arrive after newer ones of the same aggregate: replayers should order by `version`.
-- Returns how many events were re-published.
-- Usage from psql: SELECT outbox__republish(1200, 1450);
CREATE OR REPLACE FUNCTION outbox__republish(p_from_position bigint, p_to_position bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_event events;
  v_count bigint := 0;
BEGIN
  PERFORM set_config('app.outbox_prune', 'on', true);
  DELETE FROM outbox o USING events e
   WHERE o.event_id = e.event_id AND e.position BETWEEN p_from_position AND p_to_position;
  PERFORM set_config('app.outbox_prune', 'off', true);
  FOR v_event IN SELECT * FROM events WHERE position BETWEEN p_from_position AND p_to_position ORDER BY position LOOP
    PERFORM outbox__write(v_event);
    v_count := v_count + 1;
  END LOOP;
  RETURN v_count;
END;
$$;

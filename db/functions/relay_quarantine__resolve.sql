-- Closes an entry of relay_quarantine (an outbox row the relay set aside as too large to send):
-- 'republished' writes the event's outbox row again (outbox__republish), for when the limits were
-- raised so that it now fits; 'accepted' records that consumers will go without it, and needs a
-- note saying why. Raises WP010 if there is no open entry with that id, WP011 for an acceptance
-- without a note. Usage from psql:
--   SELECT relay_quarantine__resolve(7, 'republished');
--   SELECT relay_quarantine__resolve(7, 'accepted', 'payload fixed downstream, ticket OPS-123');
CREATE OR REPLACE FUNCTION relay_quarantine__resolve(p_id bigint, p_resolution text, p_note text DEFAULT NULL)
RETURNS relay_quarantine
LANGUAGE plpgsql AS $$
DECLARE
  v_entry relay_quarantine;
  v_position bigint;
BEGIN
  SELECT * INTO v_entry FROM relay_quarantine WHERE id = p_id AND resolved_at IS NULL FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no open relay_quarantine entry %', p_id USING ERRCODE = 'WP010';
  END IF;
  IF p_resolution = 'accepted' AND coalesce(btrim(p_note), '') = '' THEN
    RAISE EXCEPTION 'accepting a quarantined row needs a note saying why' USING ERRCODE = 'WP011';
  END IF;
  IF p_resolution = 'republished' THEN
    SELECT position INTO v_position FROM events WHERE event_id = v_entry.event_id;
    PERFORM outbox__republish(v_position, v_position);
  END IF;
  UPDATE relay_quarantine
     SET resolved_at = now(), resolution = p_resolution, resolution_note = p_note
   WHERE id = p_id
  RETURNING * INTO v_entry;
  RETURN v_entry;
END;
$$;

-- The scheduled audit, incremental: checks the aggregates that have events since an earlier run
-- (audit__aggregates; a payment also when a wallet event names it), the outbox rows of those
-- events, stuck payments and the relay's quarantine. What the latest incremental run and the
-- latest full run found wrong (the aggregates and events they flagged) is checked again, so a
-- discrepancy stays reported until it is repaired; a finding of the full run that names no
-- aggregate (the global money sums, an old event's missing outbox row) is carried as its count
-- until the next full run. Its cost follows what happened since and the histories of the
-- aggregates it checks, not the size of the whole history.
--
-- It starts from the position reached by the latest run that is at least p_overlap old: a
-- transaction still open at that run (its events invisible to it, their positions possibly lower)
-- has committed since, since the roles end their transactions within a minute. With no such run,
-- or none that recorded a position, it runs the full audit (audit__run) instead.
--
-- What it cannot see: a change made without an event (a manual UPDATE of a balance). The full
-- audit finds those: hourly (cron), and on demand (POST /admin/audit, SELECT * FROM audit__run()).
-- Stores the result in audit_runs (kind 'incremental') and returns it.
CREATE OR REPLACE FUNCTION audit__run_incremental(p_stuck_after interval DEFAULT interval '10 minutes',
                                                  p_outbox_retention interval DEFAULT interval '168 hours',
                                                  p_overlap interval DEFAULT interval '5 minutes')
RETURNS audit_runs
LANGUAGE plpgsql AS $$
DECLARE
  v_from     bigint;
  v_through  bigint;
  v_inc      audit_runs;
  v_full     audit_runs;
  v_events   uuid[];
  v_missing  uuid[];
  v_wallets  uuid[];
  v_payments uuid[];
  v_found    record;
  v_flagged_wallets  uuid[] := '{}';
  v_flagged_payments uuid[] := '{}';
  v_details  jsonb;
  v_total    integer;
  v_run      audit_runs;
BEGIN
  SELECT r.through_position INTO v_from FROM audit_runs r
   WHERE r.through_position IS NOT NULL AND r.ran_at < now() - p_overlap
   ORDER BY r.ran_at DESC LIMIT 1;
  IF v_from IS NULL THEN
    RETURN audit__run(p_stuck_after, p_outbox_retention);
  END IF;
  SELECT coalesce(max(e.position), v_from) INTO v_through FROM events e;
  SELECT * INTO v_inc FROM audit_runs WHERE kind = 'incremental' ORDER BY id DESC LIMIT 1;
  SELECT * INTO v_full FROM audit_runs WHERE kind = 'full' ORDER BY id DESC LIMIT 1;

  SELECT coalesce(array_agg(DISTINCT e.aggregate_id) FILTER (WHERE e.aggregate_type = 'wallet'), '{}'),
         coalesce(array_agg(DISTINCT CASE WHEN e.aggregate_type = 'payment' THEN e.aggregate_id
                                          ELSE (e.data ->> 'payment_id')::uuid END)
                    FILTER (WHERE e.aggregate_type = 'payment' OR e.data ? 'payment_id'), '{}')
    INTO v_wallets, v_payments
    FROM events e WHERE e.position > v_from AND e.position <= v_through;
  v_wallets := v_wallets
    || ARRAY(SELECT jsonb_array_elements_text(coalesce(v_inc.flagged -> 'wallets', '[]')))::uuid[]
    || ARRAY(SELECT jsonb_array_elements_text(coalesce(v_full.flagged -> 'wallets', '[]')))::uuid[];
  v_payments := v_payments
    || ARRAY(SELECT jsonb_array_elements_text(coalesce(v_inc.flagged -> 'payments', '[]')))::uuid[]
    || ARRAY(SELECT jsonb_array_elements_text(coalesce(v_full.flagged -> 'payments', '[]')))::uuid[];
  v_events := ARRAY(SELECT jsonb_array_elements_text(coalesce(v_inc.flagged -> 'events', '[]')))::uuid[];

  v_details := jsonb_build_object('wallet_balances', 0, 'money_conservation', 0, 'payment_status', 0);
  FOR v_found IN SELECT * FROM audit__aggregates(v_wallets, v_payments) LOOP
    v_details := jsonb_set(v_details, ARRAY[v_found.check_name], to_jsonb((v_details ->> v_found.check_name)::int + 1));
    IF v_found.check_name = 'wallet_balances' THEN
      v_flagged_wallets := v_flagged_wallets || v_found.aggregate_id;
    ELSE
      v_flagged_payments := v_flagged_payments || v_found.aggregate_id;
    END IF;
  END LOOP;

  -- Events without their outbox row: the new ones, and those found so before.
  SELECT coalesce(array_agg(e.event_id), '{}') INTO v_missing
    FROM events e
   WHERE ((e.position > v_from AND e.position <= v_through) OR e.event_id = ANY (v_events))
     AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.event_id = e.event_id)
     AND (e.occurred_at > now() - p_outbox_retention
          OR e.occurred_at >= coalesce((SELECT min(last_commit_at) FROM relay_progress), '-infinity'));

  v_details := v_details || jsonb_build_object(
    'stuck_payments', (SELECT count(*) FROM audit__stuck_payments(p_stuck_after)),
    'outbox', greatest(cardinality(v_missing), coalesce((v_full.details ->> 'outbox')::int, 0)),
    'relay_quarantine', (SELECT count(*) FROM relay_quarantine WHERE resolved_at IS NULL));
  v_details := jsonb_set(v_details, '{money_conservation}', to_jsonb(greatest(
    (v_details ->> 'money_conservation')::int, coalesce((v_full.details ->> 'money_conservation')::int, 0))));
  SELECT sum(value::int) INTO v_total FROM jsonb_each_text(v_details);
  INSERT INTO audit_runs (discrepancies, details, kind, through_position, flagged)
  VALUES (v_total, v_details, 'incremental', v_through,
          jsonb_build_object('wallets', (SELECT coalesce(jsonb_agg(DISTINCT w), '[]') FROM unnest(v_flagged_wallets) w),
                             'payments', (SELECT coalesce(jsonb_agg(DISTINCT p), '[]') FROM unnest(v_flagged_payments) p),
                             'events', to_jsonb(v_missing[1:1000])))
  RETURNING * INTO v_run;
  DELETE FROM audit_runs WHERE ran_at < now() - interval '30 days';
  RETURN v_run;
END;
$$;

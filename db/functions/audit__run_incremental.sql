-- The scheduled audit, incremental: checks the aggregates that have events since an earlier run
-- (audit__aggregates), the aggregates the latest run found wrong (so a discrepancy stays reported
-- until it is repaired), the outbox rows of those events, stuck payments and the relay's
-- quarantine. Its cost follows what happened since, not the size of the history.
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
  v_last     audit_runs;
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
  SELECT * INTO v_last FROM audit_runs ORDER BY id DESC LIMIT 1;

  SELECT coalesce(array_agg(DISTINCT e.aggregate_id) FILTER (WHERE e.aggregate_type = 'wallet'), '{}'),
         coalesce(array_agg(DISTINCT e.aggregate_id) FILTER (WHERE e.aggregate_type = 'payment'), '{}')
    INTO v_wallets, v_payments
    FROM events e WHERE e.position > v_from AND e.position <= v_through;
  v_wallets := v_wallets || coalesce(ARRAY(SELECT jsonb_array_elements_text(v_last.flagged -> 'wallets'))::uuid[], '{}');
  v_payments := v_payments || coalesce(ARRAY(SELECT jsonb_array_elements_text(v_last.flagged -> 'payments'))::uuid[], '{}');

  v_details := jsonb_build_object('wallet_balances', 0, 'money_conservation', 0, 'payment_status', 0);
  FOR v_found IN SELECT * FROM audit__aggregates(v_wallets, v_payments) LOOP
    v_details := jsonb_set(v_details, ARRAY[v_found.check_name], to_jsonb((v_details ->> v_found.check_name)::int + 1));
    IF v_found.check_name = 'wallet_balances' THEN
      v_flagged_wallets := v_flagged_wallets || v_found.aggregate_id;
    ELSE
      v_flagged_payments := v_flagged_payments || v_found.aggregate_id;
    END IF;
  END LOOP;

  v_details := v_details || jsonb_build_object(
    'stuck_payments', (SELECT count(*) FROM audit__stuck_payments(p_stuck_after)),
    'outbox', (SELECT count(*) FROM events e
                WHERE e.position > v_from AND e.position <= v_through
                  AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.event_id = e.event_id)
                  AND (e.occurred_at > now() - p_outbox_retention
                       OR e.occurred_at >= coalesce((SELECT min(last_commit_at) FROM relay_progress), '-infinity'))),
    'relay_quarantine', (SELECT count(*) FROM relay_quarantine WHERE resolved_at IS NULL));
  SELECT sum(value::int) INTO v_total FROM jsonb_each_text(v_details);
  INSERT INTO audit_runs (discrepancies, details, kind, through_position, flagged)
  VALUES (v_total, v_details, 'incremental', v_through,
          jsonb_build_object('wallets', (SELECT coalesce(jsonb_agg(DISTINCT w), '[]') FROM unnest(v_flagged_wallets) w),
                             'payments', (SELECT coalesce(jsonb_agg(DISTINCT p), '[]') FROM unnest(v_flagged_payments) p)))
  RETURNING * INTO v_run;
  DELETE FROM audit_runs WHERE ran_at < now() - interval '30 days';
  RETURN v_run;
END;
$$;

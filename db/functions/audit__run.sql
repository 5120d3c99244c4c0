-- The scheduled consistency check: runs every audit, stores the result in audit_runs and returns
-- it. discrepancies = the number of rows (or failed checks) across all audits.
-- Usage from psql: SELECT * FROM audit__run();
CREATE OR REPLACE FUNCTION audit__run(p_stuck_after interval DEFAULT interval '10 minutes',
                                      p_outbox_retention interval DEFAULT interval '168 hours')
RETURNS audit_runs
LANGUAGE plpgsql AS $$
DECLARE
  v_details jsonb;
  v_total integer;
  v_run audit_runs;
BEGIN
  v_details := jsonb_build_object(
    'wallet_balances', (SELECT count(*) FROM audit__wallet_balances()),
    'money_conservation', (SELECT count(*) FROM audit__money_conservation() WHERE NOT ok),
    'stuck_payments', (SELECT count(*) FROM audit__stuck_payments(p_stuck_after)),
    'payment_status', (SELECT count(*) FROM audit__payment_status()),
    'outbox', (SELECT count(*) FROM audit__outbox(p_outbox_retention)),
    -- Rows the relay set aside as too large: not on Kafka until an operator resolves them.
    'relay_quarantine', (SELECT count(*) FROM relay_quarantine WHERE resolved_at IS NULL));
  SELECT sum(value::int) INTO v_total FROM jsonb_each_text(v_details);
  INSERT INTO audit_runs (discrepancies, details) VALUES (v_total, v_details) RETURNING * INTO v_run;
  DELETE FROM audit_runs WHERE ran_at < now() - interval '30 days';
  RETURN v_run;
END;
$$;

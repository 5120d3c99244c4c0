-- Repair mode: sets the live wallets' and payments' fields that replay__verify reports to what
-- the event store says, logging every change to replay_repairs with p_reason. Rows missing on
-- one side are logged with field 'row' but not created or deleted. The ledger is not touched:
-- if it disagrees too, audit__wallet_balances keeps saying so. Returns how many fields changed.
-- Usage from psql: SELECT replay__repair('incident 42: balance drift', '<wallet id>');
CREATE OR REPLACE FUNCTION replay__repair(p_reason text, p_aggregate_id uuid DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_diff record;
  v_changed integer := 0;
BEGIN
  IF p_reason IS NULL OR length(trim(p_reason)) = 0 THEN
    RAISE EXCEPTION 'replay__repair needs a reason' USING ERRCODE = 'WP005';
  END IF;
  FOR v_diff IN SELECT * FROM replay__verify(p_aggregate_id) LOOP
    INSERT INTO replay_repairs (reason, aggregate_type, aggregate_id, field, live_value, replayed_value)
    VALUES (p_reason, v_diff.aggregate_type, v_diff.aggregate_id, v_diff.field, v_diff.live, v_diff.replayed);
    CONTINUE WHEN v_diff.field = 'row';
    IF v_diff.aggregate_type = 'wallet' AND v_diff.field IN ('balance', 'version') THEN
      UPDATE wallets w SET balance = r.balance, version = r.version, updated_at = now()
        FROM replay.wallets r WHERE r.id = w.id AND w.id = v_diff.aggregate_id;
      v_changed := v_changed + 1;
    ELSIF v_diff.aggregate_type = 'payment'
          AND v_diff.field IN ('status', 'failure_reason', 'provider', 'refunded_amount', 'version') THEN
      UPDATE payments p SET status = r.status, failure_reason = r.failure_reason, provider = r.provider,
                            refunded_amount = r.refunded_amount, version = r.version, updated_at = now()
        FROM replay.payments r WHERE r.id = p.id AND p.id = v_diff.aggregate_id;
      v_changed := v_changed + 1;
    END IF;
  END LOOP;
  RETURN v_changed;
END;
$$;

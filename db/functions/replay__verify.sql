-- Dry-run replay: rebuilds wallets and payments from the event store into the scratch schema
-- `replay` (replay.wallets, replay.payments), then lists every field where the live tables
-- disagree (a row missing on either side shows as '(missing)'). Changes no live row.
-- One aggregate (wallet or payment id), or everything when p_aggregate_id is NULL.
-- Usage from psql: SELECT * FROM replay__verify();   SELECT * FROM replay__verify('<wallet id>');
CREATE OR REPLACE FUNCTION replay__verify(p_aggregate_id uuid DEFAULT NULL)
RETURNS TABLE (aggregate_type text, aggregate_id uuid, field text, live text, replayed text)
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM replay.wallets r WHERE p_aggregate_id IS NULL OR r.id = p_aggregate_id;
  INSERT INTO replay.wallets SELECT * FROM replay__wallets_from_events(p_aggregate_id);
  DELETE FROM replay.payments r WHERE p_aggregate_id IS NULL OR r.id = p_aggregate_id;
  INSERT INTO replay.payments SELECT * FROM replay__payments_from_events(p_aggregate_id);

  RETURN QUERY
  SELECT 'wallet'::text, coalesce(w.id, r.id), f.name, f.live, f.replayed
    FROM (SELECT * FROM wallets x WHERE p_aggregate_id IS NULL OR x.id = p_aggregate_id) w
    FULL JOIN (SELECT * FROM replay.wallets y WHERE p_aggregate_id IS NULL OR y.id = p_aggregate_id) r ON r.id = w.id
    CROSS JOIN LATERAL (VALUES
      ('row', CASE WHEN w.id IS NULL THEN '(missing)' ELSE 'present' END, CASE WHEN r.id IS NULL THEN '(missing)' ELSE 'present' END),
      ('balance', w.balance::text, r.balance::text),
      ('version', w.version::text, r.version::text),
      ('currency', w.currency::text, r.currency),
      ('owner_id', w.owner_id, r.owner_id)
    ) AS f(name, live, replayed)
   WHERE f.live IS DISTINCT FROM f.replayed
  UNION ALL
  SELECT 'payment'::text, coalesce(p.id, r.id), f.name, f.live, f.replayed
    FROM (SELECT * FROM payments x WHERE p_aggregate_id IS NULL OR x.id = p_aggregate_id) p
    FULL JOIN (SELECT * FROM replay.payments y WHERE p_aggregate_id IS NULL OR y.id = p_aggregate_id) r ON r.id = p.id
    CROSS JOIN LATERAL (VALUES
      ('row', CASE WHEN p.id IS NULL THEN '(missing)' ELSE 'present' END, CASE WHEN r.id IS NULL THEN '(missing)' ELSE 'present' END),
      ('status', p.status, r.status),
      ('failure_reason', p.failure_reason, r.failure_reason),
      ('provider', p.provider, r.provider),
      ('refunded_amount', p.refunded_amount::text, r.refunded_amount::text),
      ('version', p.version::text, r.version::text),
      ('amount', p.amount::text, r.amount::text),
      ('wallet_id', p.wallet_id::text, r.wallet_id::text)
    ) AS f(name, live, replayed)
   WHERE f.live IS DISTINCT FROM f.replayed
   ORDER BY 1, 2, 3;
END;
$$;

-- Wallets whose cached balance differs from the sum of their ledger entries, or from the balance
-- their events replay to (replay__wallets_from_events), or whose version differs from their last
-- event's. An empty result means the wallets are consistent.
-- Usage: SELECT * FROM audit__wallet_balances();
CREATE OR REPLACE FUNCTION audit__wallet_balances()
RETURNS TABLE (wallet_id uuid, balance bigint, ledger_sum numeric, event_balance bigint, version integer, event_version integer)
LANGUAGE sql STABLE AS $$
  WITH ledger AS (
    SELECT l.wallet_id, sum(l.amount) AS total FROM ledger_entries l GROUP BY l.wallet_id
  )
  SELECT w.id, w.balance, coalesce(l.total, 0), coalesce(r.balance, 0), w.version, r.version
    FROM wallets w
    LEFT JOIN ledger l ON l.wallet_id = w.id
    LEFT JOIN replay__wallets_from_events() r ON r.id = w.id
   WHERE w.balance <> coalesce(l.total, 0)
      OR w.balance <> coalesce(r.balance, 0)
      OR w.version IS DISTINCT FROM r.version;
$$;

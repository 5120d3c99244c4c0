-- Wallets whose cached balance differs from the sum of their ledger entries, or from the balance
-- their events replay to (the last balance_after in wallet.deposited/debited/... data), or whose
-- version differs from their latest event's. An empty result means the wallets are consistent.
-- Usage: SELECT * FROM audit__wallet_balances();
CREATE OR REPLACE FUNCTION audit__wallet_balances()
RETURNS TABLE (wallet_id uuid, balance bigint, ledger_sum numeric, event_balance bigint, version integer, event_version integer)
LANGUAGE sql STABLE AS $$
  WITH ledger AS (
    SELECT l.wallet_id, sum(l.amount) AS total FROM ledger_entries l GROUP BY l.wallet_id
  ), replayed AS (
    SELECT DISTINCT ON (e.aggregate_id)
      e.aggregate_id,
      e.version,
      (SELECT (x.data ->> 'balance_after')::bigint
         FROM events x
        WHERE x.aggregate_id = e.aggregate_id AND x.data ? 'balance_after'
        ORDER BY x.version DESC LIMIT 1) AS balance
    FROM events e
    WHERE e.aggregate_type = 'wallet'
    ORDER BY e.aggregate_id, e.version DESC
  )
  SELECT w.id, w.balance, coalesce(l.total, 0), coalesce(r.balance, 0), w.version, r.version
    FROM wallets w
    LEFT JOIN ledger l ON l.wallet_id = w.id
    LEFT JOIN replayed r ON r.aggregate_id = w.id
   WHERE w.balance <> coalesce(l.total, 0)
      OR w.balance <> coalesce(r.balance, 0)
      OR w.version IS DISTINCT FROM r.version;
$$;

-- Wallets as the event store alone says they are (no ledger, no wallets table): balance is the
-- signed sum of the amounts in wallet.deposited/debited/debit_reversed/refund_credited, version
-- the last event's. The wallets in p_ids, or all of them when p_all (a constant from the callers,
-- so the planner keeps only one branch: with p_all false, the events come through their index).
-- Read-only.
CREATE OR REPLACE FUNCTION replay__wallets_of(p_ids uuid[], p_all boolean)
RETURNS TABLE (id uuid, owner_id text, currency text, balance bigint, version integer)
LANGUAGE sql STABLE AS $$
  SELECT e.aggregate_id,
         max(e.data ->> 'owner_id') FILTER (WHERE e.event_type = 'wallet.created'),
         max(e.data ->> 'currency') FILTER (WHERE e.event_type = 'wallet.created'),
         coalesce(sum(CASE e.event_type
                        WHEN 'wallet.deposited' THEN (e.data ->> 'amount')::bigint
                        WHEN 'wallet.debited' THEN -(e.data ->> 'amount')::bigint
                        WHEN 'wallet.debit_reversed' THEN (e.data ->> 'amount')::bigint
                        WHEN 'wallet.refund_credited' THEN (e.data ->> 'amount')::bigint
                        ELSE 0 END), 0)::bigint,
         max(e.version)
    FROM events e
   WHERE e.aggregate_type = 'wallet' AND (p_all OR e.aggregate_id = ANY (p_ids))
   GROUP BY e.aggregate_id;
$$;

-- One wallet, or all when p_wallet_id is NULL.
CREATE OR REPLACE FUNCTION replay__wallets_from_events(p_wallet_id uuid DEFAULT NULL)
RETURNS TABLE (id uuid, owner_id text, currency text, balance bigint, version integer)
LANGUAGE sql STABLE AS $$
  SELECT * FROM replay__wallets_of(ARRAY[p_wallet_id], p_wallet_id IS NULL);
$$;

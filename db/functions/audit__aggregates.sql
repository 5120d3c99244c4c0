-- The audit of chosen aggregates, for the incremental run (audit__run_incremental): what
-- audit__wallet_balances, audit__money_conservation and audit__payment_status check over whole
-- tables, checked here for the given wallets and payments only, each through its own indexes, so
-- the cost follows the number of aggregates, not the size of the history.
--   wallet_balances:    the balance differs from the wallet's ledger sum or its events' replay, or
--                       the version from its last event's
--   money_conservation: a payment's ledger entries differ from what its state says moved (the
--                       debit once past the debit step, its reversal iff FAILED, refunds =
--                       refunded_amount)
--   payment_status:     status, failure reason or refunded amount differ from its event stream
-- Usage: SELECT * FROM audit__aggregates(ARRAY[...]::uuid[], ARRAY[...]::uuid[]);
CREATE OR REPLACE FUNCTION audit__aggregates(p_wallets uuid[], p_payments uuid[])
RETURNS TABLE (check_name text, aggregate_id uuid)
LANGUAGE sql STABLE AS $$
  SELECT 'wallet_balances', w.id
    FROM wallets w
    CROSS JOIN LATERAL (SELECT coalesce(sum(l.amount), 0) AS total
                          FROM ledger_entries l WHERE l.wallet_id = w.id) l
    LEFT JOIN replay__wallets_of(p_wallets, false) r ON r.id = w.id
   WHERE w.id = ANY (p_wallets)
     AND (w.balance <> l.total OR w.balance <> coalesce(r.balance, 0) OR w.version IS DISTINCT FROM r.version)
  UNION ALL
  SELECT 'money_conservation', p.id
    FROM payments p
    CROSS JOIN LATERAL (
      SELECT coalesce(-sum(l.amount) FILTER (WHERE l.type = 'PAYMENT_DEBIT'), 0) AS debited,
             coalesce(sum(l.amount) FILTER (WHERE l.type = 'PAYMENT_REVERSAL'), 0) AS reversed,
             coalesce(sum(l.amount) FILTER (WHERE l.type = 'REFUND'), 0) AS refunded
        FROM ledger_entries l WHERE l.payment_id = p.id) l
   WHERE p.id = ANY (p_payments)
     AND (l.debited <> CASE WHEN p.saga_step IN ('debited', 'charge_requested', 'completed', 'failed')
                            THEN p.amount ELSE 0 END
          OR l.reversed <> CASE WHEN p.status = 'FAILED' THEN p.amount ELSE 0 END
          OR l.refunded <> p.refunded_amount)
  UNION ALL
  SELECT 'payment_status', p.id
    FROM payments p
    LEFT JOIN replay__payments_of(p_payments, false) r ON r.id = p.id
   WHERE p.id = ANY (p_payments)
     AND (r.id IS NULL
          OR p.status IS DISTINCT FROM r.status
          OR p.failure_reason IS DISTINCT FROM r.failure_reason
          OR p.refunded_amount IS DISTINCT FROM r.refunded_amount);
$$;

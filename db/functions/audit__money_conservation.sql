-- Money is neither created nor lost: the ledger's totals per kind of movement match what the
-- payments say, and the balances add up to deposits - debits + reversals + refunds.
-- One row per check; ok = false is a discrepancy. Usage: SELECT * FROM audit__money_conservation();
CREATE OR REPLACE FUNCTION audit__money_conservation()
RETURNS TABLE (check_name text, expected numeric, actual numeric, ok boolean)
LANGUAGE sql STABLE AS $$
  WITH ledger AS (
    SELECT coalesce(sum(amount) FILTER (WHERE type = 'DEPOSIT'), 0) AS deposits,
           coalesce(-sum(amount) FILTER (WHERE type = 'PAYMENT_DEBIT'), 0) AS debits,
           coalesce(sum(amount) FILTER (WHERE type = 'PAYMENT_REVERSAL'), 0) AS reversals,
           coalesce(sum(amount) FILTER (WHERE type = 'REFUND'), 0) AS refunds
      FROM ledger_entries
  ), pay AS (
    -- Debited: every payment past the debit step; FAILED ones are debited and then reversed.
    SELECT coalesce(sum(amount) FILTER (WHERE saga_step IN ('debited', 'charge_requested', 'completed', 'failed')), 0) AS debited,
           coalesce(sum(amount) FILTER (WHERE status = 'FAILED'), 0) AS reversed,
           coalesce(sum(refunded_amount), 0) AS refunded
      FROM payments
  ), bal AS (SELECT coalesce(sum(balance), 0) AS total FROM wallets)
  SELECT c.name, c.expected, c.actual, c.expected = c.actual
    FROM ledger, pay, bal,
         LATERAL (VALUES
           ('balances = deposits - debits + reversals + refunds',
              ledger.deposits - ledger.debits + ledger.reversals + ledger.refunds, bal.total::numeric),
           ('ledger debits = amounts of debited payments', pay.debited::numeric, ledger.debits),
           ('ledger reversals = amounts of FAILED payments', pay.reversed::numeric, ledger.reversals),
           ('ledger refunds = refunded amounts of payments', pay.refunded::numeric, ledger.refunds)
         ) AS c(name, expected, actual);
$$;

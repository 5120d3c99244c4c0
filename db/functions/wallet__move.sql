-- The only way money moves, in one round trip, beside payment__change: locks the wallet (FOR NO
-- KEY UPDATE: concurrent movements on one wallet queue here; callers lock the payment first, the
-- same order everywhere), reckons the signed amount and the balance after it, refuses a debit the
-- balance cannot cover (a business outcome, returned as `refused`, not raised), then appends the
-- wallet's event (its data completed here with entry_id, balance_after and currency), the ledger
-- entry (source_ref unique: the same movement can never be applied twice) and the new balance and
-- version. Nothing here commits. The caller (app/wallets/wallet.money.ts) validated the event's
-- other fields against the catalogue.
--   refused: NULL when the money moved; 'WALLET_NOT_FOUND', 'INSUFFICIENT_FUNDS' or
--            'BALANCE_LIMIT_EXCEEDED' (past 2^53-1, where JSON numbers stop being exact) when not.
-- The wallet's columns are returned in either case (NULL when not found); the entry's when moved.
CREATE OR REPLACE FUNCTION wallet__move(
  p_wallet_id    uuid,
  p_entry_type   text,
  p_amount       bigint,
  p_payment_id   uuid,
  p_source_ref   text,
  p_reference    text,
  p_trace_id     text,
  p_event_id     uuid,
  p_entry_id     uuid,
  p_event_type   text,
  p_event_data   jsonb
) RETURNS TABLE (refused text, id uuid, owner_id text, currency text, balance bigint, version integer,
                 created_at timestamptz, updated_at timestamptz, entry_seq bigint, entry_amount bigint,
                 entry_balance_after bigint, entry_created_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
  v_wallet wallets;
  v_signed bigint;
  v_after  numeric;
  v_entry  ledger_entries;
BEGIN
  SELECT * INTO v_wallet FROM wallets w WHERE w.id = p_wallet_id FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    refused := 'WALLET_NOT_FOUND';
    RETURN NEXT;
    RETURN;
  END IF;
  v_signed := CASE p_entry_type WHEN 'PAYMENT_DEBIT' THEN -p_amount ELSE p_amount END;
  v_after := v_wallet.balance::numeric + v_signed;
  refused := CASE WHEN v_after < 0 THEN 'INSUFFICIENT_FUNDS'
                  WHEN v_after > 9007199254740991 THEN 'BALANCE_LIMIT_EXCEEDED' END;

  IF refused IS NULL THEN
    PERFORM event__append(p_event_id, 'wallet', v_wallet.id, v_wallet.version, p_event_type,
                          p_event_data || jsonb_build_object('entry_id', p_entry_id, 'balance_after', v_after,
                                                             'currency', v_wallet.currency),
                          p_trace_id);
    INSERT INTO ledger_entries (id, wallet_id, type, amount, balance_after, payment_id, source_ref, reference, event_id)
    VALUES (p_entry_id, v_wallet.id, p_entry_type, v_signed, v_after, p_payment_id, p_source_ref, p_reference, p_event_id)
    RETURNING * INTO v_entry;
    UPDATE wallets w SET balance = v_after, version = v_wallet.version + 1, updated_at = now()
     WHERE w.id = v_wallet.id
    RETURNING * INTO v_wallet;
  END IF;

  id := v_wallet.id; owner_id := v_wallet.owner_id; currency := v_wallet.currency;
  balance := v_wallet.balance; version := v_wallet.version;
  created_at := v_wallet.created_at; updated_at := v_wallet.updated_at;
  entry_seq := v_entry.seq; entry_amount := v_entry.amount;
  entry_balance_after := v_entry.balance_after; entry_created_at := v_entry.created_at;
  RETURN NEXT;
END;
$$;

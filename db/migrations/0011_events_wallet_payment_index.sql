-- migrate:up transaction:false
-- GET /payments/:id/events reads the payment's own events (event_version_unique, by aggregate_id)
-- and the wallet events it caused, which name it only in data ->> 'payment_id': without this index
-- every wallet event was read to find them, and a few parallel calls held the API's pool.
-- Partial: deposits (no payment_id) are not indexed. CONCURRENTLY, so that event appends go on
-- while it builds (hence no transaction, and one statement in this file). If a build is
-- interrupted it leaves an INVALID index: drop it and migrate again (docs/runbooks/audits.md).
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_wallet_payment_id ON events ((data ->> 'payment_id'), position)
  WHERE aggregate_type = 'wallet' AND (data ->> 'payment_id') IS NOT NULL;

-- migrate:down transaction:false
DROP INDEX CONCURRENTLY IF EXISTS events_wallet_payment_id;

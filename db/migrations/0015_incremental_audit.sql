-- migrate:up
-- The scheduled audit becomes incremental (db/functions/audit__run_incremental.sql): each run
-- records which kind it was, how far into the event store it looked, and the aggregates it found
-- wrong, so that the next run starts from there and keeps reporting what is still wrong.
ALTER TABLE audit_runs
  ADD COLUMN kind text NOT NULL DEFAULT 'full'
    CONSTRAINT audit_run_kind_known CHECK (kind IN ('full', 'incremental')),
  ADD COLUMN through_position bigint,
  ADD COLUMN flagged jsonb NOT NULL DEFAULT '{}'
    CONSTRAINT audit_run_flagged_is_object CHECK (jsonb_typeof(flagged) = 'object');

-- migrate:down
-- Forward-only: a mistake is fixed by a new migration, never by rolling back.

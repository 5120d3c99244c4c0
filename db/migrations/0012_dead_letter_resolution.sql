-- migrate:up
-- A dead letter the product itself made obsolete: its payment came to rest without the job (a
-- webhook settled it, say), or its refund did. Open means neither replayed nor resolved.
ALTER TABLE dead_letter_jobs
  ADD COLUMN resolved_at timestamptz,
  ADD COLUMN resolution text,
  ADD CONSTRAINT dead_letter_resolution_given CHECK ((resolved_at IS NULL) = (resolution IS NULL));
DROP INDEX dead_letter_jobs_open;
CREATE INDEX dead_letter_jobs_open ON dead_letter_jobs (id) WHERE replayed_at IS NULL AND resolved_at IS NULL;

-- migrate:down
-- Forward-only: a mistake is fixed by a new migration, never by rolling back.

-- migrate:up
-- Who replayed a dead letter: an operator (the admin endpoint, psql) or the product itself (a job
-- whose attempts were all cut short by crashes, replayed by the dead-letter sweep).
ALTER TABLE dead_letter_jobs ADD COLUMN replayed_by text
  CONSTRAINT dead_letter_replayed_by_known CHECK (replayed_by IN ('operator', 'product'));
UPDATE dead_letter_jobs SET replayed_by = 'operator' WHERE replayed_at IS NOT NULL;

-- migrate:down
-- Forward-only: a mistake is fixed by a new migration, never by rolling back.

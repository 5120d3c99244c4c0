-- Backstop for the task wrapper (workers/dead-letter.ts): moves jobs that spent their attempts
-- without being dead-lettered (their worker died on the last attempt) into dead_letter_jobs, in
-- one statement, and completes them in graphile-worker. Returns how many moved.
-- A scheduled maintenance run (maintenance__*) that spent its attempts is completed without a
-- letter: the next minute's run supersedes it, and one that never succeeds shows as an overdue
-- audit on /health. Dead letters are for work only an operator can decide on.
-- Usage from psql: SELECT dead_letter__sweep();
CREATE OR REPLACE FUNCTION dead_letter__sweep() RETURNS bigint
LANGUAGE sql AS $$
  -- The task's name from graphile-worker's public view; the payload (which the view leaves out)
  -- from the rows complete_jobs returns.
  WITH spent AS (
    SELECT id, task_identifier FROM graphile_worker.jobs WHERE attempts >= max_attempts AND locked_at IS NULL
  ), moved AS (
    SELECT * FROM graphile_worker.complete_jobs(array(SELECT id FROM spent))
  ), inserted AS (
    INSERT INTO dead_letter_jobs (job_id, task, payload, attempts, last_error, payment_id, first_failed_at)
    SELECT m.id, s.task_identifier, m.payload::jsonb, m.attempts, coalesce(m.last_error, 'unknown'),
           CASE WHEN m.payload::jsonb ->> 'paymentId' ~ '^[0-9a-f-]{36}$' THEN (m.payload::jsonb ->> 'paymentId')::uuid END,
           m.created_at
      FROM moved m JOIN spent s ON s.id = m.id
     WHERE s.task_identifier NOT LIKE 'maintenance\_\_%'
    ON CONFLICT (job_id) DO NOTHING
    RETURNING 1
  )
  SELECT count(*) FROM inserted;
$$;

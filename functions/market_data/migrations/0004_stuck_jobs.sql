-- Stuck jobs recover by themselves (market_data.recovery).

-- When SQS took the job's message: set by the fan-out once the queue accepted
-- it (and by the stuck-job check when it re-sends one). A job still `queued`
-- without it, well after it was recorded, was lost by a fan-out that died
-- between recording its jobs and sending them.
ALTER TABLE backfill_jobs ADD COLUMN enqueued_at timestamptz;
-- Jobs recorded before this column was there were sent when they were recorded.
UPDATE backfill_jobs SET enqueued_at = created_at;

-- What the check reads: jobs not finished (few, whatever the table's size).
CREATE INDEX backfill_jobs_unfinished ON backfill_jobs (updated_at)
    WHERE status IN ('queued', 'running', 'retrying');

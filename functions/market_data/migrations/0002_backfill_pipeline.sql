-- The backfill pipeline: a circuit breaker every worker shares, run completion,
-- and what a job saw from the vendor.

-- One row per vendor. Workers run in separate Lambda environments and all of
-- them reach PostgreSQL, so the breaker's state lives here: after
-- `consecutive_failures` reaches the threshold the circuit opens until
-- `open_until`, and jobs go back to the queue without calling the vendor.
CREATE TABLE vendor_circuit (
    vendor               text PRIMARY KEY,
    consecutive_failures integer NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    open_until           timestamptz,
    last_failure_at      timestamptz,
    last_error           text,
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- Set once, by the worker that finishes a run's last job (it also emits the
-- BackfillRunsCompleted metric), so completion is counted exactly once.
ALTER TABLE backfill_runs ADD COLUMN finished_at timestamptz;

-- Vendor records that could not be read as a bar (missing or non-numeric
-- fields); they cannot be stored, so the job counts them instead.
ALTER TABLE backfill_jobs ADD COLUMN bars_rejected integer NOT NULL DEFAULT 0;
ALTER TABLE backfill_jobs ADD COLUMN asset_class text;

-- Jobs a run is still waiting for (the completion check reads only these).
CREATE INDEX backfill_jobs_open ON backfill_jobs (run_id)
    WHERE status IN ('queued', 'running', 'retrying');

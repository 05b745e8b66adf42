-- Whole-universe admin backfills are planned by the fan-out, after the API answered:
-- the run is recorded first, without jobs, and `planned_at` is set once its jobs are.
-- A run is complete only once planned (market_data.repositories.jobs).
ALTER TABLE backfill_runs ADD COLUMN planned_at timestamptz DEFAULT now();
UPDATE backfill_runs SET planned_at = started_at;
-- Why planning failed (an unknown symbol, the database): the run is then finished.
ALTER TABLE backfill_runs ADD COLUMN planning_error text;

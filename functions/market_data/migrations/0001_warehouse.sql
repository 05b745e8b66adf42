-- The warehouse: tracked symbols, bars, per-series statistics, backfill runs and jobs.

CREATE TABLE symbols (
    symbol      text PRIMARY KEY CHECK (symbol ~ '^[A-Z0-9][A-Z0-9.\-]{0,19}$'),
    asset_class text NOT NULL CHECK (asset_class IN ('stock', 'etf', 'crypto', 'index')),
    name        text,
    active      boolean NOT NULL DEFAULT true,
    timeframes  text[] NOT NULL DEFAULT '{5m,15m,30m,1h,4h,1d,1w}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per bar. The primary key (symbol, timeframe, time) is the only index
-- the read path needs: every query is one series and a time range, so it is a
-- bounded index range scan whatever the table size. Prices are float8 (the
-- vendor sends binary floats; numeric would be larger and slower to aggregate).
CREATE TABLE bars (
    symbol           text NOT NULL,
    timeframe        text NOT NULL,
    time             timestamptz NOT NULL,          -- bar window start, UTC
    open             double precision NOT NULL,
    high             double precision NOT NULL,
    low              double precision NOT NULL,
    close            double precision NOT NULL,
    volume           double precision NOT NULL,
    vwap             double precision,
    trades           bigint,
    source           text NOT NULL,
    validated        boolean NOT NULL,
    quality_score    real NOT NULL CHECK (quality_score BETWEEN 0 AND 1),
    validation_notes text,
    gap_detected     boolean NOT NULL DEFAULT false,
    volume_anomaly   boolean NOT NULL DEFAULT false,
    fetched_at       timestamptz NOT NULL,
    PRIMARY KEY (symbol, timeframe, time)
) WITH (fillfactor = 90);  -- room for HOT updates when a bar is revised

-- Per-series totals kept by the write path, so status pages never count
-- tens of millions of rows per request.
CREATE TABLE series_stats (
    symbol            text NOT NULL,
    timeframe         text NOT NULL,
    records           bigint NOT NULL,
    validated_records bigint NOT NULL,
    gap_records       bigint NOT NULL,
    first_time        timestamptz,
    last_time         timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, timeframe)
);

CREATE TABLE backfill_runs (
    id           uuid PRIMARY KEY,
    trigger      text NOT NULL CHECK (trigger IN ('schedule', 'admin', 'cli')),
    started_at   timestamptz NOT NULL DEFAULT now(),
    jobs_total   integer NOT NULL DEFAULT 0
);

CREATE TABLE backfill_jobs (
    id              uuid PRIMARY KEY,
    run_id          uuid NOT NULL REFERENCES backfill_runs (id) ON DELETE CASCADE,
    symbol          text NOT NULL,
    timeframe       text NOT NULL,
    range_start     timestamptz NOT NULL,
    range_end       timestamptz NOT NULL CHECK (range_end > range_start),
    status          text NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'retrying')),
    attempts        integer NOT NULL DEFAULT 0,
    bars_fetched    integer NOT NULL DEFAULT 0,
    bars_upserted   integer NOT NULL DEFAULT 0,
    bars_flagged    integer NOT NULL DEFAULT 0,
    vendor_requests integer NOT NULL DEFAULT 0,
    error           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
CREATE INDEX backfill_jobs_run ON backfill_jobs (run_id);
CREATE INDEX backfill_runs_started ON backfill_runs (started_at DESC);

-- Corporate actions, and which stored bars are still vendor-adjusted.
--
-- Bars are stored as they traded (raw); splits and cash dividends turn them into
-- the adjusted views on read. A vendor that corrects an action revises its row
-- (the primary key is the action's identity), and every adjusted view follows.

CREATE TABLE splits (
    symbol         text NOT NULL,
    execution_date date NOT NULL,                 -- first session at the new share count
    split_from     double precision NOT NULL CHECK (split_from > 0),
    split_to       double precision NOT NULL CHECK (split_to > 0),
    source         text NOT NULL,
    fetched_at     timestamptz NOT NULL,
    PRIMARY KEY (symbol, execution_date)
);

CREATE TABLE dividends (
    symbol           text NOT NULL,
    ex_dividend_date date NOT NULL,               -- first session that no longer earns it
    dividend_type    text NOT NULL,               -- CD regular, SC special, LT/ST capital gains
    cash_amount      double precision NOT NULL CHECK (cash_amount >= 0),
    currency         text NOT NULL,
    declaration_date date,
    record_date      date,
    pay_date         date,
    frequency        integer,                     -- payments a year; 0 one-off
    source           text NOT NULL,
    fetched_at       timestamptz NOT NULL,
    PRIMARY KEY (symbol, ex_dividend_date, dividend_type)
);

-- The product of a column (PostgreSQL has sum but no product): cumulative split
-- ratios and dividend factors multiply, exactly as a hand computation would.
CREATE AGGREGATE adjustment_product(double precision) (
    SFUNC = float8mul, STYPE = double precision, INITCOND = '1'
);

-- Warehouses that stored bars before raw storage hold vendor split-adjusted
-- prices in [vendor_adjusted_from, vendor_adjusted_until). Those bars are served
-- as before (the split view, as stored) until a raw re-fetch has rewritten them;
-- the planner schedules that re-fetch and the worker shrinks the range as it goes.
ALTER TABLE series_stats ADD COLUMN vendor_adjusted_from timestamptz;
ALTER TABLE series_stats ADD COLUMN vendor_adjusted_until timestamptz;
UPDATE series_stats
SET vendor_adjusted_from = first_time, vendor_adjusted_until = last_time + interval '1 microsecond'
WHERE first_time IS NOT NULL;

-- How many actions each job stored and how many the vendor sent malformed.
ALTER TABLE backfill_jobs ADD COLUMN actions_upserted integer NOT NULL DEFAULT 0;
ALTER TABLE backfill_jobs ADD COLUMN actions_rejected integer NOT NULL DEFAULT 0;

-- bars becomes a partitioned table: LIST by timeframe, and the intraday
-- timeframes RANGE by calendar year (UTC) below that. Every read names one
-- timeframe and a time range, so it is pruned to one partition (two across a
-- new year) and stays an index range scan there; an old intraday year can be
-- detached (to the lake, or dropped) without touching the rest; and vacuum and
-- analyze work on the current year only.
--
-- The primary key of every partition is (symbol, time): the timeframe is the
-- partition's, so keeping it in the key spent 8 bytes a bar on a constant.
-- Columns go widest first (8-byte, then 4, then 1, then text) so no row pays
-- alignment padding between them. `source` is an enum (4 bytes; the provider
-- names were 8-10 bytes of text in every row) and `trades` an integer (a bar's
-- trade count is far below 2^31; a value above it fails its write, it is never
-- cut): together a row's data fits 88 bytes, a whole alignment step less. Fill
-- factor 100: bars arrive in time order and a revision is rare, so the room kept
-- for in-place updates was mostly empty.
--
-- The old table's rows move in batches after this migration
-- (market_data.migrations.move_legacy_bars), so a large warehouse is not
-- rewritten in one transaction.

ALTER TABLE bars RENAME TO bars_legacy;
ALTER INDEX bars_pkey RENAME TO bars_legacy_pkey;

-- The providers' names (providers/*.py `source`; a new provider adds its name with
-- ALTER TYPE ... ADD VALUE), and any other name already stored: one per series in
-- series_stats, several only in the 'mixed' series of before one provider per series.
DO $$
BEGIN
    EXECUTE (
        SELECT format('CREATE TYPE bar_source AS ENUM (%s)',
                      string_agg(quote_literal(name), ', ' ORDER BY name))
        FROM (
            SELECT unnest(ARRAY['polygon', 'synthetic'])
            UNION SELECT source FROM series_stats WHERE source IS NOT NULL AND source <> 'mixed'
            UNION SELECT DISTINCT b.source FROM series_stats s
                  JOIN bars_legacy b ON b.symbol = s.symbol AND b.timeframe = s.timeframe
                  WHERE s.source = 'mixed'
        ) names (name));
END $$;

CREATE TABLE bars (
    time             timestamptz NOT NULL,          -- bar window start, UTC
    open             double precision NOT NULL,
    high             double precision NOT NULL,
    low              double precision NOT NULL,
    close            double precision NOT NULL,
    volume           double precision NOT NULL,
    vwap             double precision,
    fetched_at       timestamptz NOT NULL,
    trades           integer,
    quality_score    real NOT NULL CHECK (quality_score BETWEEN 0 AND 1),
    source           bar_source NOT NULL,
    validated        boolean NOT NULL,
    gap_detected     boolean NOT NULL DEFAULT false,
    volume_anomaly   boolean NOT NULL DEFAULT false,
    symbol           text NOT NULL,
    timeframe        text NOT NULL,
    validation_notes text
) PARTITION BY LIST (timeframe);

CREATE TABLE bars_1d PARTITION OF bars FOR VALUES IN ('1d') WITH (fillfactor = 100);
CREATE TABLE bars_1w PARTITION OF bars FOR VALUES IN ('1w') WITH (fillfactor = 100);
ALTER TABLE bars_1d ADD PRIMARY KEY (symbol, time) WITH (fillfactor = 100);
ALTER TABLE bars_1w ADD PRIMARY KEY (symbol, time) WITH (fillfactor = 100);

DO $$
DECLARE tf text;
BEGIN
    FOREACH tf IN ARRAY ARRAY['1m', '5m', '15m', '30m', '1h', '4h'] LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF bars FOR VALUES IN (%L) PARTITION BY RANGE (time)',
            'bars_' || tf, tf);
        EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (symbol, time) WITH (fillfactor = 100)',
                       'bars_' || tf);
    END LOOP;
END $$;

-- The year partitions an intraday write needs, created if missing; returns how
-- many it created. The writers call it before every intraday upsert (it only
-- looks the names up when they exist) and the nightly fan-out for the coming
-- year, so a write never fails for a missing partition. SECURITY DEFINER: the
-- application role has data rights only, the owner creates the tables. A new
-- partition is created standalone and then attached, which locks the parent
-- less than CREATE ... PARTITION OF (reads and writes go on).
CREATE FUNCTION ensure_bar_partitions(tf text, first_time timestamptz, last_time timestamptz)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
AS $$
DECLARE
    year integer;
    name text;
    created integer := 0;
BEGIN
    IF tf NOT IN ('1m', '5m', '15m', '30m', '1h', '4h') THEN
        RETURN 0;
    END IF;
    FOR year IN extract(year FROM first_time AT TIME ZONE 'UTC')::integer
             .. extract(year FROM last_time AT TIME ZONE 'UTC')::integer LOOP
        name := format('bars_%s_%s', tf, year);
        CONTINUE WHEN to_regclass(name) IS NOT NULL;
        -- Creators take turns on the timeframe's table (this lock lets writes go on,
        -- and taking it makes the other creator's committed partition visible).
        EXECUTE format('LOCK TABLE %I IN SHARE UPDATE EXCLUSIVE MODE', 'bars_' || tf);
        CONTINUE WHEN to_regclass(name) IS NOT NULL;
        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'
                       ' WITH (fillfactor = 100)', name, 'bars_' || tf);
        EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                       'bars_' || tf, name,
                       make_timestamptz(year, 1, 1, 0, 0, 0, 'UTC'),
                       make_timestamptz(year + 1, 1, 1, 0, 0, 0, 'UTC'));
        created := created + 1;
    END LOOP;
    RETURN created;
END $$;

-- One provider per series: series_stats records which provider its bars came from.
-- A write from another provider replaces that provider's bars (the write path),
-- and the planner gives such a series the new provider's full history.
ALTER TABLE series_stats ADD COLUMN source text;

-- Existing series: the one source of their bars, or 'mixed' when bars of two
-- providers were stored side by side before this rule (the next write of either
-- provider then removes the other's). One pass over the bars, once.
UPDATE series_stats s
SET source = c.source
FROM (
    SELECT symbol, timeframe, CASE WHEN count(DISTINCT source) = 1 THEN min(source)
                                   ELSE 'mixed' END AS source
    FROM bars GROUP BY symbol, timeframe
) c
WHERE c.symbol = s.symbol AND c.timeframe = s.timeframe;

"""The partitioned layout (0007): partitions made on demand, old years detachable, and the
pre-partitioning table moved in with every bar, in batches, safe to stop and re-run."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg import Connection
from psycopg.conninfo import make_conninfo

from market_data import migrations
from market_data.migrations import apply_migrations, ensure_app_role, move_legacy_bars
from market_data.models import Assessment, RawBar, StoredBar
from market_data.providers.polygon import SOURCE as POLYGON_SOURCE
from market_data.providers.synthetic import SyntheticProvider
from market_data.repositories.bars import detach_year, upsert_bars
from market_data.settings import Settings
from market_data.timeframes import Timeframe
from tests.helpers import fresh_database, utc

# An order-sensitive digest of every bar, computed by PostgreSQL from the columns
# themselves: the same text before and after the move means the same bars.
CHECKSUM = """
SELECT count(*), md5(string_agg(concat_ws('|', symbol, timeframe, time, open, high, low, close,
    volume, vwap, trades, source, validated, quality_score, validation_notes, gap_detected,
    volume_anomaly, fetched_at), ',' ORDER BY symbol, timeframe, time)) FROM {table}
"""


def _partitions(conn: Connection[Any], parent: str) -> list[str]:
    rows = conn.execute(
        "SELECT relid::text FROM pg_partition_tree(%s) WHERE isleaf ORDER BY 1", (parent,)
    ).fetchall()
    return [r[0] for r in rows]


def _bar(t: Any, close: float = 100.0) -> StoredBar:
    return StoredBar(
        RawBar(t, close, close + 1, close - 1, close, 1000.0, close, 10),
        "synthetic",
        Assessment(),
        utc(2026, 1, 1),
    )


def test_an_intraday_write_creates_its_year_partitions_and_reads_stay_on_one(
    conn: Connection[Any],
) -> None:
    span = [utc(2023, 12, 31, 23, 50) + timedelta(minutes=5 * i) for i in range(6)]
    assert upsert_bars(conn, "AAPL", Timeframe.M5, [_bar(t) for t in span]) == 6
    assert {"bars_5m_2023", "bars_5m_2024"} <= set(_partitions(conn, "bars_5m"))
    assert upsert_bars(conn, "AAPL", Timeframe.M5, [_bar(t) for t in span]) == 0  # idempotent
    plan = "\n".join(
        r[0]
        for r in conn.execute(
            "EXPLAIN SELECT * FROM bars WHERE symbol = 'AAPL' AND timeframe = '5m'"
            " AND time >= '2024-01-01' AND time < '2024-01-02' ORDER BY time LIMIT 100"
        )
    )
    assert "bars_5m_2024" in plan and "bars_5m_2023" not in plan and "bars_1d" not in plan


def test_concurrent_writers_of_a_new_year_both_succeed(settings: Settings) -> None:
    url = fresh_database(settings, "mdw_partition_race")
    with psycopg.connect(url, autocommit=True) as owner:
        apply_migrations(owner)

    def write(symbol: str) -> int:
        with psycopg.connect(url, autocommit=True) as conn:
            bars = [_bar(utc(2031, 1, 2) + timedelta(hours=i)) for i in range(24)]
            return upsert_bars(conn, symbol, Timeframe.H1, bars)

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(write, ["A", "B", "C", "D"])) == [24] * 4
    with psycopg.connect(url) as conn:
        assert _partitions(conn, "bars_1h") == ["bars_1h_2031"]


def test_the_app_role_gets_new_partitions_without_schema_rights(settings: Settings) -> None:
    url = fresh_database(settings, "mdw_partition_role")
    with psycopg.connect(url, autocommit=True) as owner:
        apply_migrations(owner)
        ensure_app_role(owner, "mdw_app_test")
    with psycopg.connect(make_conninfo(url, user="mdw_app_test"), autocommit=True) as app:
        assert upsert_bars(app, "AAPL", Timeframe.M1, [_bar(utc(2030, 6, 1, 14))]) == 1
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("CREATE TABLE bars_1m_2040 (LIKE bars_1m)")
        assert app.execute("SELECT count(*) FROM bars WHERE timeframe = '1m'").fetchone() == (1,)


def test_an_old_year_detaches_without_touching_the_rest(conn: Connection[Any]) -> None:
    for year in (2022, 2023, 2024):
        upsert_bars(conn, "SPY", Timeframe.M15, [_bar(utc(year, 3, 1, 15))])
    assert detach_year(conn, Timeframe.M15, 2022) == "bars_15m_2022"
    served = conn.execute("SELECT time FROM bars WHERE timeframe = '15m' ORDER BY time").fetchall()
    assert served == [(utc(2023, 3, 1, 15),), (utc(2024, 3, 1, 15),)]
    assert conn.execute("SELECT count(*) FROM bars_15m_2022").fetchone() == (1,)
    stats = "SELECT records, first_time FROM series_stats WHERE symbol = 'SPY'"
    assert conn.execute(stats).fetchone() == (2, utc(2023, 3, 1, 15))
    conn.execute("DROP TABLE bars_15m_2022")


def test_an_old_warehouse_moves_in_with_every_bar_in_batches(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = fresh_database(settings, "mdw_partition_move")
    with psycopg.connect(url, autocommit=True) as conn:
        apply_migrations(conn, until="0006_series_source")
        # The old layout, filled: daily, weekly and intraday series over three years,
        # with flags, notes and NULL vwap/trades among them.
        conn.execute(
            """
            INSERT INTO bars
            SELECT 'S' || s, tf, t, 10 + s, 11 + s, 9 + s, 10.5 + s, 1000 * s,
                   CASE WHEN s % 3 = 0 THEN NULL ELSE 10.2 + s END,
                   CASE WHEN s % 3 = 0 THEN NULL ELSE s * 7 END,
                   'synthetic', s % 5 <> 0, CASE WHEN s % 5 = 0 THEN 0.5 ELSE 1 END,
                   CASE WHEN s % 5 = 0 THEN 'a note' END, s % 7 = 0, false,
                   '2026-01-01T00:00Z'
            FROM generate_series(1, 12) s,
                 (VALUES ('1d', interval '1 day'), ('1w', interval '7 days'),
                         ('1h', interval '1 hour')) tfs(tf, step),
                 LATERAL generate_series(timestamptz '2022-12-01', timestamptz '2024-01-31',
                                         step * CASE WHEN tf = '1h' THEN 9 ELSE 1 END) t
            """
        )
        old = conn.execute(CHECKSUM.format(table="bars")).fetchone()
        assert old is not None and old[0] > 10_000

        # A run that stops early (its deadline already past after one batch) leaves the
        # rest in the old table, readable by a re-run.
        real_monotonic = time.monotonic
        calls = iter(range(10**6))
        monkeypatch.setattr(
            migrations.time,
            "monotonic",
            lambda: real_monotonic() + (0 if next(calls) < 2 else 3600),
        )
        assert apply_migrations(conn, deadline=real_monotonic() + 60) == ["0007_partitioned_bars"]
        partial = conn.execute("SELECT count(*) FROM bars").fetchone()
        left = conn.execute("SELECT count(*) FROM bars_legacy").fetchone()
        assert partial is not None and left is not None
        assert 0 < partial[0] < old[0] and partial[0] + left[0] == old[0]

        monkeypatch.setattr(migrations.time, "monotonic", real_monotonic)
        report = move_legacy_bars(conn, batch_rows=700)
        assert report.remaining == 0 and report.moved == old[0] - partial[0]
        assert conn.execute("SELECT to_regclass('bars_legacy')").fetchone() == (None,)
        assert conn.execute(CHECKSUM.format(table="bars")).fetchone() == old
        assert _partitions(conn, "bars_1h") == ["bars_1h_2022", "bars_1h_2023", "bars_1h_2024"]
        assert move_legacy_bars(conn).moved == 0  # nothing left: a no-op


def test_every_provider_has_its_name_among_the_stored_sources(conn: Connection[Any]) -> None:
    # `bars.source` is an enum: a provider added without its label could not store a bar.
    labels = {r[0] for r in conn.execute("SELECT unnest(enum_range(NULL::bar_source))::text")}
    assert {SyntheticProvider.source, POLYGON_SOURCE} <= labels

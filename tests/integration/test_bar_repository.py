import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from psycopg import Connection

from market_data.models import Assessment, BarPageQuery, RawBar, StoredBar
from market_data.repositories.bars import read_bar_page, upsert_bars
from market_data.timeframes import Timeframe
from tests.helpers import seed_series, table_checksum, utc


def _stored(day: int, close: float = 10.0) -> StoredBar:
    bar = RawBar(utc(2024, 1, day), 10.0, 11.0, 9.0, close, 1000.0, 10.1, 12)
    return StoredBar(bar, "polygon", Assessment(), datetime(2024, 2, 1, tzinfo=UTC))


def test_upsert_twice_leaves_the_table_byte_identical(conn: Connection[Any]) -> None:
    seed_series(conn)
    before = table_checksum(conn)
    assert seed_series(conn) == 0
    assert table_checksum(conn) == before


def test_revised_bar_is_updated_and_repeated_input_bars_collapse(conn: Connection[Any]) -> None:
    assert upsert_bars(conn, "TEST", Timeframe.D1, [_stored(2), _stored(3)]) == 2
    revised = _stored(3, close=10.5)
    written = upsert_bars(conn, "TEST", Timeframe.D1, [_stored(2), _stored(3), revised])
    assert written == 1
    closes = conn.execute("SELECT close FROM bars ORDER BY time").fetchall()
    assert closes == [(10.0,), (10.5,)]
    stats = conn.execute("SELECT records, last_time FROM series_stats").fetchone()
    assert stats == (2, utc(2024, 1, 3))


def test_page_query_uses_the_primary_key_range_scan(conn: Connection[Any]) -> None:
    seed_series(conn)
    conn.execute("ANALYZE bars")
    query = BarPageQuery("AAPL", Timeframe.D1, utc(2024, 1, 1), utc(2024, 2, 1), True, 0.85, 100)
    plan = "\n".join(
        r[0]
        for r in conn.execute(
            "EXPLAIN SELECT * FROM bars WHERE symbol = 'AAPL' AND timeframe = '1d' "
            "AND time >= '2024-01-01' AND time < '2024-02-01' ORDER BY time LIMIT 100"
        )
    )
    # Pruned to the timeframe's partition, where the (symbol, time) key bounds the range.
    assert "bars_1d_pkey" in plan
    scanned = {name for name in re.findall(r" on (bars_\w+)", plan) if not name.endswith("_pkey")}
    assert scanned == {"bars_1d"}
    assert "Seq Scan" not in plan
    rows = read_bar_page(conn, query)
    assert len(rows) == 21
    after = read_bar_page(conn, replace(query, after=rows[9][0]))
    assert after[0][0] == rows[10][0]

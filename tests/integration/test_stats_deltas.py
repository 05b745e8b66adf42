"""series_stats kept by deltas: whatever writers do at once, the totals equal a recount.

Concurrent writers apply thousands of random inserts, revisions (same values,
new values) and flag changes to a few overlapping series; afterwards every
series' stored totals equal a count of its bars, and a deliberately broken
total is reported as drift.
"""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from market_data.models import Assessment, RawBar, StoredBar
from market_data.repositories.bars import series_stats_drift, upsert_bars
from market_data.settings import Settings
from market_data.timeframes import Timeframe

ORIGIN = datetime(2025, 1, 6, 14, 30, tzinfo=UTC)
SLOTS = 400  # each series' bar times are drawn from these many minutes
SERIES = [("AAPL", Timeframe.M1), ("AAPL", Timeframe.M5), ("MSFT", Timeframe.M1)]
WRITERS = 4
BATCHES_PER_WRITER = 60
FETCHED = datetime(2026, 1, 1, tzinfo=UTC)


def _random_batch(rng: random.Random) -> list[StoredBar]:
    minutes = rng.sample(range(SLOTS), rng.randint(1, 60))
    batch = []
    for minute in minutes:
        price = rng.choice([100.0, 101.0])  # two values: many upserts are exact repeats
        verdict = Assessment(validated=rng.random() < 0.8, gap_detected=rng.random() < 0.2)
        bar = RawBar(ORIGIN + timedelta(minutes=minute), price, price + 1, price - 1, price, 10.0)
        batch.append(StoredBar(bar, "polygon", verdict, FETCHED))
    return batch


def test_concurrent_random_writes_leave_stats_equal_to_a_recount(
    conn: psycopg.Connection[Any], settings: Settings
) -> None:
    errors: list[BaseException] = []
    writes = [0] * WRITERS

    def writer(index: int) -> None:
        rng = random.Random(index)
        try:
            with psycopg.connect(str(settings.database_url)) as own:
                for _ in range(BATCHES_PER_WRITER):
                    symbol, timeframe = rng.choice(SERIES)
                    writes[index] += upsert_bars(own, symbol, timeframe, _random_batch(rng))
                    own.commit()
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sum(writes) > 2 * SLOTS  # inserts and a good share of revisions happened
    assert series_stats_drift(conn) == []
    stats = conn.execute(
        "SELECT symbol, timeframe, records, validated_records, gap_records FROM series_stats"
        " ORDER BY 1, 2"
    ).fetchall()
    assert [(s, t) for s, t, *_ in stats] == sorted((s, t.value) for s, t in SERIES)
    for _, _, records, validated, gaps in stats:
        assert 0 < validated < records <= SLOTS and 0 < gaps < records


def test_a_total_that_no_longer_matches_the_bars_is_reported(
    conn: psycopg.Connection[Any],
) -> None:
    rng = random.Random(7)
    upsert_bars(conn, "AAPL", Timeframe.M1, _random_batch(rng))
    assert series_stats_drift(conn) == []

    conn.execute("UPDATE series_stats SET gap_records = gap_records + 1")
    drift = series_stats_drift(conn)

    assert [(d.symbol, d.timeframe) for d in drift] == [("AAPL", "1m")]
    assert drift[0].stored != drift[0].counted
    conn.execute("UPDATE series_stats SET gap_records = gap_records - 1")  # the fixture rechecks


def test_make_stats_check_exits_1_and_names_the_series_that_drifted(
    conn: psycopg.Connection[Any], monkeypatch: Any, capsys: Any, settings: Settings
) -> None:
    from devtools import check_stats

    monkeypatch.setenv("DATABASE_URL", str(settings.database_url))
    upsert_bars(conn, "MSFT", Timeframe.M5, _random_batch(random.Random(3)))
    assert check_stats.main() == 0
    assert "no drift" in capsys.readouterr().out

    conn.execute("UPDATE series_stats SET records = records + 2")
    assert check_stats.main() == 1
    out = capsys.readouterr().out
    assert "MSFT 5m: stored" in out and "1 series drifted" in out
    conn.execute("UPDATE series_stats SET records = records - 2")


def test_a_counted_range_narrower_than_the_bars_still_merges_every_bar(
    conn: psycopg.Connection[Any],
) -> None:
    # Bars past the counted range go in by COPY; one that is in fact stored must
    # not fail the write nor be counted twice: the batch is merged instead.
    first = _random_batch(random.Random(11))
    upsert_bars(conn, "AAPL", Timeframe.M1, first)
    stored = {item.bar.time for item in first}
    conn.execute("UPDATE series_stats SET last_time = %s", (min(stored),))  # a narrower range

    later = RawBar(ORIGIN + timedelta(minutes=SLOTS + 1), 100.0, 101.0, 99.0, 100.0, 10.0)
    written = upsert_bars(
        conn, "AAPL", Timeframe.M1, [*first, StoredBar(later, "polygon", Assessment(), FETCHED)]
    )

    assert written == 1  # the stored bars were unchanged; only the new one was written
    assert conn.execute("SELECT count(*) FROM bars WHERE symbol = 'AAPL'").fetchone() == (
        len(stored) + 1,
    )
    assert series_stats_drift(conn) == []

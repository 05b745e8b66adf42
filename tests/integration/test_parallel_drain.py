"""make dev's start-up load: the queue drained by several child interpreters at once.

Every job is done exactly once, and the warehouse holds what one process would
have written: the synthetic provider's bars for each series, counted and
checksummed from the provider itself, not from the code under test.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import psycopg

from devtools.run_backfill import drain_in_processes
from market_data.models import AssetClass
from market_data.providers.synthetic import SyntheticProvider
from market_data.repositories.symbols import add_symbols
from market_data.settings import Settings
from market_data.timeframes import Timeframe
from tests.pipeline import launch

START = datetime(2024, 3, 1, tzinfo=UTC)
END = datetime(2024, 3, 15, tzinfo=UTC)
SERIES = {
    "AAPL": AssetClass.STOCK,
    "MSFT": AssetClass.STOCK,
    "BTC-USD": AssetClass.CRYPTO,
    "SPY": AssetClass.ETF,
}
TIMEFRAMES = [Timeframe.D1, Timeframe.H1, Timeframe.M15]


def _digest(rows: list[tuple[Any, ...]]) -> str:
    """A checksum of (time, open, high, low, close, volume) rows: UTC times, exact floats."""
    text = "\n".join(
        ",".join([row[0].astimezone(UTC).isoformat(), *(v.hex() for v in row[1:])]) for row in rows
    )
    return hashlib.sha256(text.encode()).hexdigest()


def test_two_processes_do_every_job_once_and_store_what_the_provider_gives(
    conn: psycopg.Connection[Any], pipeline_settings: Settings
) -> None:
    settings = pipeline_settings.model_copy(update={"market_data_provider": "synthetic"})
    add_symbols(conn, SERIES.items())
    launched = launch(settings, timeframes=TIMEFRAMES, start=START, end=END)
    outcomes: list[str] = []

    report = drain_in_processes(
        settings, str(settings.backfill_queue_url), processes=2, threads=1,
        on_message=lambda o: outcomes.append(o.outcome) if o else None,
    )  # fmt: skip

    assert report.succeeded == len(launched.jobs) == len(SERIES) * len(TIMEFRAMES)
    assert (report.failed, report.unprocessable, report.duplicates) == (0, 0, 0)
    assert outcomes == ["succeeded"] * len(launched.jobs)  # relayed to the parent as they ended
    statuses = conn.execute(
        "SELECT status, count(*) FROM backfill_jobs WHERE run_id = %s GROUP BY status",
        (launched.run_id,),
    ).fetchall()
    assert statuses == [("succeeded", len(launched.jobs))]
    provider = SyntheticProvider()
    expected_total = 0
    for symbol, asset_class in SERIES.items():
        for timeframe in TIMEFRAMES:
            bars = provider.fetch_bars(symbol, asset_class, timeframe, START, END).bars
            expected = [(b.time, b.open, b.high, b.low, b.close, b.volume) for b in bars]
            stored = conn.execute(
                "SELECT time, open, high, low, close, volume FROM bars"
                " WHERE symbol = %s AND timeframe = %s ORDER BY time",
                (symbol, timeframe.value),
            ).fetchall()
            assert _digest(stored) == _digest(expected), (symbol, timeframe)
            expected_total += len(expected)
    assert report.bars_upserted == expected_total > 0

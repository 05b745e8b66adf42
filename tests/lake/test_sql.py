"""`make sql`: DuckDB over a lake the writer made, and the README's example queries on it."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from psycopg import Connection

from devtools.run_backfill import drain_queue
from devtools.sql import connect, main
from market_data.repositories.symbols import add_symbols
from market_data.settings import Settings
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from market_data.wiring import lake_writer
from tests.helpers import utc
from tests.lake.support import create_bucket
from tests.pipeline import launch


def rows(con: Any, query: str) -> list[tuple[Any, ...]]:
    """A query's rows (through Arrow: DuckDB's own conversion of UTC times needs pytz)."""
    table = con.sql(query).to_arrow_table()
    return [tuple(r.values()) for r in table.to_pylist()]


README = Path(__file__).resolve().parents[2] / "README.md"


def readme_queries() -> list[str]:
    return re.findall(r'^make sql Q="(.*)"$', README.read_text(), flags=re.MULTILINE)


@pytest.fixture
def lake_dir(
    handlers: Any, pipeline_conn: Connection[Any], pipeline_settings: Settings,
    backfill_queue: str, tmp_path: Path,
) -> Path:  # fmt: skip
    """AAPL, MSFT and SPY: daily bars for two months, 5-minute and hourly for a week."""
    add_symbols(
        pipeline_conn,
        [("AAPL", AssetClass.STOCK), ("MSFT", AssetClass.STOCK), ("SPY", AssetClass.ETF)],
    )
    backfill: ModuleType = handlers.backfill
    for timeframes, start in (([Timeframe.D1], utc(2024, 1, 1)),
                              ([Timeframe.M5, Timeframe.H1], utc(2024, 2, 19))):  # fmt: skip
        launch(pipeline_settings, symbols=["AAPL", "MSFT", "SPY"], timeframes=timeframes,
               start=start, end=utc(2024, 2, 24))  # fmt: skip
        drain_queue(boto3.client("sqs"), backfill_queue, backfill.worker().process_message)
    settings = pipeline_settings.model_copy(
        update={"lake_bucket": create_bucket(), "lake_mirror_dir": str(tmp_path)}
    )
    lake_writer(settings, boto3.client("s3")).rebuild()
    return tmp_path


def test_the_bars_view_holds_every_bar_with_its_partition_columns(
    lake_dir: Path, pipeline_conn: Connection[Any]
) -> None:
    con = connect(lake_dir)
    counted = rows(con, "SELECT timeframe, count(*) FROM bars GROUP BY 1 ORDER BY 1")
    stored = pipeline_conn.execute(
        "SELECT timeframe, count(*) FROM bars GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert counted == [tuple(r) for r in stored]
    assert rows(con, "SELECT DISTINCT month FROM bars ORDER BY 1") == [
        ("2024-01",), ("2024-02",)
    ]  # fmt: skip
    assert rows(con, "SELECT count(*) FROM dividends")[0][0] > 0


def test_the_readme_queries_run_and_the_resample_equals_the_stored_hourly_bars(
    lake_dir: Path,
) -> None:
    returns, resample, correlation = readme_queries()
    con = connect(lake_dir)

    daily = rows(con, returns)
    assert len(daily) == 5 and all(symbols == 3 for _, _, symbols in daily)

    hourly = rows(con, resample)
    stored = rows(
        con,
        "SELECT time, open, high, low, close, volume FROM bars WHERE timeframe = '1h' "
        "AND symbol = 'AAPL' ORDER BY time DESC LIMIT 5",
    )
    # The synthetic hourly bars are exact aggregates of their 5-minute bars.
    assert [r[:5] for r in hourly] == [r[:5] for r in stored]
    assert [r[5] for r in hourly] == pytest.approx([r[5] for r in stored])

    pairs = rows(con, correlation)
    assert [(a, b) for a, b, _, _ in pairs] == [("AAPL", "MSFT"), ("AAPL", "SPY"), ("MSFT", "SPY")]
    assert all(-1 <= c <= 1 and days > 30 for _, _, c, days in pairs)


def test_make_sql_prints_one_query_and_refuses_without_a_lake(
    lake_dir: Path, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["--lake", str(lake_dir), "--query", "SELECT count(DISTINCT symbol) AS n FROM bars"])
    assert "3" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="make dev"):
        main(["--lake", str(tmp_path_factory.mktemp("empty"))])

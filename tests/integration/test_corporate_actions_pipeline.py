"""Corporate actions end to end: the fake vendor announces a split between two nightly
runs; bars stored before it are served split-adjusted after it, raw on request."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from psycopg import Connection

from market_data.settings import Settings
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from market_data.wiring import build_worker
from tests.fake_polygon import (
    FakePolygon,
    Reply,
    bar,
    dividend,
    page,
    reference_page,
    split,
    utc,
)
from tests.helpers import table_checksum
from tests.integration.test_polygon_backfill import polygon_settings

NY_MIDNIGHT = timedelta(hours=4)  # EDT: daily stock bars are stamped at New York midnight


def sessions(first: datetime, count: int) -> list[datetime]:
    days, day = [], first
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day + NY_MIDNIGHT)
        day += timedelta(days=1)
    return days


BEFORE = sessions(utc(2020, 8, 17), 10)  # Aug 17..28: about $400 a share
AFTER = sessions(utc(2020, 8, 31), 5)  # Aug 31..Sep 4: about $100 after a 4-for-1


def daily(times: list[datetime], price: float) -> list[dict[str, Any]]:
    return [bar(t, price, price * 1.01, price * 0.99, price, 1_000_000) for t in times]


def vendor_knows(
    fake: FakePolygon,
    bars: list[dict[str, Any]],
    splits: list[dict[str, Any]] | None = None,
    dividends: list[dict[str, Any]] | None = None,
) -> None:
    """What the fake vendor answers to the next job: its bars and its action lists."""
    fake.script("AAPL", Reply(body=page(bars)))
    fake.script_splits("AAPL", Reply(body=reference_page("splits", splits or [])))
    fake.script_dividends("AAPL", Reply(body=reference_page("dividends", dividends or [])))


@pytest.fixture
def run_job(pipeline_conn: Connection[Any], settings: Settings, fake_polygon: FakePolygon) -> Any:
    from market_data.planning import BackfillJob
    from market_data.repositories.jobs import get_job, record_run
    from market_data.repositories.symbols import add_symbols

    add_symbols(pipeline_conn, [("AAPL", AssetClass.STOCK)], [Timeframe.D1])
    worker = build_worker(polygon_settings(settings, fake_polygon))

    def run(start: datetime, end: datetime) -> Any:
        import uuid

        job = BackfillJob(
            job_id=uuid.uuid4(), run_id=uuid.uuid4(), symbol="AAPL",
            asset_class=AssetClass.STOCK, timeframe=Timeframe.D1, start=start, end=end,
            refresh_actions=True,
        )  # fmt: skip
        record_run(pipeline_conn, job.run_id, "schedule", [job])
        outcome = worker.run(job)
        assert outcome.outcome == "succeeded", outcome.error
        return get_job(pipeline_conn, job.job_id)

    return run


def test_bars_stored_before_a_split_are_served_adjusted_after_it_and_raw_on_request(
    run_job: Any, fake_polygon: FakePolygon, client: TestClient, pipeline_conn: Connection[Any]
) -> None:
    # Night one: no split known yet; the vendor's raw bars trade at $400.
    vendor_knows(fake_polygon, daily(BEFORE, 400.0))
    first = run_job(BEFORE[0], BEFORE[-1] + timedelta(days=1))
    assert (first.bars_upserted, first.actions_upserted) == (10, 0)

    # Night two: the split is announced and executed; new bars trade at $100.
    vendor_knows(
        fake_polygon, daily(AFTER, 100.0), [split("2020-08-31", 1, 4)],
        [dividend("2020-08-07", 0.82)],
    )  # fmt: skip
    second = run_job(AFTER[0], AFTER[-1] + timedelta(days=1))
    assert (second.bars_upserted, second.actions_upserted) == (5, 2)

    params = {"start": "2020-08-17", "end": "2020-09-04"}
    adjusted = client.get("/api/v1/historical/AAPL", params=params).json()["data"]
    raw = client.get("/api/v1/historical/AAPL", params={**params, "adjustment": "raw"}).json()
    closes = [b["close"] for b in adjusted]
    assert closes == pytest.approx([100.0] * 15)  # no step at the split
    assert [b["volume"] for b in adjusted[:10]] == pytest.approx([4_000_000] * 10)
    assert [b["close"] for b in raw["data"]] == pytest.approx([400.0] * 10 + [100.0] * 5)
    # Every bar kept its quality: the split day is not an anomaly.
    assert all(b["validated"] and b["quality_score"] >= 0.85 for b in raw["data"])

    # A re-run of night two changes nothing that was already right.
    checksum = table_checksum(pipeline_conn), table_checksum(pipeline_conn, "splits")
    vendor_knows(
        fake_polygon, daily(AFTER, 100.0), [split("2020-08-31", 1, 4)],
        [dividend("2020-08-07", 0.82)],
    )  # fmt: skip
    again = run_job(AFTER[0], AFTER[-1] + timedelta(days=1))
    assert (again.bars_upserted, again.actions_upserted) == (0, 0)
    assert (table_checksum(pipeline_conn), table_checksum(pipeline_conn, "splits")) == checksum


def test_malformed_actions_are_rejected_and_counted_on_the_job(
    run_job: Any, fake_polygon: FakePolygon, client: TestClient
) -> None:
    vendor_knows(
        fake_polygon,
        daily(BEFORE, 400.0),
        [split("2020-08-31", 1, 4), split("2021-01-04", 0, 2), split("2021-02-01", 2, -1)],
        [
            dividend("2020-08-07", 0.82),
            dividend("2020-11-06", -0.2),
            {**dividend("2021-02-05", 0.2), "ex_dividend_date": None},
        ],
    )

    record = run_job(BEFORE[0], BEFORE[-1] + timedelta(days=1))

    assert (record.actions_upserted, record.actions_rejected) == (2, 4)
    listed = client.get("/api/v1/corporate-actions/AAPL").json()
    assert [s["execution_date"] for s in listed["splits"]] == ["2020-08-31"]
    assert [d["ex_dividend_date"] for d in listed["dividends"]] == ["2020-08-07"]
    assert date(2020, 8, 31).isoformat() in str(listed)

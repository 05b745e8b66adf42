"""The lake after backfill runs: every partition holds exactly the warehouse's bars."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import boto3
import pytest
from psycopg import Connection

from devtools.run_backfill import drain_queue
from market_data.lake import (
    LakeWriter,
    Partition,
    SeriesRange,
    SeriesState,
    partitions_of,
    read_groups,
    stale_partitions,
)
from market_data.repositories.symbols import add_symbols
from market_data.settings import Settings
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from market_data.wiring import lake_writer
from tests.helpers import utc
from tests.lake.support import create_bucket, lake_partitions, warehouse_partitions
from tests.pipeline import deliver, launch

RUN = {
    "symbols": ["AAPL", "BTC-USD"],
    "timeframes": [Timeframe.D1, Timeframe.H1, Timeframe.M15],
    "start": utc(2024, 1, 1),
    "end": utc(2024, 3, 10),
}


@pytest.fixture
def lake_settings(pipeline_settings: Settings) -> Settings:
    return pipeline_settings.model_copy(update={"lake_bucket": create_bucket()})


@pytest.fixture
def writer(lake_settings: Settings) -> LakeWriter:
    return lake_writer(lake_settings, boto3.client("s3"))


@pytest.fixture
def backfilled(
    handlers: Any, pipeline_conn: Connection[Any], lake_settings: Settings, backfill_queue: str
) -> Any:
    """Run a backfill through the queue and the worker; returns a function doing it again."""
    add_symbols(pipeline_conn, [("AAPL", AssetClass.STOCK), ("BTC-USD", AssetClass.CRYPTO)])
    backfill: ModuleType = handlers.backfill

    def run(**options: Any) -> Any:
        launched = launch(lake_settings, **{**RUN, **options})
        drain_queue(boto3.client("sqs"), backfill_queue, backfill.worker().process_message)
        return launched.run_id

    return run


def test_partitions_are_the_months_a_range_overlaps() -> None:
    months = [p.label for p in partitions_of(Timeframe.H1, utc(2024, 1, 31), utc(2024, 3, 1))]
    assert months == ["2024-01", "2024-02"]
    assert partitions_of(Timeframe.D1, utc(2024, 3, 1), utc(2024, 3, 1)) == []
    key = Partition(Timeframe.M5, utc(2024, 12, 5).date().replace(day=1)).key
    assert key == "bars/timeframe=5m/month=2024-12/bars.parquet"


def test_coarse_timeframes_are_read_a_year_at_a_time_and_intraday_a_month() -> None:
    daily = partitions_of(Timeframe.D1, utc(2023, 1, 1), utc(2024, 3, 1))
    hourly = partitions_of(Timeframe.M5, utc(2024, 1, 1), utc(2024, 3, 1))
    assert [len(g) for g in read_groups([*daily, *hourly])] == [12, 2, 1, 1]


def _state(source: str, records: int, first: int, last: int) -> SeriesState:
    """AAPL's daily series from the first to the last month of 2024 given."""
    return SeriesState(
        "AAPL", Timeframe.D1, source, records, utc(2024, first, 2), utc(2024, last, 2)
    )


def _months(partitions: list[Partition]) -> list[int]:
    return [p.month.month for p in partitions]


def test_changes_the_runs_jobs_do_not_explain_rewrite_the_series_old_and_new_months() -> None:
    before = {("AAPL", Timeframe.D1): _state("synthetic", 100, 1, 6)}
    job = [SeriesRange("AAPL", Timeframe.D1, utc(2024, 6, 1), utc(2024, 7, 3))]

    assert stale_partitions(before, [_state("synthetic", 100, 1, 6)], []) == []
    # Bars appended by a job of this run: its range says where.
    assert stale_partitions(before, [_state("synthetic", 120, 1, 7)], job) == []
    # A provider switch: the old source's bars are gone from every month.
    assert _months(stale_partitions(before, [_state("polygon", 30, 6, 7)], job)) == [
        1,
        2,
        3,
        4,
        5,
        6,
        7,
    ]
    # Fewer bars, or a shorter history, under the same source: some were deleted.
    assert _months(stale_partitions(before, [_state("synthetic", 90, 1, 6)], job)) == [
        1,
        2,
        3,
        4,
        5,
        6,
    ]
    assert _months(stale_partitions(before, [_state("synthetic", 100, 3, 7)], job)) == [
        1,
        2,
        3,
        4,
        5,
        6,
        7,
    ]
    # Changed without a job of this run (its own lake write was lost).
    assert _months(stale_partitions(before, [_state("synthetic", 120, 1, 7)], [])) == [
        1,
        2,
        3,
        4,
        5,
        6,
        7,
    ]
    # A series gone, and one the manifest does not know.
    assert _months(stale_partitions(before, [], [])) == [1, 2, 3, 4, 5, 6]
    assert _months(stale_partitions({}, [_state("synthetic", 10, 2, 3)], [])) == [2, 3]


def test_after_a_run_the_lake_holds_exactly_the_warehouse_bars(
    backfilled: Any, writer: LakeWriter, pipeline_conn: Connection[Any]
) -> None:
    report = writer.write_run(backfilled())

    expected = warehouse_partitions(pipeline_conn)
    assert report.rows == sum(rows for rows, _ in expected.values()) > 5_000
    assert len(expected) == 3 * 3  # three timeframes x January to March
    assert lake_partitions() == expected


def test_a_rerun_and_a_repeated_export_leave_the_lake_unchanged(
    backfilled: Any, writer: LakeWriter, pipeline_conn: Connection[Any]
) -> None:
    first = backfilled()
    writer.write_run(first)
    before = lake_partitions()

    second = backfilled()  # nothing changed: no job wrote a bar, no partition is touched
    assert writer.write_run(second).partitions == 0
    writer.write_run(first)  # exporting the first run again rewrites the same rows

    assert lake_partitions() == before == warehouse_partitions(pipeline_conn)


def test_revised_bars_replace_their_old_revision_in_the_lake(
    backfilled: Any, writer: LakeWriter, pipeline_conn: Connection[Any]
) -> None:
    writer.write_run(backfilled())
    # The warehouse holds a different revision of some February bars (as if the vendor
    # had sent other numbers before), and the lake has it.
    pipeline_conn.execute(
        "UPDATE bars SET close = close * 1.01, fetched_at = now() - interval '1 day'"
        " WHERE time >= '2024-02-05' AND time < '2024-02-08'"
    )
    writer.rebuild()
    tampered = lake_partitions()
    assert tampered == warehouse_partitions(pipeline_conn)

    # A run over February revises them back to the vendor's numbers.
    run = backfilled(start=utc(2024, 2, 1), end=utc(2024, 2, 20))
    report = writer.write_run(run)

    after = lake_partitions()
    assert after == warehouse_partitions(pipeline_conn)
    february = {key for key in after if key[1] == "2024-02"}
    assert {key for key in after if after[key] != tampered[key]} == february
    assert report.partitions == 3


def test_the_worker_that_finishes_a_run_has_the_export_lambda_write_its_lake(
    handlers: Any, pipeline_conn: Connection[Any], lake_settings: Settings, backfill_queue: str
) -> None:
    from export import handler as export_handler

    sqs = boto3.client("sqs")
    configured = lake_settings.model_copy(
        update={"export_queue_url": sqs.create_queue(QueueName="exports")["QueueUrl"]}
    )
    handlers.use(configured)
    export_handler.use_settings(configured)
    try:
        add_symbols(pipeline_conn, [("AAPL", AssetClass.STOCK)])
        launch(configured, symbols=["AAPL"], timeframes=[Timeframe.D1, Timeframe.H1],
               start=utc(2024, 1, 1), end=utc(2024, 2, 10))  # fmt: skip
        while deliver(handlers.backfill, backfill_queue) or _visible(backfill_queue):
            pass
        assert _visible(str(configured.export_queue_url)) == 1  # one lake write per run
        assert deliver(export_handler, str(configured.export_queue_url)) == []
    finally:
        export_handler.use_settings(None)

    assert lake_partitions() == warehouse_partitions(pipeline_conn)
    assert len(lake_partitions()) == 4


def _visible(queue_url: str) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def test_the_sample_event_rebuilds_the_lake_through_the_export_handler(
    backfilled: Any, lake_settings: Settings, pipeline_conn: Connection[Any]
) -> None:
    from export import handler as export_handler

    from devtools.lambda_context import FakeLambdaContext, load_event

    backfilled()
    export_handler.use_settings(lake_settings)
    try:
        result = export_handler.lambda_handler(load_event("sqs_export_lake"), FakeLambdaContext())
    finally:
        export_handler.use_settings(None)

    assert result["batchItemFailures"] == []
    assert lake_partitions() == warehouse_partitions(pipeline_conn)

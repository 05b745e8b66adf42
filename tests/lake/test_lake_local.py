"""make dev's lake: written to moto's S3 and a mirror directory, restored into a fresh emulator."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import requests
from psycopg import Connection

from devtools.lake_local import (
    LAKE_BUCKET,
    prepare_lake,
    request_lake_write,
    serve_exports,
    write_lake,
)
from devtools.run_backfill import drain_queue
from market_data.repositories.symbols import add_symbols
from market_data.settings import Settings
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from market_data.worker import JobOutcome
from tests.helpers import utc
from tests.lake.support import lake_partitions, warehouse_partitions
from tests.pipeline import launch


def _keys() -> set[str]:
    listing = boto3.client("s3").list_objects_v2(Bucket=LAKE_BUCKET)
    return {o["Key"] for o in listing.get("Contents", [])}


def test_the_first_start_writes_the_whole_lake_and_the_next_restores_it_into_moto(
    handlers: Any, pipeline_conn: Connection[Any], pipeline_settings: Settings,
    backfill_queue: str, tmp_path: Path, aws_endpoint: str,
) -> None:  # fmt: skip
    backfill: ModuleType = handlers.backfill
    add_symbols(pipeline_conn, [("AAPL", AssetClass.STOCK)])
    settings = prepare_lake(pipeline_settings, tmp_path)
    run = launch(settings, symbols=["AAPL"], timeframes=[Timeframe.D1],
                 start=utc(2024, 1, 1), end=utc(2024, 3, 1))  # fmt: skip
    drain_queue(boto3.client("sqs"), backfill_queue, backfill.worker().process_message)

    report = write_lake(settings, run.run_id)
    assert report.partitions == 2
    assert lake_partitions(LAKE_BUCKET) == warehouse_partitions(pipeline_conn)
    written = _keys()
    assert {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.parquet")} == written

    # The emulator starts empty each time make dev does; the mirror puts the lake back.
    requests.post(f"{aws_endpoint}/moto-api/reset", timeout=5).raise_for_status()
    prepare_lake(pipeline_settings, tmp_path)
    assert _keys() == written


def test_a_run_finished_while_make_dev_serves_gets_its_lake_write_from_the_export_thread(
    handlers: Any, pipeline_conn: Connection[Any], pipeline_settings: Settings,
    backfill_queue: str, tmp_path: Path,
) -> None:  # fmt: skip
    backfill: ModuleType = handlers.backfill
    add_symbols(pipeline_conn, [("AAPL", AssetClass.STOCK)])
    settings = prepare_lake(pipeline_settings, tmp_path)
    stop = threading.Event()
    worker = threading.Thread(target=serve_exports, args=(settings, stop), daemon=True)
    worker.start()
    try:
        launch(settings, symbols=["AAPL"], timeframes=[Timeframe.D1],
               start=utc(2024, 1, 1), end=utc(2024, 2, 1))  # fmt: skip

        def reported(outcome: JobOutcome | None) -> None:
            request_lake_write(settings, outcome)

        drain_queue(
            boto3.client("sqs"), backfill_queue, backfill.worker().process_message,
            on_message=reported,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while not _keys() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        worker.join(timeout=10)
    assert lake_partitions(LAKE_BUCKET) == warehouse_partitions(pipeline_conn)

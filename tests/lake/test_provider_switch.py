"""The lake after a provider switch: no partition keeps a bar the warehouse deleted.

A series switching provider loses all of its old source's bars in the warehouse
(one source per series), also those older than the new provider's history, which
no job of the switching run covers. The lake written before holds them; the
run's lake write must rewrite (or remove) every partition they were in, so each
partition's row count and checksum equal the warehouse's again. The checksums
come from an ordinary query of the bars table, not from the lake's COPY path.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from psycopg import Connection

from market_data.lake import MANIFEST_KEY, partitions_of
from market_data.repositories.symbols import add_symbols
from market_data.settings import Settings
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from market_data.wiring import lake_writer
from tests.fake_polygon import FakePolygon, Reply, bar, page
from tests.lake.support import LAKE_BUCKET, create_bucket, lake_partitions, warehouse_partitions
from tests.pipeline import deliver

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)
SYNTHETIC_DAYS, VENDOR_DAYS = 200, 40


def _drain(handler: Any, queue_url: str) -> None:
    for _ in range(20):
        deliver(handler, queue_url)
    assert deliver(handler, queue_url) == []


def _launch(settings: Settings, **options: Any) -> Any:
    from tests.pipeline import launch

    return launch(settings, now=NOW, **options)


def test_after_a_switch_every_partition_equals_the_warehouse_also_before_the_new_history(
    pipeline_conn: Connection[Any],
    pipeline_settings: Settings,
    handlers: Any,
    fake_polygon: FakePolygon,
) -> None:
    # Two synthetic series over about seven months; only AAPL switches to the vendor.
    add_symbols(
        pipeline_conn, [("AAPL", AssetClass.STOCK), ("MSFT", AssetClass.STOCK)], [Timeframe.D1]
    )
    synthetic = pipeline_settings.model_copy(
        update={
            "market_data_provider": "synthetic",
            "initial_history_days_daily": SYNTHETIC_DAYS,
            "lake_bucket": create_bucket(),
        }
    )
    handlers.use(synthetic)
    first = _launch(synthetic)
    _drain(handlers.backfill, str(synthetic.backfill_queue_url))
    writer = lake_writer(synthetic, boto3.client("s3"))
    writer.write_run(first.run_id)
    before = lake_partitions()
    assert before == warehouse_partitions(pipeline_conn)
    assert len(before) >= 7

    days = [NOW - timedelta(days=d) for d in range(VENDOR_DAYS, 0, -1)]
    vendor = [
        bar(d.replace(hour=4, minute=0), 100, 101, 99, 100.5) for d in days if d.weekday() < 5
    ]
    fake_polygon.script("AAPL", Reply(body=page(vendor)))
    polygon = fake_polygon.settings(synthetic, initial_history_days_daily=VENDOR_DAYS)
    handlers.use(polygon)
    switched = _launch(polygon, symbols=["AAPL"])
    _drain(handlers.backfill, str(polygon.backfill_queue_url))

    # The warehouse: AAPL is the vendor's alone, over its shorter history.
    sources = pipeline_conn.execute(
        "SELECT source, min(time) FROM bars WHERE symbol = 'AAPL' GROUP BY source"
    ).fetchall()
    assert [s for s, _ in sources] == ["polygon"]
    assert sources[0][1] >= NOW - timedelta(days=VENDOR_DAYS)
    # The months the switching run's jobs cover, and the older ones only the lake's
    # own record can name (they held synthetic AAPL bars, deleted now).
    covered = {
        p.label for job in switched.jobs for p in partitions_of(job.timeframe, job.start, job.end)
    }
    older = {month for _, month in before if month not in covered}
    assert len(older) >= 5

    writer.write_run(switched.run_id)

    after = lake_partitions()
    assert after == warehouse_partitions(pipeline_conn)
    for month in older:  # rewritten with MSFT's bars only
        assert after[("1d", month)][0] < before[("1d", month)][0]


def test_a_lake_without_its_manifest_is_rebuilt_and_loses_partitions_no_bar_is_in(
    pipeline_conn: Connection[Any], pipeline_settings: Settings, handlers: Any
) -> None:
    add_symbols(pipeline_conn, [("AAPL", AssetClass.STOCK)], [Timeframe.D1])
    settings = pipeline_settings.model_copy(
        update={"market_data_provider": "synthetic", "lake_bucket": create_bucket()}
    )
    handlers.use(settings)
    run = _launch(settings, start=NOW - timedelta(days=60), end=NOW)
    _drain(handlers.backfill, str(settings.backfill_queue_url))
    writer = lake_writer(settings, boto3.client("s3"))
    writer.write_run(run.run_id)
    s3 = boto3.client("s3")
    # A partition from a lake of unknown history (a bar deleted since, say), and no record.
    (key, *_) = [k for k in _keys(s3) if k.startswith("bars/")]
    s3.copy_object(
        Bucket=LAKE_BUCKET,
        CopySource={"Bucket": LAKE_BUCKET, "Key": key},
        Key="bars/timeframe=1d/month=2019-01/bars.parquet",
    )
    s3.delete_object(Bucket=LAKE_BUCKET, Key=MANIFEST_KEY)

    again = _launch(settings, start=NOW - timedelta(days=5), end=NOW)
    _drain(handlers.backfill, str(settings.backfill_queue_url))
    writer.write_run(again.run_id)

    assert lake_partitions() == warehouse_partitions(pipeline_conn)
    assert MANIFEST_KEY in _keys(s3)


def test_bars_a_lost_lake_write_left_out_are_written_by_the_next_run(
    pipeline_conn: Connection[Any], pipeline_settings: Settings, handlers: Any
) -> None:
    add_symbols(
        pipeline_conn, [("AAPL", AssetClass.STOCK), ("MSFT", AssetClass.STOCK)], [Timeframe.D1]
    )
    settings = pipeline_settings.model_copy(
        update={"market_data_provider": "synthetic", "lake_bucket": create_bucket()}
    )
    handlers.use(settings)
    writer = lake_writer(settings, boto3.client("s3"))
    start, middle = NOW - timedelta(days=120), NOW - timedelta(days=60)
    first = _launch(settings, symbols=["AAPL"], start=start, end=middle)
    _drain(handlers.backfill, str(settings.backfill_queue_url))
    writer.write_run(first.run_id)
    # A run whose lake write never happened (its message lost), then one of MSFT only,
    # over months the lost one did not write in.
    _launch(settings, symbols=["AAPL"], start=middle, end=NOW)
    _drain(handlers.backfill, str(settings.backfill_queue_url))
    third = _launch(settings, symbols=["MSFT"], start=start, end=start + timedelta(days=20))
    _drain(handlers.backfill, str(settings.backfill_queue_url))

    writer.write_run(third.run_id)

    assert lake_partitions() == warehouse_partitions(pipeline_conn)


def _keys(s3: Any) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=LAKE_BUCKET).get("Contents", [])}

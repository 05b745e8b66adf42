"""Composition: the use cases on their adapters, as the settings ask.

The one place that decides which store, queue and provider a process uses; the
handlers, the admin API and the local tools call these instead of wiring
adapters themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from market_data.circuit import ClosedCircuit
from market_data.db import get_pool
from market_data.queue import SqsJobMailbox, SqsJobQueue
from market_data.repositories.circuit import PostgresCircuitBreaker
from market_data.repositories.jobs import PostgresBackfillStore, PostgresRunStore
from market_data.settings import Settings
from market_data.worker import Worker

if TYPE_CHECKING:
    from market_data.lake import LakeWriter


def run_store(settings: Settings) -> PostgresRunStore:
    return PostgresRunStore(get_pool(settings).connection)


def job_queue(settings: Settings, sqs_client: Any, queue_url: str | None = None) -> SqsJobQueue:
    """The backfill queue (BACKFILL_QUEUE_URL unless another URL is given)."""
    url = queue_url or settings.backfill_queue_url
    if not url:
        raise ValueError("BACKFILL_QUEUE_URL is not set")
    return SqsJobQueue(
        sqs_client,
        url,
        threads=settings.fanout_send_threads,
        attempts=settings.fanout_send_attempts,
    )


def build_worker(
    settings: Settings,
    sqs_client: Any = None,
    *,
    clock: Callable[[], datetime] | None = None,
) -> Worker:
    """The worker MARKET_DATA_PROVIDER asks for, on the process-wide pool.

    With an SQS client (and BACKFILL_QUEUE_URL) it can defer a job while the vendor
    is down instead of spending a delivery; `clock` replaces the database clock of
    the circuit breaker (tests simulating a long outage).
    """
    connect = get_pool(settings).connection
    store = PostgresBackfillStore(connect)
    mailbox = None
    if sqs_client is not None and settings.backfill_queue_url:
        mailbox = SqsJobMailbox(sqs_client, settings.backfill_queue_url, settings.backfill_dlq_url)
    if settings.market_data_provider == "polygon":
        from market_data.providers.polygon import SOURCE, PolygonClient

        return Worker(
            PolygonClient.from_settings(settings),
            store,
            PostgresCircuitBreaker(
                connect,
                SOURCE,
                threshold=settings.vendor_circuit_failure_threshold,
                open_seconds=settings.vendor_circuit_open_s,
                clock=clock,
            ),
            settings.backfill_max_receive_count,
            mailbox=mailbox,
            probe_wait_s=settings.vendor_circuit_open_s,
            max_delay_s=settings.backfill_max_delay_s,
        )
    from market_data.providers.synthetic import SyntheticProvider

    return Worker(
        SyntheticProvider(), store, ClosedCircuit(), settings.backfill_max_receive_count,
        mailbox=mailbox, max_delay_s=settings.backfill_max_delay_s,
    )  # fmt: skip


def lake_writer(settings: Settings, s3_client: Any) -> LakeWriter:
    """The lake writer on the process-wide pool and LAKE_BUCKET (pyarrow: imported here,
    so the functions that never write the lake never load it)."""
    from pathlib import Path

    from market_data.lake import PARALLEL_GROUPS, LakeWriter
    from market_data.lake_s3 import S3LakeSink
    from market_data.repositories.lake import PostgresLakeSource

    if not settings.lake_bucket:
        raise ValueError("LAKE_BUCKET is not set")
    mirror = Path(settings.lake_mirror_dir) if settings.lake_mirror_dir else None
    return LakeWriter(
        PostgresLakeSource(get_pool(settings).connection),
        S3LakeSink(s3_client, settings.lake_bucket, mirror),
        # Each group written at once holds a pooled connection.
        workers=min(PARALLEL_GROUPS, settings.db_pool_max_size),
    )


def export_parts(settings: Settings, s3_client: Any) -> tuple[Any, Any, Any]:
    """An export's record store, bar reader and file writer (EXPORTS_BUCKET)."""
    from market_data.export_files import S3ExportFiles
    from market_data.exports_s3 import S3ExportStore
    from market_data.repositories.exports import PostgresBarReader

    if not settings.exports_bucket:
        raise ValueError("EXPORTS_BUCKET is not set")
    return (
        S3ExportStore(s3_client, settings.exports_bucket),
        PostgresBarReader(get_pool(settings).connection),
        S3ExportFiles(s3_client, settings.exports_bucket),
    )


def lake_queue(settings: Settings, sqs_client: Any) -> Any:
    """Where a finished run asks for its lake write (EXPORT_QUEUE_URL), or None."""
    from market_data.exports_s3 import SqsExportQueue

    if not settings.export_queue_url:
        return None
    return SqsExportQueue(sqs_client, settings.export_queue_url)

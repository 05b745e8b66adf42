"""Composition: the use cases on their adapters, as the settings ask.

The one place that decides which store, queue and provider a process uses; the
handlers, the admin API and the local tools call these instead of wiring
adapters themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from market_data.circuit import ClosedCircuit
from market_data.db import get_pool
from market_data.queue import SqsJobMailbox, SqsJobQueue
from market_data.repositories.circuit import PostgresCircuitBreaker
from market_data.repositories.jobs import PostgresBackfillStore, PostgresRunStore
from market_data.settings import Settings
from market_data.worker import Worker


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

"""The backfill queue's state for /api/v1/metrics: messages waiting, in flight and
delayed, and what the dead-letter queue holds (the dashboard alerts on it).

Read with one GetQueueAttributes per queue, kept for a few seconds so a
dashboard polling every instance does not turn into SQS calls per request, with
short timeouts and a single attempt: the metrics answer even when SQS does not
("unavailable").
"""

from __future__ import annotations

import threading
import time
from functools import cache
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from market_data.queue import queue_depth
from market_data.settings import Settings

CACHE_S = 10.0
_SQS_CONFIG = Config(
    connect_timeout=0.5, read_timeout=1.0, retries={"total_max_attempts": 1, "mode": "standard"}
)
_lock = threading.Lock()
_cached: dict[tuple[str | None, str | None], tuple[float, dict[str, Any]]] = {}


@cache
def _sqs(endpoint_url: str | None, region: str) -> Any:
    import boto3

    return boto3.client("sqs", endpoint_url=endpoint_url, region_name=region, config=_SQS_CONFIG)


def _read(settings: Settings) -> dict[str, Any]:
    client = _sqs(settings.aws_endpoint_url, settings.aws_region)
    summary: dict[str, Any] = {"status": "available"}
    try:
        if settings.backfill_queue_url:
            depth = queue_depth(client, settings.backfill_queue_url)
            summary["backfill"] = {
                "visible": depth["ApproximateNumberOfMessages"],
                "in_flight": depth["ApproximateNumberOfMessagesNotVisible"],
                "delayed": depth["ApproximateNumberOfMessagesDelayed"],
            }
        if settings.backfill_dlq_url:
            depth = queue_depth(client, settings.backfill_dlq_url)
            summary["dead_letter"] = {"visible": depth["ApproximateNumberOfMessages"]}
    except (BotoCoreError, ClientError) as exc:
        return {"status": "unavailable", "error": type(exc).__name__}
    return summary


def queue_summary(settings: Settings, *, now: float | None = None) -> dict[str, Any] | None:
    """None when no queue is configured; otherwise the (briefly cached) depths."""
    if not settings.backfill_queue_url and not settings.backfill_dlq_url:
        return None
    key = (settings.backfill_queue_url, settings.backfill_dlq_url)
    now = time.monotonic() if now is None else now
    with _lock:
        hit = _cached.get(key)
        if hit is not None and now - hit[0] < CACHE_S:
            return hit[1]
    summary = _read(settings)
    with _lock:
        _cached[key] = (now, summary)
    return summary


def forget() -> None:
    """Drop the cached readings (tests that change the queues between requests)."""
    with _lock:
        _cached.clear()

"""Fan-out: plan + record + enqueue the nightly run for N symbols x 7 timeframes (moto SQS)."""

from __future__ import annotations

import time
from typing import Any

import boto3
import psycopg
from moto import mock_aws
from moto.sqs.models import Queue

from bench.stats import Row
from market_data.migrations import apply_migrations
from market_data.planning import rules_from_settings
from market_data.queue import SqsJobQueue
from market_data.repositories.jobs import PostgresRunStore
from market_data.repositories.symbols import add_symbols
from market_data.runs import launch_run
from market_data.settings import Settings
from market_data.symbols import AssetClass
from market_data.timeframes import DEFAULT_TIMEFRAMES


def _constant_time_moto_counters() -> None:
    """moto recounts every stored message for each one it accepts (quadratic in queue
    depth), which real SQS never does; with nothing delayed or in flight the
    counters are just the queue length. Without this the figure measures moto."""
    Queue.approximate_number_of_messages = property(lambda q: len(q._messages))  # type: ignore[method-assign,assignment]
    Queue.approximate_number_of_messages_delayed = property(lambda q: 0)  # type: ignore[method-assign,assignment]
    Queue.approximate_number_of_messages_not_visible = property(lambda q: 0)  # type: ignore[method-assign,assignment]


def run(server_url: str, symbols: int) -> list[Row]:
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS mdw_bench_fanout WITH (FORCE)")
        admin.execute("CREATE DATABASE mdw_bench_fanout")
    url = psycopg.conninfo.make_conninfo(server_url, dbname="mdw_bench_fanout")
    with psycopg.connect(url, autocommit=True) as conn:
        apply_migrations(conn)
        add_symbols(conn, [(f"F{i:05d}", AssetClass.STOCK) for i in range(symbols)])
        # A nightly run: every series already holds history up to yesterday, so each
        # plans one incremental job (a new symbol would plan its initial history).
        conn.execute(
            "INSERT INTO series_stats (symbol, timeframe, records, validated_records,"
            " gap_records, first_time, last_time)"
            " SELECT symbol, tf, 1, 1, 0, now() - interval '2 days', now() - interval '1 day'"
            " FROM symbols, unnest(timeframes) tf"
        )

    _constant_time_moto_counters()
    calls: list[int] = []
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=None)
        queue_url = sqs.create_queue(QueueName="backfill")["QueueUrl"]

        def count(params: dict[str, Any], **_: Any) -> None:
            calls.append(len(params["Entries"]))

        sqs.meta.events.register("provide-client-params.sqs.SendMessageBatch", count)
        settings = Settings(database_url=url)
        started = time.perf_counter()
        launched = launch_run(
            rules_from_settings(settings),
            PostgresRunStore(lambda: psycopg.connect(url, autocommit=True)),
            SqsJobQueue(
                sqs,
                queue_url,
                threads=settings.fanout_send_threads,
                attempts=settings.fanout_send_attempts,
            ),
            trigger="cli",
        )
        seconds = time.perf_counter() - started
    jobs = symbols * len(DEFAULT_TIMEFRAMES)
    assert launched.report.sent == jobs, launched.report
    floor_calls = -(-jobs // 10)  # SendMessageBatch takes at most 10 entries
    return [
        Row.judged(
            "fan-out",
            f"{symbols:,} symbols x 7 timeframes: SQS send calls",
            len(calls),
            floor_calls,
            "calls",
            "one call per 10 jobs",
            len(calls) == floor_calls,
            "{:,.0f}",
        ),
        Row(
            "fan-out",
            f"{jobs:,} jobs planned, recorded and enqueued",
            f"{seconds:.1f} s",
            "moto SQS in-process",
            "",
            "seconds, not minutes",
            "met" if seconds < 60 else "MISSED",
        ),
    ]

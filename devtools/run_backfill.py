"""`make backfill`: run a backfill for chosen symbols and ranges, locally, the production way.

    make backfill SYMBOLS=AAPL,BTC-USD START=2024-01-01 END=2024-03-31 [TIMEFRAMES=1d,1h]

Same path as the nightly run: the fan-out logic plans the jobs and sends them
to SQS (emulated by moto), and the backfill worker's record logic drains the
queue in-process, deleting each message it finished (a failed one comes back
after its visibility timeout, and moto's redrive policy moves it to the
dead-letter queue after five receives, as SQS would). Uses the synthetic
provider, or Polygon when POLYGON_API_KEY is set. Data goes to the `make dev`
database (.local/pgdata, or DATABASE_URL); symbols not tracked yet are added.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from market_data.settings import Settings
from market_data.worker import JobOutcome

ROOT = Path(__file__).resolve().parents[1]
STATE_DIR = ROOT / ".local"
QUEUE_NAME = "mdw-backfill"
DLQ_NAME = "mdw-backfill-dlq"
MAX_RECEIVE_COUNT = 5
# Longer than any local job, so a message is never redelivered while it is worked on.
VISIBILITY_TIMEOUT_S = 120
# A job that must be retried comes back this soon (the deployed queue waits out
# the full visibility timeout instead).
RETRY_DELAY_S = 1

ProcessMessage = Callable[[str, int], JobOutcome]
# Outcomes after which the job's message is gone for good (progress bars count these).
FINAL = ("succeeded", "failed", "duplicate")


@dataclass
class DrainReport:
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    deferred: int = 0  # re-sent delayed while the vendor circuit was open
    duplicates: int = 0
    unprocessable: int = 0
    bars_upserted: int = 0
    errors: list[str] = field(default_factory=list)


def create_backfill_queue(sqs: Any) -> str:
    """The local queue, shaped like the deployed one: a DLQ after MAX_RECEIVE_COUNT receives."""
    dlq_url = sqs.create_queue(QueueName=DLQ_NAME)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT})
    attributes = {"RedrivePolicy": policy, "VisibilityTimeout": str(VISIBILITY_TIMEOUT_S)}
    return str(sqs.create_queue(QueueName=QUEUE_NAME, Attributes=attributes)["QueueUrl"])


def _queue_empty(sqs: Any, queue_url: str) -> bool:
    # Delayed too: a job waiting out an open vendor circuit is re-sent with a delay.
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    return all(int(attributes[name]) == 0 for name in names)


def drain_queue(
    sqs: Any,
    queue_url: str,
    process: ProcessMessage,
    *,
    threads: int = 2,
    retry_delay: int = RETRY_DELAY_S,
    on_message: Callable[[JobOutcome | None], None] | None = None,
    until: threading.Event | None = None,
) -> DrainReport:
    """Receive and process messages until the queue (visible and in flight) is empty.

    What the Lambda event source does, in-process: a message is deleted when its
    job is done (succeeded, failed for good, or a duplicate); one that must be
    retried or cannot be processed comes back after `retry_delay` seconds, and
    after MAX_RECEIVE_COUNT receives the queue's redrive policy moves it to the DLQ.
    With `until`, an empty queue does not end it: it keeps polling, as the event
    source does, until the event is set; then messages not started yet go back to
    the queue at once (jobs in flight finish, or die with the process).
    """
    report = DrainReport()
    # Set on Ctrl-C (or by `until`): messages not started yet go straight back to
    # the queue instead of being worked on, so stopping waits for nothing.
    stopping = until if until is not None else threading.Event()

    def retry_soon(message: dict[str, Any], delay: int = retry_delay) -> None:
        sqs.change_message_visibility(
            QueueUrl=queue_url,
            ReceiptHandle=message["ReceiptHandle"],
            VisibilityTimeout=delay,
        )

    def handle(message: dict[str, Any]) -> JobOutcome | str | None:
        if stopping.is_set():
            retry_soon(message, 0)
            return None
        receive_count = int(message["Attributes"].get("ApproximateReceiveCount", "1"))
        try:
            outcome = process(message["Body"], receive_count)
        except Exception as exc:
            retry_soon(message)
            return f"message {message['MessageId']}: {type(exc).__name__}: {exc}"
        if outcome.requeue:
            retry_soon(message)
        else:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return outcome

    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="drain")
    try:
        while not stopping.is_set():
            # As many as there are threads to work on them: a message taken early
            # would wait its turn while its visibility timeout runs, then come back
            # to another drainer and be done twice.
            messages = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=min(10, threads),
                AttributeNames=["ApproximateReceiveCount"],
            ).get("Messages", [])
            if not messages:
                if until is not None:
                    if until.wait(1.0):
                        return report
                elif _queue_empty(sqs, queue_url):
                    return report
                else:
                    time.sleep(0.25)  # retries are invisible for a moment
                continue
            for result in pool.map(handle, messages):
                outcome = _count(report, result)
                if on_message is not None:
                    on_message(outcome)
        return report
    except BaseException:
        # Ctrl-C in the thread that drains: jobs not started are handed back at once
        # and nothing waits for the ones in flight (whoever stops the process does
        # not join them either: see devtools.dev.main).
        stopping.set()
        raise
    finally:
        pool.shutdown(wait=not stopping.is_set(), cancel_futures=True)


def drain_in_processes(
    settings: Settings,
    queue_url: str,
    *,
    processes: int = 2,
    threads: int = 2,
    on_message: Callable[[JobOutcome | None], None] | None = None,
) -> DrainReport:
    """drain_queue in `processes` child interpreters at once, each with its own worker.

    Generating synthetic bars and validating them is Python work, which one
    interpreter's GIL runs on one core however many threads it has; children put
    every core to work. Each child consumes the queue as one more Lambda instance
    would, so the queue's semantics are unchanged. Outcomes reach `on_message`
    here, as they happen.
    """
    context = multiprocessing.get_context("spawn")  # no copy of this process's threads
    results = context.Queue()
    children = [
        context.Process(
            target=_drain_child, args=(settings, queue_url, threads, results), daemon=True
        )
        for _ in range(processes)
    ]
    for child in children:
        child.start()
    total, running = DrainReport(), len(children)
    stopped = True  # until the children reported: on Ctrl-C they are not waited for
    try:
        while running:
            try:
                kind, payload = results.get(timeout=0.5)
            except queue.Empty:
                if not any(child.is_alive() for child in children):
                    raise RuntimeError("a drain process ended without a report") from None
                continue
            if kind == "job":
                if on_message is not None:
                    on_message(payload)
            else:
                running -= 1
                _merge(total, payload)
        stopped = False
    finally:
        for child in children:
            if stopped:
                # Ctrl-C: a child's job in flight dies with it, and its transaction
                # with its connection (nothing half-written).
                child.terminate()
            child.join(timeout=10)
            if child.is_alive():
                child.kill()
    return total


def _drain_child(
    settings: Settings, queue_url: str, threads: int, results: multiprocessing.Queue[Any]
) -> None:
    import boto3

    from market_data.wiring import build_worker

    sqs = boto3.client("sqs", endpoint_url=settings.aws_endpoint_url)
    report = drain_queue(
        sqs, queue_url, build_worker(settings, sqs).process_message, threads=threads,
        on_message=lambda outcome: results.put(("job", outcome)),
    )  # fmt: skip
    results.put(("report", report))


def _merge(total: DrainReport, part: DrainReport) -> None:
    total.succeeded += part.succeeded
    total.failed += part.failed
    total.retried += part.retried
    total.deferred += part.deferred
    total.duplicates += part.duplicates
    total.unprocessable += part.unprocessable
    total.bars_upserted += part.bars_upserted
    total.errors.extend(part.errors)


def _count(report: DrainReport, result: JobOutcome | str | None) -> JobOutcome | None:
    if result is None:
        return None  # handed back unprocessed: the drain is stopping
    if isinstance(result, str):
        report.unprocessable += 1
        report.errors.append(result)
        return None
    if result.outcome == "succeeded":
        report.succeeded += 1
        report.bars_upserted += result.counts.bars_upserted
    elif result.outcome == "duplicate":
        report.duplicates += 1
    elif result.outcome == "failed":
        report.failed += 1
        report.errors.append(f"{result.job.symbol} {result.job.timeframe}: {result.error}")
    elif result.outcome == "deferred":
        report.deferred += 1
    else:
        report.retried += 1
    return result


def _parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make backfill", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--symbols",
        default=os.environ.get("SYMBOLS", ""),
        help="comma list, e.g. AAPL,BTC-USD (default: every active symbol)",
    )
    parser.add_argument(
        "--timeframes",
        default=os.environ.get("TIMEFRAMES", ""),
        help="comma list, e.g. 1d,1h (default: each symbol's own)",
    )
    parser.add_argument(
        "--start",
        default=os.environ.get("START", ""),
        help="YYYY-MM-DD or RFC 3339 (default: incremental from the last bar)",
    )
    parser.add_argument(
        "--end",
        default=os.environ.get("END", ""),
        help="YYYY-MM-DD (inclusive) or RFC 3339 (default: now)",
    )
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args(argv)  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(sys.argv[1:] if argv is None else argv)

    import boto3
    import psycopg
    from tqdm import tqdm  # type: ignore[import-untyped]  # no stubs in requirements-dev

    from devtools.local_aws import start_aws
    from devtools.local_pg import start_postgres
    from devtools.local_settings import local_settings
    from market_data.errors import DomainError
    from market_data.history import resolve_window
    from market_data.migrations import apply_migrations
    from market_data.planning import rules_from_settings
    from market_data.repositories.symbols import add_symbols
    from market_data.runs import launch_run
    from market_data.symbols import canonical_symbol, infer_asset_class
    from market_data.timeframes import Timeframe
    from market_data.wiring import build_worker, job_queue, run_store

    try:
        symbols = [canonical_symbol(s) for s in args.symbols.split(",") if s.strip()] or None
        timeframes = [Timeframe(t.strip()) for t in args.timeframes.split(",") if t.strip()]
        start, end = resolve_window(args.start, args.end, start_name="START", end_name="END")
    except (ValueError, DomainError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    database_url, _pg = start_postgres(STATE_DIR / "pgdata")
    endpoint, aws = start_aws()
    try:
        sqs = boto3.client("sqs", endpoint_url=endpoint)
        queue_url = create_backfill_queue(sqs)
        dlq_url = sqs.get_queue_url(QueueName=DLQ_NAME)["QueueUrl"]
        settings = local_settings(
            database_url, endpoint, backfill_queue_url=queue_url, backfill_dlq_url=dlq_url
        )
        provider = settings.market_data_provider
        with psycopg.connect(database_url, autocommit=True) as conn:
            apply_migrations(conn)
            if symbols:
                # Unknown symbols are tracked so they can be backfilled, with the
                # asset class the admin API infers when none is given.
                add_symbols(conn, [(s, infer_asset_class(s)) for s in symbols])

        try:
            launched = launch_run(
                rules_from_settings(settings), run_store(settings), job_queue(settings, sqs),
                trigger="cli", symbols=symbols, timeframes=timeframes or None, start=start, end=end,
            )  # fmt: skip
        except DomainError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"Run {launched.run_id}: {len(launched.jobs)} jobs queued ({provider} provider)")

        worker = build_worker(settings, sqs)
        with tqdm(total=len(launched.jobs), unit="job") as bar:
            report = drain_queue(
                sqs, queue_url, worker.process_message, threads=args.threads,
                on_message=lambda o: bar.update(1) if o and o.outcome in FINAL else None,
            )  # fmt: skip
        print(
            f"{report.succeeded} succeeded, {report.failed} failed, {report.retried} retries, "
            f"{report.bars_upserted:,} bars written"
        )
        for error in report.errors[:20]:
            print(f"  {error}")
        return 0 if report.failed == 0 and report.unprocessable == 0 else 1
    finally:
        aws.stop()


if __name__ == "__main__":
    sys.exit(main())

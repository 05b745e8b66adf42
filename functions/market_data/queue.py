"""The backfill queue: jobs go to SQS in SendMessageBatch calls of ten.

Entries SQS rejects are retried when the fault is on its side (SenderFault
false: throttling, internal errors) and reported when it is ours; a call that
fails outright is retried whole (botocore already retried it with backoff).
Batches are sent from a few threads: boto3 clients are thread-safe and each
call is a network round trip, so 10,000 jobs take seconds, not minutes.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from market_data.jobs import EnqueueReport, UnsentJob
from market_data.planning import BackfillJob

SQS_BATCH_SIZE = 10  # the SendMessageBatch maximum
RETRY_PAUSE_S = 0.2


class BatchSender(Protocol):
    """The one SQS call the fan-out needs (a boto3 SQS client satisfies it)."""

    def send_message_batch(self, *, QueueUrl: str, Entries: Any) -> Any: ...


class MessageSender(Protocol):
    """The one SQS call a worker's mailbox needs (a boto3 SQS client satisfies it)."""

    def send_message(self, **kwargs: Any) -> Any: ...


def _entries(jobs: Sequence[BackfillJob]) -> list[dict[str, str]]:
    # The entry id only has to be unique within its batch; the job id is, and it
    # makes a rejected entry point straight at its job.
    return [{"Id": str(job.job_id), "MessageBody": job.model_dump_json()} for job in jobs]


def _send_one_batch(
    client: BatchSender, queue_url: str, jobs: Sequence[BackfillJob], attempts: int
) -> EnqueueReport:
    report = EnqueueReport()
    pending = _entries(jobs)
    for attempt in range(1, attempts + 1):
        if attempt > 1:
            time.sleep(RETRY_PAUSE_S * attempt)
        report.calls += 1
        try:
            result: Any = client.send_message_batch(QueueUrl=queue_url, Entries=pending)
        except (BotoCoreError, ClientError) as exc:
            if attempt == attempts:
                report.unsent.extend(
                    UnsentJob(e["Id"], type(exc).__name__, str(exc)[:300]) for e in pending
                )
            continue
        report.sent += len(result.get("Successful", []))
        retry_ids = set()
        for failure in result.get("Failed", []):
            if failure.get("SenderFault") or attempt == attempts:
                report.unsent.append(
                    UnsentJob(failure["Id"], failure.get("Code", ""), failure.get("Message", ""))
                )
            else:
                retry_ids.add(failure["Id"])
        pending = [entry for entry in pending if entry["Id"] in retry_ids]
        if not pending:
            break
    return report


def send_jobs(
    client: BatchSender,
    queue_url: str,
    jobs: Sequence[BackfillJob],
    *,
    threads: int = 8,
    attempts: int = 3,
) -> EnqueueReport:
    """Send every job; the report says how many went, in how many calls, and which did not."""
    batches = [jobs[i : i + SQS_BATCH_SIZE] for i in range(0, len(jobs), SQS_BATCH_SIZE)]
    total = EnqueueReport()
    if not batches:
        return total
    # Each send runs in the caller's context, so its span joins the caller's trace.
    caller = contextvars.copy_context()

    def send(batch: Sequence[BackfillJob]) -> EnqueueReport:
        return caller.copy().run(_send_one_batch, client, queue_url, batch, attempts)

    with ThreadPoolExecutor(max_workers=min(threads, len(batches))) as pool:
        for report in pool.map(send, batches):
            total.sent += report.sent
            total.calls += report.calls
            total.unsent.extend(report.unsent)
    return total


DEPTH_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


def queue_depth(client: Any, url: str) -> dict[str, int]:
    """Messages visible, in flight and delayed (SQS's approximate counts)."""
    attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=list(DEPTH_ATTRIBUTES))
    return {name: int(attributes["Attributes"].get(name, 0)) for name in DEPTH_ATTRIBUTES}


class SqsJobQueue:
    """The backfill queue the use cases send to (market_data.runs.JobQueue), and whose
    emptiness the stuck-job check reads (market_data.recovery.QueueState)."""

    def __init__(self, client: BatchSender, url: str, *, threads: int, attempts: int) -> None:
        self.client, self.url = client, url
        self._threads, self._attempts = threads, attempts

    def is_empty(self) -> bool:
        return not any(queue_depth(self.client, self.url).values())

    def send(self, jobs: Sequence[BackfillJob]) -> EnqueueReport:
        return send_jobs(
            self.client, self.url, jobs, threads=self._threads, attempts=self._attempts
        )


MAX_REASON_LENGTH = 1000


class SqsJobMailbox:
    """What a worker sends itself (market_data.worker.JobMailbox): a job re-sent with
    a delay while the vendor is down, and a re-sent job that gave up, to the DLQ with
    its reason as a message attribute (`error`)."""

    def __init__(self, client: MessageSender, queue_url: str, dlq_url: str | None) -> None:
        self.client, self.queue_url, self.dlq_url = client, queue_url, dlq_url

    def defer(self, job: BackfillJob, delay_s: int) -> None:
        self.client.send_message(
            QueueUrl=self.queue_url, MessageBody=job.model_dump_json(), DelaySeconds=delay_s
        )

    def dead_letter(self, job: BackfillJob, reason: str) -> bool:
        if not self.dlq_url:
            return False
        self.client.send_message(
            QueueUrl=self.dlq_url,
            MessageBody=job.model_dump_json(),
            MessageAttributes={
                "error": {"DataType": "String", "StringValue": reason[:MAX_REASON_LENGTH]}
            },
        )
        return True

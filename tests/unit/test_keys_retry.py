"""Retries of DynamoDB calls: only what may succeed next time, and never past the budget."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from market_data.errors import KeyNotFound, KeyStoreUnavailable
from market_data.keys.aws import RETRY_BASE_DELAY_S, RetryPolicy, client_config, is_retryable
from market_data.settings import Settings


def client_error(code: str, status: int = 400) -> ClientError:
    response: Any = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "GetItem")


class FakeTime:
    """A monotonic clock that only moves when the policy sleeps or an attempt takes time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def failing(errors: list[BaseException], time: FakeTime, took: float = 0.0) -> Any:
    """Raises the given errors in turn (each attempt taking `took`), then works."""
    calls: list[int] = []

    def operation() -> str:
        calls.append(1)
        time.now += took
        if errors:
            raise errors.pop(0)
        return "ok"

    operation.calls = calls  # type: ignore[attr-defined]
    return operation


@pytest.mark.parametrize(
    "error",
    [
        client_error("ProvisionedThroughputExceededException"),
        client_error("ThrottlingException"),
        client_error("RequestLimitExceeded"),
        client_error("InternalServerError", 500),
        client_error("SomethingNew", 503),
        EndpointConnectionError(endpoint_url="http://dynamodb"),
        ConnectTimeoutError(endpoint_url="http://dynamodb"),
        ReadTimeoutError(endpoint_url="http://dynamodb"),
    ],
    ids=lambda e: e.response["Error"]["Code"] if isinstance(e, ClientError) else type(e).__name__,
)
def test_throttling_server_errors_and_timeouts_are_retried(error: BaseException) -> None:
    time = FakeTime()
    policy = RetryPolicy(3, 0.3, sleep=time.sleep, clock=time.clock)
    operation = failing([error, error], time)
    assert is_retryable(error)
    assert policy.run("read key", operation) == "ok"
    assert len(operation.calls) == 3
    assert len(time.sleeps) == 2
    assert all(0 <= s <= RETRY_BASE_DELAY_S * 2**n for n, s in enumerate(time.sleeps))


@pytest.mark.parametrize(
    "code", ["ConditionalCheckFailedException", "ResourceNotFoundException", "ValidationException"]
)
def test_an_answer_that_will_not_change_is_not_retried(code: str) -> None:
    time = FakeTime()
    operation = failing([client_error(code)], time)
    with pytest.raises(KeyStoreUnavailable, match=code):
        RetryPolicy(3, 0.3, sleep=time.sleep, clock=time.clock).run("read key", operation)
    assert len(operation.calls) == 1


def test_a_domain_error_from_the_operation_passes_through_at_once() -> None:
    time = FakeTime()
    operation = failing([KeyNotFound("k1")], time)
    with pytest.raises(KeyNotFound):
        RetryPolicy(3, 0.3, sleep=time.sleep, clock=time.clock).run("update key", operation)
    assert len(operation.calls) == 1


def test_attempts_stop_at_the_maximum() -> None:
    time = FakeTime()
    throttled = [client_error("ThrottlingException") for _ in range(5)]
    operation = failing(throttled, time)
    with pytest.raises(KeyStoreUnavailable, match="ThrottlingException"):
        RetryPolicy(3, 10.0, sleep=time.sleep, clock=time.clock).run("read key", operation)
    assert len(operation.calls) == 3


def test_no_retry_starts_once_the_budget_is_spent() -> None:
    """Slow failures (each attempt 0.2 s): the second starts within 0.3 s, a third would not."""
    time = FakeTime()
    timeouts = [ReadTimeoutError(endpoint_url="http://dynamodb") for _ in range(5)]
    operation = failing(timeouts, time, took=0.2)
    with pytest.raises(KeyStoreUnavailable, match="ReadTimeoutError"):
        RetryPolicy(10, 0.3, sleep=time.sleep, clock=time.clock).run("read key", operation)
    assert len(operation.calls) == 2
    # At most the budget plus the one attempt that started inside it.
    assert time.now <= 0.3 + 0.2


def test_a_single_attempt_policy_never_retries() -> None:
    time = FakeTime()
    operation = failing([client_error("ThrottlingException")], time)
    with pytest.raises(KeyStoreUnavailable):
        RetryPolicy(sleep=time.sleep, clock=time.clock).run("record key use", operation)
    assert len(operation.calls) == 1 and time.sleeps == []


def test_the_client_has_the_settings_timeouts_and_no_retries_of_its_own() -> None:
    settings = Settings(
        database_url="postgresql://unused.invalid/x",
        dynamodb_connect_timeout_s=0.1,
        dynamodb_read_timeout_s=0.2,
    )
    config = client_config(settings)
    assert (config.connect_timeout, config.read_timeout) == (0.1, 0.2)
    assert config.retries == {"mode": "standard", "total_max_attempts": 1}
    policy = RetryPolicy.of(settings)
    assert (policy.max_attempts, policy.budget_s) == (3, 0.3)

"""429 and 503 are waited out (the server's Retry-After, capped); timeouts; configuration."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.routes import meta
from market_data.keys.models import Scope
from mdw_client import (
    AuthenticationError,
    Client,
    ConnectionFailedError,
    RateLimitError,
    RequestTimeoutError,
    Retry,
    RetryPolicy,
    ServerError,
    ServiceUnavailableError,
)
from tests.client.conftest import Sleeps
from tests.key_fakes import ManualClock

WINDOW_END = datetime(2030, 1, 2, 3, 5, tzinfo=UTC)  # the key clock starts at 03:04:05


def limited_key(key_services: Any, per_minute: int) -> str:
    issued = key_services.admin.create(
        name="limited", scopes=[Scope.READ], rate_limit_per_minute=per_minute, created_by="tests"
    )
    return str(issued.api_key)


class Scripted(httpx.BaseTransport):
    """Answers from a script first (responses, or exceptions to raise), then the real app."""

    def __init__(self, inner: httpx.BaseTransport | None, script: list[Any]) -> None:
        self.inner = inner
        self.script = script
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.script:
            step = self.script.pop(0)
            if isinstance(step, Exception):
                raise step
            return step  # type: ignore[no-any-return]
        if self.inner is None:
            return httpx.Response(200, json={"status": "healthy", "timestamp":
                                             "2030-01-01T00:00:00Z", "version": "x"})  # fmt: skip
        return self.inner.handle_request(request)


def over(app: TestClient | None, script: list[Any]) -> tuple[httpx.Client, Scripted]:
    inner = app._transport if app is not None else None  # the app, in-process
    transport = Scripted(inner, script)
    return httpx.Client(transport=transport, base_url="http://testserver"), transport


def problem(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"type": "about:blank", "title": "x", "status": status, "detail": f"scripted {status}",
            "instance": "/"}  # fmt: skip
    return httpx.Response(
        status, json=body, headers={"content-type": "application/problem+json", **(headers or {})}
    )


def test_a_real_429_is_waited_out_for_as_long_as_retry_after_says(
    keyed_client: TestClient, key_services: Any, key_clock: ManualClock, sleeps: Sleeps
) -> None:
    sleeps.hook = lambda seconds: key_clock.advance(seconds=seconds)  # time passes as we wait
    mdw = Client(http_client=keyed_client, api_key=limited_key(key_services, 2), sleep=sleeps)

    mdw.symbols()
    assert mdw.rate_limit is not None
    assert (mdw.rate_limit.limit, mdw.rate_limit.remaining) == (2, 1)
    assert mdw.rate_limit.reset == WINDOW_END
    mdw.symbols()
    assert mdw.rate_limit.remaining == 0
    assert sleeps == []

    mdw.symbols()  # refused with 429 + Retry-After: 55, then served in the next window

    assert sleeps == [55.0]
    assert (mdw.rate_limit.limit, mdw.rate_limit.remaining) == (2, 1)
    assert mdw.rate_limit.reset.timestamp() == WINDOW_END.timestamp() + 60


def test_a_429_that_outlasts_the_retries_raises_with_retry_after(
    keyed_client: TestClient, key_services: Any, sleeps: Sleeps
) -> None:
    mdw = Client(
        http_client=keyed_client,
        api_key=limited_key(key_services, 1),
        sleep=sleeps,
        retry=RetryPolicy(max_retries=2),
    )
    mdw.symbols()
    with pytest.raises(RateLimitError) as caught:
        mdw.symbols()
    assert sleeps == [55.0, 55.0]
    error = caught.value
    assert error.status == 429 and error.retry_after == 55
    assert "1 requests per minute" in error.detail and error.slug == "rate-limited"
    assert error.headers["x-ratelimit-remaining"] == "0"


def test_a_real_503_is_retried_after_retry_after(
    client: TestClient, sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    failures = [RuntimeError("database is restarting")]

    def database(settings: Any) -> None:
        if failures:
            raise failures.pop()

    monkeypatch.setitem(meta.DEEP_CHECKS, "database", database)
    monkeypatch.setitem(meta.DEEP_CHECKS, "dynamodb", lambda settings: None)
    retries: list[Retry] = []
    mdw = Client(http_client=client, sleep=sleeps, on_retry=retries.append)

    health = mdw.health(deep=True)

    assert health.status == "healthy" and health.checks == {"database": "ok", "dynamodb": "ok"}
    assert sleeps == [5.0]  # the app's Retry-After
    assert [(r.status, r.attempt, r.delay) for r in retries] == [(503, 1, 5.0)]


def test_a_503_that_outlasts_the_retries_raises_with_the_problem(
    client: TestClient, sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(meta.DEEP_CHECKS, "database", lambda settings: 1 / 0)
    monkeypatch.setitem(meta.DEEP_CHECKS, "dynamodb", lambda settings: None)
    mdw = Client(http_client=client, sleep=sleeps, retry=RetryPolicy(max_retries=3))
    with pytest.raises(ServiceUnavailableError) as caught:
        mdw.health(deep=True)
    assert sleeps == [5.0, 5.0, 5.0]
    error = caught.value
    assert error.status == 503 and "database" in error.detail
    assert error.extensions["checks"]["database"].startswith("unavailable")
    assert error.slug == "degraded"


def test_retry_after_is_capped(client: TestClient, sleeps: Sleeps) -> None:
    http, _ = over(client, [problem(429, {"Retry-After": "3600"})])
    mdw = Client(http_client=http, sleep=sleeps, retry=RetryPolicy(max_wait=45))
    assert mdw.health().status == "healthy"
    assert sleeps == [45.0]


def test_retry_after_as_an_http_date(client: TestClient, sleeps: Sleeps) -> None:
    http, _ = over(client, [problem(503, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})])
    assert Client(http_client=http, sleep=sleeps).health().status == "healthy"
    assert sleeps == [0.0]  # a date in the past: retry at once


def test_without_retry_after_the_backoff_grows_with_jitter_up_to_its_cap(
    client: TestClient, sleeps: Sleeps
) -> None:
    http, _ = over(client, [problem(503) for _ in range(6)])
    policy = RetryPolicy(max_retries=6, backoff=1.0, max_backoff=8.0)
    assert Client(http_client=http, sleep=sleeps, retry=policy).health().status == "healthy"
    ceilings = [1, 2, 4, 8, 8, 8]
    assert len(sleeps) == 6
    assert all(c / 2 <= s <= c for s, c in zip(sleeps, ceilings, strict=True)), sleeps


def test_gateway_errors_are_retried_for_reads_but_not_for_creates(sleeps: Sleeps) -> None:
    http, transport = over(None, [problem(502), problem(504)])
    assert Client(http_client=http, sleep=sleeps).health().status == "healthy"
    assert len(transport.requests) == 3 and len(sleeps) == 2

    http, transport = over(None, [problem(502)])
    with pytest.raises(ServerError) as caught:
        Client(http_client=http, sleep=sleeps).admin.keys.create("x")
    assert caught.value.status == 502 and len(transport.requests) == 1


def test_a_429_on_a_create_is_retried_the_server_did_nothing(sleeps: Sleeps) -> None:
    created = {"id": "k1", "name": "x", "key_preview": "mdw_…abcd", "scopes": ["read"],
               "active": True, "status": "active", "created_at": "2030-01-01T00:00:00Z",
               "created_by": "key:a", "expires_at": None, "revoked_at": None,
               "last_used_at": None, "rate_limit_per_minute": None, "api_key": "mdw_x"}  # fmt: skip
    http, transport = over(
        None, [problem(429, {"Retry-After": "2"}), httpx.Response(201, json=created)]
    )
    key = Client(http_client=http, sleep=sleeps).admin.keys.create("x")
    assert key.api_key == "mdw_x" and sleeps == [2.0] and len(transport.requests) == 2


def test_read_timeouts_are_retried_for_reads_then_raised(sleeps: Sleeps) -> None:
    def timeout() -> httpx.ReadTimeout:
        return httpx.ReadTimeout("slow")

    http, transport = over(None, [timeout(), timeout()])
    assert Client(http_client=http, sleep=sleeps).health().status == "healthy"
    assert len(transport.requests) == 3

    http, _ = over(None, [timeout() for _ in range(3)])
    with pytest.raises(RequestTimeoutError, match="ReadTimeout"):
        Client(http_client=http, sleep=sleeps, retry=RetryPolicy(max_retries=2)).health()

    http, transport = over(None, [timeout()])
    with pytest.raises(RequestTimeoutError):
        Client(http_client=http, sleep=sleeps).admin.backfills.start(["AAPL"])
    assert len(transport.requests) == 1  # a POST that may have arrived is not sent twice


def test_a_refused_connection_is_retried_then_explained(sleeps: Sleeps) -> None:
    http, transport = over(None, [httpx.ConnectError("refused") for _ in range(6)])
    with pytest.raises(ConnectionFailedError, match="is the API running at http://testserver"):
        Client(http_client=http, sleep=sleeps).admin.keys.create("x")
    assert len(transport.requests) == 6 and len(sleeps) == 5


def test_retries_can_be_turned_off(client: TestClient, sleeps: Sleeps) -> None:
    http, _ = over(client, [problem(503, {"Retry-After": "5"})])
    with pytest.raises(ServiceUnavailableError):
        Client(http_client=http, sleep=sleeps, retry=RetryPolicy(max_retries=0)).health()
    assert sleeps == []


def test_the_timeout_is_configurable(sleeps: Sleeps) -> None:
    seen: list[dict[str, float]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, json={"status": "healthy", "timestamp":
                                         "2030-01-01T00:00:00Z", "version": "x"})  # fmt: skip

    http = httpx.Client(transport=httpx.MockTransport(handler), base_url="http://api")
    Client(http_client=http, timeout=2.5).health()
    Client(http_client=http, timeout=httpx.Timeout(10.0, connect=1.0)).health()
    assert seen[0] == {"connect": 2.5, "read": 2.5, "write": 2.5, "pool": 2.5}
    assert seen[1]["connect"] == 1.0 and seen[1]["read"] == 10.0
    own = Client("http://127.0.0.1:9", timeout=4.0)
    assert own._transport._http.timeout == httpx.Timeout(4.0)
    assert Client("http://127.0.0.1:9")._transport._http.timeout == httpx.Timeout(30.0)


def test_base_url_and_api_key_come_from_arguments_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return problem(401)

    http = httpx.Client(transport=httpx.MockTransport(refuse), base_url="http://api")
    monkeypatch.delenv("MDW_BASE_URL", raising=False)
    monkeypatch.delenv("MDW_API_KEY", raising=False)
    assert Client().base_url == "http://127.0.0.1:8000"  # what make dev serves

    monkeypatch.setenv("MDW_BASE_URL", "https://example.test/prod/")
    monkeypatch.setenv("MDW_API_KEY", "mdw_from_environment")
    assert Client().base_url == "https://example.test/prod"
    assert Client("http://other:1").base_url == "http://other:1"
    with pytest.raises(AuthenticationError):
        Client(http_client=http).status()
    with pytest.raises(AuthenticationError):
        Client(http_client=http, api_key="mdw_from_argument").status()
    assert [r.headers["x-api-key"] for r in sent] == ["mdw_from_environment", "mdw_from_argument"]
    assert str(sent[0].url) == "http://api/api/v1/status"  # an injected client's own base URL


def test_a_base_url_with_a_stage_prefix_keeps_it(sleeps: Sleeps) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return problem(404)

    http = httpx.Client(transport=httpx.MockTransport(handler))
    mdw = Client("https://abc.execute-api.us-east-1.amazonaws.com/prod", http_client=http)
    with pytest.raises(Exception, match="404"):
        mdw.bar_page("BRK.B", start="2024-01-01")
    assert seen == [
        "https://abc.execute-api.us-east-1.amazonaws.com/prod/api/v1/historical/BRK.B"
        "?timeframe=1d&start=2024-01-01&sort=asc"
    ]

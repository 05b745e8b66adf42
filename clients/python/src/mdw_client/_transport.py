"""HTTP: one request with retries, the rate-limit headers, and errors as exceptions.

Retried: 429 and 503 for every method (the server refused the request before
doing anything, and says when to come back in Retry-After), 502 and 504 and
dropped connections for idempotent methods only, and a connection that could
not be opened for any method. The wait is the server's Retry-After when it
sends one, else capped exponential backoff with jitter; either way at most
`RetryPolicy.max_wait` seconds.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from mdw_client import __version__
from mdw_client._endpoints import Endpoint
from mdw_client.errors import (
    ConnectionFailedError,
    RequestTimeoutError,
    error_from_response,
    parse_retry_after,
)
from mdw_client.models import RateLimit

DEFAULT_BASE_URL = "http://127.0.0.1:8000"  # what `make dev` serves
DEFAULT_TIMEOUT = 30.0
BASE_URL_ENV = "MDW_BASE_URL"
API_KEY_ENV = "MDW_API_KEY"
KEY_HEADER = "X-API-Key"

logger = logging.getLogger("mdw_client")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry. `max_retries=0` turns retrying off."""

    max_retries: int = 5
    backoff: float = 0.5  # the first wait without Retry-After; doubles with each retry
    max_backoff: float = 30.0
    max_wait: float = 120.0  # no single wait is longer, whatever Retry-After says
    statuses: frozenset[int] = frozenset({429, 503})
    idempotent_statuses: frozenset[int] = frozenset({502, 504})

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number `attempt + 1`."""
        if retry_after is not None:
            return min(retry_after, self.max_wait)
        ceiling = min(self.max_backoff, self.backoff * 2.0**attempt, self.max_wait)
        # Equal jitter: clients that failed together do not all come back together.
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - not for secrets


@dataclass(frozen=True, slots=True)
class Retry:
    """What `on_retry` hears before each wait."""

    method: str
    url: str
    attempt: int  # 1 for the first retry
    delay: float
    status: int | None  # None when no answer came (timeout, connection)
    reason: str


class Transport:
    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str | None,
        timeout: float | httpx.Timeout | None,
        http_client: httpx.Client | None,
        retry: RetryPolicy,
        sleep: Callable[[float], None],
        on_retry: Callable[[Retry], None] | None,
        headers: Mapping[str, str] | None,
    ) -> None:
        self.api_key = api_key if api_key is not None else os.environ.get(API_KEY_ENV) or None
        self.retry = retry
        self.sleep = sleep
        self.on_retry = on_retry
        self.rate_limit: RateLimit | None = None
        self.timeout = timeout
        self._owns_client = http_client is None
        if http_client is None:
            # The client's own base URL: the argument, else MDW_BASE_URL, else make dev's.
            url = base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
            self._base_url: str | None = None
            self._http = httpx.Client(
                base_url=url.rstrip("/"),
                timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
            )
        else:
            # An injected client keeps its own base URL unless one is given explicitly.
            self._base_url = base_url.rstrip("/") if base_url else None
            self._http = http_client
        self.headers = {
            "User-Agent": f"mdw-client/{__version__} httpx/{httpx.__version__}",
            "Accept": "application/json",
            **(headers or {}),
        }

    @property
    def base_url(self) -> str:
        return self._base_url or str(self._http.base_url).rstrip("/")

    def close(self) -> None:
        if self._owns_client:
            self._http.close()

    def send(
        self,
        endpoint: Endpoint,
        *,
        path: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """Call an endpoint of the table; None-valued parameters and body fields are left out."""
        query = _drop_none(params or {})
        unknown = set(query) - set(endpoint.query)
        if unknown:
            raise ValueError(f"{endpoint.path} takes no parameter {sorted(unknown)}")
        payload = None
        if endpoint.body:
            payload = {k: v for k, v in (body or {}).items() if v is not _OMIT}
            extra = set(payload) - set(endpoint.body)
            if extra:
                raise ValueError(f"{endpoint.path} takes no body field {sorted(extra)}")
        url = endpoint.path.format(**{k: _segment(v) for k, v in (path or {}).items()})
        return self.request(
            endpoint.method, url, params=query, json=payload, idempotent=endpoint.idempotent
        )

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """One API call with retries; an error status raises its `ApiError`."""
        method = method.upper()
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS")
        target = f"{self._base_url}{url}" if self._base_url else url
        headers = dict(self.headers)
        if self.api_key:
            headers[KEY_HEADER] = self.api_key
        extra: dict[str, Any] = {} if self.timeout is None else {"timeout": self.timeout}
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    method,
                    target,
                    params=_query(params),
                    json=json,
                    headers=headers,
                    **extra,
                )
            except httpx.TimeoutException as exc:
                # A request that never reached the server may always be sent again.
                safe = idempotent or isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)
                if safe and self._wait(method, target, attempt, None, None, type(exc).__name__):
                    attempt += 1
                    continue
                raise RequestTimeoutError(
                    f"{method} {target}: no answer within the timeout ({type(exc).__name__})"
                ) from exc
            except httpx.TransportError as exc:
                safe = idempotent or isinstance(exc, httpx.ConnectError)
                if safe and self._wait(method, target, attempt, None, None, type(exc).__name__):
                    attempt += 1
                    continue
                raise ConnectionFailedError(
                    f"{method} {target}: {exc or type(exc).__name__} "
                    f"(is the API running at {self.base_url}?)"
                ) from exc
            self._note_rate_limit(response)
            status = response.status_code
            if status in self.retry.statuses or (
                idempotent and status in self.retry.idempotent_statuses
            ):
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                if self._wait(method, target, attempt, status, retry_after, f"HTTP {status}"):
                    response.close()
                    attempt += 1
                    continue
            if response.is_error:
                response.read()
                raise error_from_response(response)
            return response

    def _wait(
        self,
        method: str,
        url: str,
        attempt: int,
        status: int | None,
        retry_after: float | None,
        reason: str,
    ) -> bool:
        """Sleep before the next try; False when the retries are used up."""
        if attempt >= self.retry.max_retries:
            return False
        delay = self.retry.delay(attempt, retry_after)
        event = Retry(method, url, attempt + 1, delay, status, reason)
        logger.warning(
            "%s %s: %s; retry %d of %d in %.1f s",
            method, url, reason, event.attempt, self.retry.max_retries, delay,
        )  # fmt: skip
        if self.on_retry is not None:
            self.on_retry(event)
        self.sleep(delay)
        return True

    def _note_rate_limit(self, response: httpx.Response) -> None:
        headers = response.headers
        try:
            limit = int(headers["x-ratelimit-limit"])
            remaining = int(headers["x-ratelimit-remaining"])
            reset = datetime.fromtimestamp(int(headers["x-ratelimit-reset"]), UTC)
        except (KeyError, ValueError, OverflowError, OSError):
            return
        self.rate_limit = RateLimit(limit, remaining, reset)


class _Omit:
    """Marks a body field as not sent (None is sent as JSON null)."""

    def __repr__(self) -> str:
        return "OMIT"


_OMIT: Any = _Omit()
OMIT: Any = _OMIT


def _drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _query(params: Mapping[str, Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (params or {}).items():
        if value is None:
            continue
        out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


def _segment(value: str) -> str:
    """A path segment, escaped (a symbol such as `BRK.B` or `X:BTCUSD` stays readable)."""
    from urllib.parse import quote

    return quote(str(value), safe=":.-_~")

"""Exceptions: every error the server answers is an `ApiError` carrying its problem document.

The API answers every 4xx/5xx with RFC 9457 `application/problem+json`
(`type, title, status, detail, instance`, plus `errors` for validation). The
subclass follows the status, so callers can catch exactly what they handle::

    try:
        client.bars("ZZZZ")
    except NotFoundError as exc:
        print(exc.status, exc.title, exc.detail)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import httpx

PROBLEM_MEDIA_TYPE = "application/problem+json"
_PROBLEM_MEMBERS = frozenset({"type", "title", "status", "detail", "instance", "errors"})
_LOCATIONS = frozenset({"query", "body", "path", "header"})


class MdwError(Exception):
    """Base class of everything this package raises."""


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid parameter or body field of a 422 answer."""

    loc: tuple[str, ...]
    msg: str
    type: str | None = None

    @property
    def field(self) -> str:
        """The field's name without its location: `limit`, `scopes.0`."""
        parts = self.loc[1:] if self.loc and self.loc[0] in _LOCATIONS else self.loc
        return ".".join(parts)

    def __str__(self) -> str:
        return f"{self.field or 'request'}: {self.msg}"


class ApiError(MdwError):
    """The server answered with an error status (its problem+json is parsed here)."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        type: str = "about:blank",  # noqa: A002 - the RFC 9457 member's name
        instance: str | None = None,
        errors: Sequence[FieldError] = (),
        extensions: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type
        self.instance = instance
        self.errors = list(errors)
        self.extensions = dict(extensions or {})
        self.headers = dict(headers or {})
        self.method = method
        self.url = url
        super().__init__(str(self))

    @property
    def slug(self) -> str | None:
        """The last part of `type` (`unknown-symbol`, `rate-limited`), if it names one."""
        if self.type in ("", "about:blank"):
            return None
        return self.type.rstrip("/").rsplit("/", 1)[-1]

    @property
    def trace_id(self) -> str | None:
        """The request's correlation id, when the server sent one (quote it in reports)."""
        return self.headers.get("x-trace-id")

    def __str__(self) -> str:
        text = f"{self.status} {self.title}: {self.detail}"
        if self.errors and self.detail in ("", self.title):
            text += " (" + "; ".join(map(str, self.errors)) + ")"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, detail={self.detail!r})"


class BadRequestError(ApiError):
    """400: a malformed request, such as a cursor the API did not issue."""


class AuthenticationError(ApiError):
    """401: the API key is missing, unknown, revoked or expired."""


class PermissionDeniedError(ApiError):
    """403: the API key lacks the scope the operation needs."""


class NotFoundError(ApiError):
    """404: no such resource (an untracked symbol, an unknown key or job)."""


class ConflictError(ApiError):
    """409: the change conflicts with the current state (already tracked, own key)."""


class ValidationError(ApiError):
    """422: a parameter or body field is invalid; `errors` lists each one."""


class RateLimitError(ApiError):
    """429 after the retries ran out; `retry_after` says how long the server asked for."""

    @property
    def retry_after(self) -> float | None:
        return parse_retry_after(self.headers.get("retry-after"))


class ServerError(ApiError):
    """5xx: the server failed (details are in its logs, never in the answer)."""


class ServiceUnavailableError(ServerError):
    """503 after the retries ran out: the database or the key store is down."""


class TransportError(MdwError):
    """No answer: the connection failed or the request timed out (after the retries)."""


class RequestTimeoutError(TransportError):
    """The server did not answer within the configured timeout."""


class ConnectionFailedError(TransportError):
    """The server could not be reached (is `make dev` running? is MDW_BASE_URL right?)."""


class DecodeError(MdwError):
    """A response did not have the shape this client expects: the server and the client
    disagree about the API (upgrade the client)."""


class MaxBarsExceededError(MdwError):
    """More bars than the `max_bars` guard allows; narrow the range or raise the guard.

    Raised instead of returning a silently truncated result.
    """

    def __init__(self, max_bars: int) -> None:
        self.max_bars = max_bars
        super().__init__(
            f"the request returns more than max_bars={max_bars:,} bars; "
            "narrow the range or raise max_bars"
        )


class WaitTimeoutError(MdwError, TimeoutError):
    """A wait helper gave up before the work was done; `pending` holds what was left."""

    def __init__(self, message: str, pending: Sequence[Any] = ()) -> None:
        self.pending = list(pending)
        super().__init__(message)


class BackfillFailedError(MdwError):
    """Some backfill jobs ended `failed`; `jobs` holds every job's final status."""

    def __init__(self, failed: Sequence[Any], jobs: Sequence[Any]) -> None:
        self.failed = list(failed)
        self.jobs = list(jobs)
        first = self.failed[0] if self.failed else None
        reason = f" (first: {first.symbol} {first.timeframe}: {first.error})" if first else ""
        super().__init__(f"{len(self.failed)} of {len(self.jobs)} backfill jobs failed{reason}")


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: ValidationError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    from datetime import UTC, datetime
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _field_errors(raw: Any) -> list[FieldError]:
    if not isinstance(raw, list):
        return []
    found = []
    for item in raw:
        if isinstance(item, Mapping):
            loc = item.get("loc") or ()
            found.append(
                FieldError(
                    loc=tuple(str(p) for p in loc) if isinstance(loc, list | tuple) else (),
                    msg=str(item.get("msg", "invalid value")),
                    type=str(item["type"]) if item.get("type") is not None else None,
                )
            )
    return found


def error_from_response(response: httpx.Response) -> ApiError:
    """The exception for an error response, from its problem document when it has one."""
    status = response.status_code
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    body: Any = None
    if response.headers.get("content-type", "").split(";")[0].strip().endswith("json"):
        try:
            body = response.json()
        except ValueError:
            body = None
    if not isinstance(body, Mapping):
        body = {"detail": response.text[:500].strip() or phrase}
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else ApiError)
    return cls(
        status,
        str(body.get("title") or phrase),
        str(body.get("detail") or body.get("message") or phrase),
        type=str(body.get("type") or "about:blank"),
        instance=str(body["instance"]) if body.get("instance") is not None else None,
        errors=_field_errors(body.get("errors")),
        extensions={k: v for k, v in body.items() if k not in _PROBLEM_MEMBERS},
        headers={k.lower(): v for k, v in response.headers.items()},
        method=response.request.method if _has_request(response) else None,
        url=str(response.request.url) if _has_request(response) else None,
    )


def _has_request(response: httpx.Response) -> bool:
    try:
        response.request  # noqa: B018 - raises RuntimeError when the response has none
    except RuntimeError:
        return False
    return True

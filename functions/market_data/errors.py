"""Every domain error in one place, grouped by what the caller can do about it.

Each class says what went wrong (its `slug` names the problem type); the API
maps the groups to HTTP once, in api.problems, so routes never catch and
re-raise. Workers use the vendor group to decide a job's fate.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal


class DomainError(Exception):
    """The request cannot be served as asked; `detail` says why, in the caller's terms."""

    slug: ClassVar[str] = "invalid-request"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.extensions = extensions

    @property
    def detail(self) -> str:
        return str(self)


# --- the groups (api.problems gives each its HTTP status) ------------------------------


class InvalidRequestError(DomainError):
    """A parameter or field has a value that cannot be served (422)."""

    slug = "validation-error"


class MalformedRequestError(DomainError):
    """The request carries something this API never issued, such as a cursor (400)."""

    slug = "malformed-request"


class NotFoundError(DomainError):
    """What the request names does not exist, or holds no data in the range (404)."""

    slug = "not-found"


class ConflictError(DomainError):
    """The change is not allowed in the resource's current state (409)."""

    slug = "conflict"


class GoneError(DomainError):
    """What the request names was retired, for good; the problem says what replaces it (410)."""

    slug = "gone"


class UnavailableError(DomainError):
    """A dependency is down or not configured; retrying later may succeed (503)."""

    slug = "unavailable"
    retry_after_s: ClassVar[int] = 5


# --- symbols, queries and time windows -------------------------------------------------


class InvalidSymbolError(InvalidRequestError):
    """The text cannot be a symbol (bad characters or length)."""

    slug = "invalid-symbol"

    @property
    def detail(self) -> str:
        return f"invalid symbol: {self}"


class QueryError(InvalidRequestError):
    """The request's parameters cannot be served as asked."""

    slug = "invalid-query"


class InvalidDateError(QueryError):
    slug = "invalid-date"


class InvalidRangeError(QueryError):
    slug = "invalid-range"


class RangeTooLargeError(QueryError):
    slug = "range-too-large"


class InvalidTimeframeError(QueryError):
    """A timeframe that is neither stored nor an allowed multiple (0m, 61m, 5mo)."""

    slug = "invalid-timeframe"


class TooManySymbolsError(QueryError):
    slug = "too-many-symbols"


class InvalidCursorError(MalformedRequestError):
    """A cursor that this API did not issue, or that belongs to another query."""

    slug = "invalid-cursor"

    def __init__(self, detail: str = "The cursor is not valid.") -> None:
        super().__init__(detail)


class UnknownSymbolError(NotFoundError):
    """A single symbol the warehouse does not track."""

    slug = "unknown-symbol"


class NoDataError(NotFoundError):
    slug = "no-data"


class VendorAdjustedError(ConflictError):
    """The range holds bars stored vendor-adjusted (before raw storage): only the split
    view of them exists until they are re-fetched raw."""

    slug = "vendor-adjusted"


class RetiredEndpointError(GoneError):
    """An endpoint of the replaced system that this API does not serve any more."""

    slug = "retired-endpoint"

    def __init__(self, path: str, reason: str, replaced_by: list[dict[str, str]]) -> None:
        names = "; ".join(r["title"] for r in replaced_by)
        super().__init__(
            f"{path} was retired: {reason} Use instead: {names}.", replaced_by=replaced_by
        )


# --- backfills ---------------------------------------------------------------------------


class UnknownSymbolsError(InvalidRequestError):
    """A backfill names symbols that are not tracked."""

    slug = "unknown-symbols"

    def __init__(self, symbols: list[str]) -> None:
        super().__init__(
            f"Not tracked: {', '.join(symbols)}. Track them with POST /api/v1/admin/symbols.",
            symbols=symbols,
        )
        self.symbols = symbols


class TooManyJobsError(InvalidRequestError):
    slug = "too-many-jobs"

    def __init__(self, planned: int, limit: int) -> None:
        super().__init__(
            f"the request plans {planned:,} jobs, more than {limit:,}; "
            "narrow the symbols, timeframes or range"
        )
        self.planned, self.limit = planned, limit


class BackfillUnavailableError(UnavailableError):
    slug = "backfill-unavailable"


class UnknownJobError(LookupError):
    """A queued message names a job the warehouse has no record of (its run was deleted?)."""


# --- API keys ----------------------------------------------------------------------------

RejectReason = Literal["missing", "malformed", "unknown", "revoked", "expired"]


class KeyRejected(Exception):
    """No valid key: missing, not a key, unknown, revoked or expired (HTTP 401)."""

    def __init__(self, reason: RejectReason, key_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason: RejectReason = reason
        self.key_id = key_id


class KeyStoreUnavailable(Exception):
    """DynamoDB failed, throttled or is misconfigured; authentication fails closed (503)."""


class KeyNotFound(NotFoundError):
    def __init__(self, key_id: str) -> None:
        super().__init__(f"No API key with id '{key_id}'.")
        self.key_id = key_id


class KeyConflict(ConflictError):
    pass


class InvalidKeyRequest(InvalidRequestError):
    pass


# --- the market-data vendor -------------------------------------------------------------


class VendorError(Exception):
    """A fetch failed; `vendor_requests` is how many HTTP requests it cost.

    The worker decides a job's fate from the class alone: a permanent error fails
    the job for good (retrying cannot change the vendor's answer), a transient one
    sends the message back to the queue.
    """

    def __init__(self, message: str, *, vendor_requests: int = 0) -> None:
        super().__init__(message)
        self.vendor_requests = vendor_requests


class PermanentVendorError(VendorError):
    """The vendor refused this request (bad ticker, plan limits, bad key): do not retry."""


class TransientVendorError(VendorError):
    """The vendor kept failing (5xx, 429, timeouts) after our retries: try later."""


class CircuitOpenError(TransientVendorError):
    """Recent jobs kept failing on the vendor, so this one did not call it at all.

    `retry_after_s` is how long the circuit stays open: the worker delays the
    job's message by that much instead of spending one of its deliveries.
    """

    def __init__(self, message: str, *, retry_after_s: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

"""Polygon.io aggregates and corporate actions: the production BarProvider.

Bars: `GET /v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{from}/{to}`
with `adjusted=false` (bars are stored as traded; the adjusted views are computed
on read from the actions), `sort=asc` and `limit=50000`. Actions (stocks and ETFs only):
`GET /v3/reference/splits` and `GET /v3/reference/dividends` with `ticker`,
`order=asc`, the date to sort on and `limit=1000`. Every query follows
`next_url` (which carries the cursor) until it is absent, through one request
path, so pacing, retries and error classification are the same for both. The
key travels in an `Authorization: Bearer` header, as Polygon's own client sends
it, never in a URL.

Failure handling, from the inside out:
- urllib3's `Retry` (on the session's adapter) retries 429, 5xx, connection
  errors and timeouts with capped exponential backoff plus jitter and honours
  `Retry-After` (capped, so a huge value cannot outlast the Lambda);
- a client-side token bucket keeps every attempt, retries included, under the
  plan's requests per minute (free plan: 5);
- what is still failing after the retries raises TransientVendorError (the
  worker puts the job back on the queue and counts it against the shared
  circuit breaker); other 4xx and NOT_AUTHORIZED raise PermanentVendorError.

The API key never reaches a log line or an error message because it is only
ever in a request header: urllib3 and requests log methods, URLs and statuses,
not headers, and their exception texts carry URLs. The header goes only to the
configured origin: a `next_url` elsewhere is refused, and requests drops the
header on a redirect to another host.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, ClassVar, TypeVar
from urllib.parse import quote, urlsplit

import requests
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, ValidationError
from pydantic_core import PydanticCustomError
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from market_data import tracing
from market_data.corporate_actions import CorporateActions, Dividend, Split
from market_data.errors import PermanentVendorError, TransientVendorError, VendorError
from market_data.models import RawBar
from market_data.providers import ActionsResult, FetchResult
from market_data.settings import Settings
from market_data.symbols import AssetClass, polygon_ticker
from market_data.timeframes import Timeframe

SOURCE = "polygon"
PAGE_LIMIT = 50_000
ACTIONS_PAGE_LIMIT = 1_000  # the most the reference endpoints return per page
MAX_PAGES_PER_QUERY = 1_000  # a next_url chain longer than this is a vendor bug, not data
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HAS_ACTIONS = frozenset({AssetClass.STOCK, AssetClass.ETF})

logger = logging.getLogger(__name__)


class _BearerKey(AuthBase):
    """Puts `Authorization: Bearer <key>` on a request, reading the key as it is sent.

    Passing it as the request's `auth` (rather than setting the header by hand)
    also keeps requests from applying ~/.netrc credentials over the header.
    """

    def __init__(self, api_key: Callable[[], str]) -> None:
        self._api_key = api_key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._api_key()}"
        return request

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<key hidden>)"


class RequestPacer:
    """A token bucket: at most `per_minute` requests a minute, bursts of up to a second's worth.

    Hand-written because it is a dozen lines and the Lambda layer should not
    grow a dependency for it. It is per process; the deployment divides the
    plan's budget among the concurrent workers (POLYGON_REQUESTS_PER_MINUTE).
    """

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = per_minute / 60.0  # tokens per second
        self.capacity = max(1.0, self.rate)
        self._tokens = self.capacity
        self._clock, self._sleep = clock, sleep
        self._updated = clock()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                wait = (1 - self._tokens) / self.rate
            self._sleep(wait)


def _retry_policy(settings: Settings, limiter: RequestPacer) -> Retry:
    class LimitedRetry(Retry):
        """urllib3's Retry, plus: a retry is a request too, so it waits for a token."""

        def sleep(self, response: BaseHTTPResponse | None = None) -> None:
            super().sleep(response)
            limiter.acquire()

    return LimitedRetry(
        total=settings.polygon_max_retries,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}),
        backoff_factor=settings.polygon_backoff_factor_s,
        backoff_max=settings.polygon_backoff_max_s,
        backoff_jitter=settings.polygon_backoff_jitter_s,
        respect_retry_after_header=True,
        retry_after_max=settings.polygon_retry_after_max_s,
        # Hand back the last 429/5xx instead of raising, so it is classified below.
        raise_on_status=False,
        raise_on_redirect=True,
    )


class _AggregateBar(BaseModel):
    """One element of `results`. Indices carry no volume, VWAP or trade count."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    t: int
    open: float = Field(alias="o")
    high: float = Field(alias="h")
    low: float = Field(alias="l")
    close: float = Field(alias="c")
    volume: float = Field(default=0.0, alias="v")
    vwap: float | None = Field(default=None, alias="vw")
    trades: int | None = Field(default=None, alias="n")

    def to_raw(self) -> RawBar:
        return RawBar(
            time=_EPOCH + timedelta(milliseconds=self.t),
            open=self.open,
            high=self.high,
            low=self.low,
            close=self.close,
            volume=self.volume,
            vwap=self.vwap,
            trades=self.trades,
        )


class _ResultsPage(BaseModel):
    """The envelope every endpoint used here shares."""

    model_config = ConfigDict(extra="ignore")

    status: str | None = None
    # Absent or null when there were no trades: no bars, which is not an error.
    results: list[Any] | None = None
    next_url: str | None = None


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _vendor_date(value: object) -> date:
    """YYYY-MM-DD and nothing else (pydantic alone would also take timestamps)."""
    if value is None:
        raise PydanticCustomError("missing", "missing")
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise PydanticCustomError(
        "vendor_date", "is not a YYYY-MM-DD date: {text}", {"text": repr(value)[:40]}
    )


def _optional_vendor_date(value: object) -> date | None:
    return None if value is None else _vendor_date(value)


_Date = Annotated[date, BeforeValidator(_vendor_date)]
_OptionalDate = Annotated[date | None, BeforeValidator(_optional_vendor_date)]
# JSON numbers only: no "4" strings, no true/false, no NaN or infinities.
_Positive = Annotated[float, Strict(), Field(gt=0, allow_inf_nan=False)]
_NonNegative = Annotated[float, Strict(), Field(ge=0, allow_inf_nan=False)]


class _SplitRecord(BaseModel):
    """One element of the splits endpoint's `results`."""

    model_config = ConfigDict(extra="ignore")
    kind: ClassVar[str] = "split"
    date_field: ClassVar[str] = "execution_date"

    execution_date: _Date
    split_from: _Positive
    split_to: _Positive
    ticker: str | None = None

    def problem(self) -> str | None:
        ratio = self.split_to / self.split_from  # both > 0, checked above
        if not (math.isfinite(ratio) and ratio > 0):
            return "split_to/split_from is out of range"
        return None

    def key(self) -> tuple[date, str]:
        return (self.execution_date, "")

    def to_action(self) -> Split:
        return Split(self.execution_date, self.split_from, self.split_to)


class _DividendRecord(BaseModel):
    """One element of the dividends endpoint's `results`."""

    model_config = ConfigDict(extra="ignore")
    kind: ClassVar[str] = "dividend"
    date_field: ClassVar[str] = "ex_dividend_date"

    cash_amount: _NonNegative
    currency: str | None = None
    declaration_date: _OptionalDate = None
    dividend_type: str | None = None
    ex_dividend_date: _Date
    frequency: Annotated[int, Strict()] | None = None
    pay_date: _OptionalDate = None
    record_date: _OptionalDate = None
    ticker: str | None = None

    def problem(self) -> str | None:
        # A zero adjusts nothing and is likelier a placeholder than a payment: say so.
        return "cash_amount 0" if self.cash_amount == 0 else None

    def key(self) -> tuple[date, str]:
        # A special dividend can share its ex-date with the regular one: both count.
        return (self.ex_dividend_date, self.dividend_type or "")

    def to_action(self) -> Dividend:
        return Dividend(
            ex_dividend_date=self.ex_dividend_date,
            cash_amount=self.cash_amount,
            currency=self.currency or "USD",
            declaration_date=self.declaration_date,
            record_date=self.record_date,
            pay_date=self.pay_date,
            dividend_type=self.dividend_type or "CD",
            frequency=self.frequency,
        )


_Record = TypeVar("_Record", _SplitRecord, _DividendRecord)


def _read_actions(
    model: type[_Record], items: list[Any], ticker: str, rejections: list[str]
) -> list[_Record]:
    """The usable records, oldest first, the last one sent for each key; a reason
    for every other one goes to `rejections`."""
    kept: dict[tuple[date, str], _Record] = {}
    for number, item in enumerate(items, start=1):
        when = item.get(model.date_field) if isinstance(item, dict) else None
        label = f"{model.kind} {when[:32] if isinstance(when, str) else f'#{number}'}"
        if not isinstance(item, dict):
            rejections.append(f"{label}: not an object")
            continue
        try:
            record = model.model_validate(item)
        except ValidationError as error:
            rejections.append(f"{label}: {_reasons(error)}")
            continue
        if record.ticker not in (None, ticker):
            problem: str | None = f"ticker {record.ticker[:20]}, asked for {ticker}"
        else:
            problem = record.problem()
        if problem is not None:
            rejections.append(f"{label}: {problem}")
            continue
        kept[record.key()] = record  # a later record for the same key replaces it
    return [kept[key] for key in sorted(kept)]


_ERROR_TEXT = {
    "greater_than": "must be > {gt:g}",
    "greater_than_equal": "must be >= {ge:g}",
    "finite_number": "must be finite",
    "float_type": "is not a number",
    "int_type": "is not an integer",
    "string_type": "is not a string",
}


def _reasons(error: ValidationError) -> str:
    """pydantic's errors, shortened to "split_from must be > 0; execution_date missing"."""
    parts = []
    for item in error.errors(include_url=False):
        field = ".".join(str(part) for part in item["loc"]) or "record"
        if item["type"] == "missing" or item.get("input", ...) is None:
            text = "missing"
        elif item["type"] in _ERROR_TEXT:
            text = _ERROR_TEXT[item["type"]].format(**item.get("ctx", {}))
        else:
            text = item["msg"]
        parts.append(f"{field} {text}")
    return "; ".join(parts)


def _millis(instant: datetime) -> int:
    return (instant - _EPOCH) // timedelta(milliseconds=1)


def api_key_source(settings: Settings) -> Callable[[], str]:
    """Where the key comes from: POLYGON_API_KEY locally, the Secrets Manager secret in AWS."""
    if settings.polygon_api_key:
        key = settings.polygon_api_key
        return lambda: key
    if settings.polygon_secret_arn:
        arn = settings.polygon_secret_arn

        def from_secret() -> str:
            from aws_lambda_powertools.utilities.parameters import get_secret

            # Cached for 5 minutes per environment, so a rotated key is picked up.
            value = str(get_secret(arn, max_age=300)).strip()
            if value.startswith("{"):
                document = json.loads(value)
                value = str(document.get("apiKey") or document.get("api_key") or "")
            return value

        return from_secret
    raise ValueError("MARKET_DATA_PROVIDER=polygon needs POLYGON_API_KEY or POLYGON_SECRET_ARN")


class PolygonClient:
    source = SOURCE

    def __init__(
        self,
        settings: Settings,
        *,
        api_key: Callable[[], str],
        limiter: RequestPacer | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self._settings = settings
        self._auth = _BearerKey(api_key)
        self._base = str(settings.polygon_base_url).rstrip("/")
        self._origin = urlsplit(self._base)[:2]
        self._limiter = limiter or RequestPacer(settings.polygon_requests_per_minute)
        self._session = session or requests.Session()
        self._session.mount(
            "https://", HTTPAdapter(max_retries=_retry_policy(settings, self._limiter))
        )
        self._session.mount(
            "http://", HTTPAdapter(max_retries=_retry_policy(settings, self._limiter))
        )
        self._timeout = settings.polygon_timeout_s

    @classmethod
    def from_settings(cls, settings: Settings) -> PolygonClient:
        return cls(settings, api_key=api_key_source(settings))

    def fetch_bars(
        self,
        symbol: str,
        asset_class: AssetClass,
        timeframe: Timeframe,
        start: datetime,
        end: datetime,
    ) -> FetchResult:
        """Bars whose window starts in [start, end), in the vendor's order (see validation)."""
        ticker = polygon_ticker(symbol, asset_class)
        bars: list[RawBar] = []
        requests_made = rejected = 0
        try:
            for window_start, window_end in self._windows(timeframe, start, end):
                for page in self._pages(ticker, timeframe, window_start, window_end):
                    requests_made += page.requests
                    for item in page.results:
                        try:
                            bar = _AggregateBar.model_validate(item).to_raw()
                        except ValidationError:
                            rejected += 1
                            continue
                        if window_start <= bar.time < window_end:
                            bars.append(bar)
        except VendorError as error:
            error.vendor_requests += requests_made  # the pages that did succeed cost too
            raise
        if rejected:
            logger.warning("%s %s: %d malformed vendor bars skipped", symbol, timeframe, rejected)
        return FetchResult(bars, requests_made, rejected)

    def fetch_actions(self, symbol: str, asset_class: AssetClass) -> ActionsResult:
        """Splits and cash dividends, oldest first (see BarProvider.fetch_actions)."""
        if asset_class not in _HAS_ACTIONS:
            return ActionsResult(CorporateActions())  # crypto and indices: nothing to ask
        ticker = polygon_ticker(symbol, asset_class)
        raw: dict[str, list[Any]] = {"splits": [], "dividends": []}
        requests_made = 0
        try:
            for endpoint, sort in (("splits", "execution_date"), ("dividends", "ex_dividend_date")):
                url = f"{self._base}/v3/reference/{endpoint}"
                params = {
                    "ticker": ticker,
                    "limit": str(ACTIONS_PAGE_LIMIT),
                    "order": "asc",
                    "sort": sort,
                }
                for page in self._follow(url, params, f"a {endpoint} page"):
                    requests_made += page.requests
                    raw[endpoint].extend(page.results)
        except VendorError as error:
            error.vendor_requests += requests_made
            raise
        rejections: list[str] = []
        splits = _read_actions(_SplitRecord, raw["splits"], ticker, rejections)
        dividends = _read_actions(_DividendRecord, raw["dividends"], ticker, rejections)
        if rejections:
            logger.warning(
                "%s: %d malformed corporate actions skipped: %s",
                symbol,
                len(rejections),
                "; ".join(rejections[:5]),
            )
        actions = CorporateActions(
            splits=tuple(record.to_action() for record in splits),
            dividends=tuple(record.to_action() for record in dividends),
        )
        return ActionsResult(actions, requests_made, len(rejections), tuple(rejections))

    def _windows(
        self, timeframe: Timeframe, start: datetime, end: datetime
    ) -> Iterator[tuple[datetime, datetime]]:
        """Minute and hour bars are asked for about a month at a time (the vendor's advice)."""
        step = (
            timedelta(days=self._settings.polygon_intraday_chunk_days)
            if timeframe.is_intraday
            else end - start
        )
        cursor = start
        while cursor < end:
            window_end = min(end, cursor + step)
            yield cursor, window_end
            cursor = window_end

    def _pages(
        self, ticker: str, timeframe: Timeframe, start: datetime, end: datetime
    ) -> Iterator[_Page]:
        multiplier, timespan = timeframe.polygon_range
        url = (
            f"{self._base}/v2/aggs/ticker/{quote(ticker, safe=':.')}/range/{multiplier}/"
            f"{timespan}/{_millis(start)}/{_millis(end) - 1}"
        )
        params = {
            "adjusted": "false",
            "sort": "asc",
            "limit": str(PAGE_LIMIT),
        }
        return self._follow(url, params, "an aggregates page")

    def _follow(self, url: str, params: dict[str, str], what: str) -> Iterator[_Page]:
        """The pages of one query: `url` with `params`, then each `next_url` as given.

        `what` names the page for error messages ("an aggregates page")."""
        next_url: str | None = url
        for _ in range(MAX_PAGES_PER_QUERY):
            if next_url is None:
                return
            page = self._get(next_url, params, what)
            yield page
            next_url, params = page.next_url, {}
            if next_url is not None and urlsplit(next_url)[:2] != self._origin:
                # Every request carries the key in its header: never send one to another host.
                raise PermanentVendorError(f"next_url points away from {self._base}")
        raise TransientVendorError("next_url chain did not end")

    def _get(self, url: str, params: dict[str, str], what: str) -> _Page:
        # The span names the host and path only: the key travels in a header, and a
        # next_url's query (a cursor) is left out too.
        parts = urlsplit(url)
        attributes = {
            "http.request.method": "GET",
            "server.address": parts.hostname or "",
            "url.path": parts.path,
            "vendor.request": what,
        }
        with tracing.span("polygon GET", attributes, client=True) as span:
            page = self._get_page(url, params, what)
            if span is not None:
                span.set_attribute("vendor.requests", page.requests)
            return page

    def _get_page(self, url: str, params: dict[str, str], what: str) -> _Page:
        self._limiter.acquire()
        try:
            response = self._session.get(url, params=params, auth=self._auth, timeout=self._timeout)
        except requests.RequestException as exc:
            # Retries are exhausted: every attempt the policy allows was made.
            attempts = self._settings.polygon_max_retries + 1
            raise TransientVendorError(
                f"vendor unreachable after {attempts} attempts: {type(exc).__name__}: {exc}",
                vendor_requests=attempts,
            ) from None
        retries = getattr(response.raw, "retries", None)
        attempts = 1 + len(retries.history) if retries is not None else 1
        status = response.status_code
        if status == 200:
            return self._parse(response, attempts, what)
        detail = _vendor_message(response)
        if status in RETRY_STATUSES:
            raise TransientVendorError(
                f"vendor answered {status} after {attempts} attempts: {detail}",
                vendor_requests=attempts,
            )
        raise PermanentVendorError(
            f"vendor refused the request ({status}): {detail}", vendor_requests=attempts
        )

    def _parse(self, response: requests.Response, attempts: int, what: str) -> _Page:
        try:
            page = _ResultsPage.model_validate_json(response.content)
        except ValidationError:
            # A truncated or garbled body: worth another try later.
            raise TransientVendorError(
                f"vendor sent a body that is not {what}", vendor_requests=attempts
            ) from None
        status = (page.status or "").upper()
        if status == "NOT_AUTHORIZED":
            raise PermanentVendorError(
                f"vendor: {_vendor_message(response)}", vendor_requests=attempts
            )
        if status == "ERROR":
            raise TransientVendorError(
                f"vendor: {_vendor_message(response)}", vendor_requests=attempts
            )
        return _Page(page.results or [], page.next_url, attempts)


@dataclass(frozen=True, slots=True)
class _Page:
    results: list[Any]
    next_url: str | None
    requests: int


def _vendor_message(response: requests.Response) -> str:
    """The vendor's own words (`error`/`message`), shortened."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason or ""
    if isinstance(body, dict):
        parts = [str(body[k]) for k in ("status", "error", "message") if body.get(k)]
        return "; ".join(parts)[:300]
    return ""

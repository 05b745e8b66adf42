"""`Client`: the Market Data Warehouse API from Python.

    from mdw_client import Client

    client = Client()  # MDW_BASE_URL / MDW_API_KEY, else http://127.0.0.1:8000
    df = client.bars(["AAPL", "MSFT"], "1d", start="2020-01-01").to_pandas()

Reads follow every page to the end, split ranges longer than the server
allows per request, and retry 429/503 as the server's Retry-After asks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

import httpx

from mdw_client import _endpoints as ep
from mdw_client._decode import decode
from mdw_client._ranges import (
    TimeLike,
    Window,
    parse_param,
    plan_windows,
    to_param,
)
from mdw_client._transport import Retry, RetryPolicy, Transport
from mdw_client.admin import Admin
from mdw_client.errors import DecodeError, MaxBarsExceededError, NotFoundError
from mdw_client.models import (
    Bar,
    BarPage,
    CorporateActions,
    ExportAccepted,
    ExportStatus,
    GapReport,
    Health,
    LatestPage,
    Metrics,
    MissingSymbol,
    MultiBarPage,
    RateLimit,
    ServiceInfo,
    Status,
    SymbolHealthReport,
    SymbolsSummary,
    Timeframes,
)
from mdw_client.results import Bars

# The server's largest page (functions/market_data/history.py MAX_LIMIT): fewest round trips.
DEFAULT_PAGE_SIZE = 8_000
# 404 slugs that mean "nothing in this range", as opposed to "no such symbol".
_NO_DATA = "no-data"

logger = logging.getLogger("mdw_client")

Symbols = str | Sequence[str]


@dataclass(frozen=True, slots=True)
class Progress:
    """What `on_progress` hears after each page of a bar download."""

    symbol: str
    symbols_done: int  # symbols finished before this one
    symbols_total: int
    bars: int  # bars so far, all symbols
    fraction: float | None  # 0..1 of the whole download, when the range is known


class Client:
    """A client of one Market Data Warehouse API.

    Args:
        base_url: the API's root, e.g. `https://abc.execute-api.us-east-1.amazonaws.com/prod`;
            default `MDW_BASE_URL`, else `http://127.0.0.1:8000` (what `make dev` serves).
        api_key: sent as `X-API-Key`; default `MDW_API_KEY`. Admin calls need the admin
            scope; reads need one only where the server requires it.
        timeout: seconds (or an `httpx.Timeout`) per request; default 30 s.
        http_client: an `httpx.Client` to send requests with (its base URL is used unless
            `base_url` is given); the caller closes it.
        retry: how 429, 503 and dropped connections are retried (`RetryPolicy`).
        sleep: how to wait between retries and polls (tests pass a fake).
        on_retry: called before each retry wait, e.g. to tell a user why it pauses.
        page_size: bars per request while paging (the server allows at most 8,000).
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout | None = None,
        http_client: httpx.Client | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_retry: Callable[[Retry], None] | None = None,
        headers: Mapping[str, str] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self._transport = Transport(
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            http_client=http_client,
            retry=retry or RetryPolicy(),
            sleep=sleep,
            on_retry=on_retry,
            headers=headers,
        )
        self.page_size = page_size
        self.admin = Admin(self._transport)

    # --- plumbing ------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    @property
    def rate_limit(self) -> RateLimit | None:
        """The X-RateLimit-* window of the last keyed answer (None before one)."""
        return self._transport.rate_limit

    def close(self) -> None:
        """Close the connection pool (not an injected `http_client`)."""
        self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """Any API call, with this client's key, retries and errors (for what has no method)."""
        return self._transport.request(method, path, params=params, json=json)

    # --- service, status, symbols --------------------------------------------------

    def info(self) -> ServiceInfo:
        """`GET /`: the service's name, version and links."""
        return decode(ServiceInfo, self._transport.send(ep.ROOT).json())

    def health(self, *, deep: bool = False) -> Health:
        """`GET /health`; `deep=True` also checks the database and the key store
        (a failing dependency is a 503, retried, then `ServiceUnavailableError`)."""
        response = self._transport.send(ep.HEALTH, params={"deep": deep or None})
        return decode(Health, response.json())

    def status(self) -> Status:
        """`GET /api/v1/status`: what the warehouse holds and how the nightly run is doing."""
        return decode(Status, self._transport.send(ep.STATUS).json())

    def corporate_actions(
        self, symbol: str, *, start: TimeLike | None = None, end: TimeLike | None = None
    ) -> CorporateActions:
        """`GET /api/v1/corporate-actions/{symbol}`: the splits and cash dividends the
        adjusted views are computed from (effective between start and end when given)."""
        params = {"start": to_param(start), "end": to_param(end)}
        response = self._transport.send(ep.CORPORATE_ACTIONS, path={"symbol": symbol},
                                        params=params)  # fmt: skip
        return decode(CorporateActions, response.json())

    def timeframes(self) -> Timeframes:
        """`GET /api/v1/timeframes`: each stored timeframe with its request caps, the
        multiples the bar endpoints build from them (`multiples`, by unit), and the bar
        endpoints' defaults (min_quality, page sizes)."""
        return decode(Timeframes, self._transport.send(ep.TIMEFRAMES).json())

    def metrics(self) -> Metrics:
        """`GET /api/v1/metrics`: scheduler, last backfill, totals and health."""
        return decode(Metrics, self._transport.send(ep.METRICS).json())

    def symbols(self) -> SymbolsSummary:
        """`GET /api/v1/symbols`: the symbols with data."""
        return decode(SymbolsSummary, self._transport.send(ep.SYMBOLS).json())

    def symbols_detailed(self) -> SymbolHealthReport:
        """`GET /api/v1/symbols/detailed`: every tracked symbol with freshness and health."""
        return decode(SymbolHealthReport, self._transport.send(ep.SYMBOLS_DETAILED).json())

    # --- bulk exports ----------------------------------------------------------------

    def export(
        self,
        symbols: Sequence[str] | str,
        *,
        timeframes: Sequence[str] = ("1d",),
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        adjustment: str | None = None,
        format: str = "parquet",  # noqa: A002 - the server's field name
        validated_only: bool | None = None,
        min_quality: float | None = None,
    ) -> ExportAccepted:
        """`POST /api/v1/exports`: queue a bulk export (symbols, or "all"); answers at
        once with its id and estimate. An estimate over the server's limits raises
        `ValidationError` whose problem carries the estimate."""
        body = {
            "symbols": symbols if isinstance(symbols, str) else list(symbols),
            "timeframes": list(timeframes),
            "start": to_param(start),
            "end": to_param(end),
            "adjustment": adjustment,
            "format": format,
            "validated_only": validated_only,
            "min_quality": min_quality,
        }
        body = {k: v for k, v in body.items() if v is not None}
        return decode(ExportAccepted, self._transport.send(ep.EXPORT_CREATE, body=body).json())

    def export_status(self, export_id: str) -> ExportStatus:
        """`GET /api/v1/exports/{id}`: status, rows, bytes and the files' presigned URLs."""
        response = self._transport.send(ep.EXPORT_GET, path={"export_id": export_id})
        return decode(ExportStatus, response.json())

    def wait_export(
        self, export_id: str, *, timeout: float = 900.0, poll: float = 2.0
    ) -> ExportStatus:
        """Poll until the export has succeeded or failed (TimeoutError after `timeout` s)."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.export_status(export_id)
            if status.done:
                return status
            if time.monotonic() >= deadline:
                raise TimeoutError(f"export {export_id} is still {status.status}")
            time.sleep(poll)

    # --- bars ----------------------------------------------------------------------

    def bar_page(
        self,
        symbol: str,
        timeframe: str = "1d",
        *,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        adjustment: str | None = None,
        validated_only: bool | None = None,
        min_quality: float | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        sort: str = "asc",
    ) -> BarPage:
        """One page of `GET /api/v1/historical/{symbol}`, exactly as the server cut it.

        Most code wants `bars()` or `iter_bars()`, which follow `next_cursor` for you.
        """
        window = Window(to_param(start), to_param(end))
        return self._page(
            symbol, timeframe, window, adjustment, validated_only, min_quality, limit, cursor, sort
        )

    def iter_pages(
        self,
        symbol: str,
        timeframe: str = "1d",
        *,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        adjustment: str | None = None,
        validated_only: bool | None = None,
        min_quality: float | None = None,
        sort: str = "asc",
        page_size: int | None = None,
    ) -> Iterator[BarPage]:
        """Every page of one symbol's range, in order, the range split where it exceeds the
        server's per-request cap. A range without bars yields nothing; an untracked
        symbol raises `NotFoundError`."""
        for window in self._windows(timeframe, start, end, sort):
            yield from self._window_pages(
                symbol, timeframe, window, adjustment, validated_only, min_quality, sort,
                lambda: page_size or self.page_size,
            )  # fmt: skip

    def iter_bars(
        self,
        symbols: Symbols,
        timeframe: str = "1d",
        *,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        adjustment: str | None = None,
        validated_only: bool | None = None,
        min_quality: float | None = None,
        sort: str = "asc",
        max_bars: int | None = None,
        page_size: int | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        missing: list[MissingSymbol] | None = None,
    ) -> Iterator[Bar]:
        """Stream bars page by page (memory stays at one page), symbol after symbol.

        `max_bars` is a guard, not a cut: once more bars than that exist,
        `MaxBarsExceededError` is raised rather than returning a truncated
        series. An untracked symbol raises `NotFoundError`, unless a `missing`
        list is given: then symbols without bars are appended to it and skipped.
        """
        yield from self._stream(
            _symbol_list(symbols), timeframe, start, end, adjustment, validated_only,
            min_quality, sort, max_bars, page_size, on_progress, missing=missing,
        )  # fmt: skip

    def bars(
        self,
        symbols: Symbols,
        timeframe: str = "1d",
        *,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        adjustment: str | None = None,
        validated_only: bool | None = None,
        min_quality: float | None = None,
        sort: str = "asc",
        max_bars: int | None = None,
        page_size: int | None = None,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> Bars:
        """All bars of one symbol or many, every page followed.

        Args:
            symbols: `"AAPL"` or `["AAPL", "MSFT"]` (any spelling the API accepts).
            timeframe: `1m 5m 15m 30m 1h 4h 1d 1w`.
            start, end: `YYYY-MM-DD` (whole UTC days, `end` inclusive), RFC 3339, or a
                `date`/`datetime` (naive means UTC). Without `start`, the server's
                recent window; without `end`, up to now.
            adjustment: `raw`, `split`, `dividend` or `all`; sent only when given.
            validated_only, min_quality: the server's quality filters (defaults: true, 0.85).
            sort: `asc` or `desc` (time order within each symbol).
            max_bars: raise `MaxBarsExceededError` instead of fetching more than this.

        One symbol: an untracked one raises `NotFoundError`. Many: symbols without
        bars are reported in `.missing` (with the reason) and the rest returned.
        """
        names = _symbol_list(symbols)
        missing: list[MissingSymbol] | None = [] if not isinstance(symbols, str) else None
        bars = list(
            self._stream(
                names, timeframe, start, end, adjustment, validated_only, min_quality, sort,
                max_bars, page_size, on_progress, missing=missing,
            )
        )  # fmt: skip
        if missing:
            logger.warning("no bars for %s", ", ".join(f"{m.symbol} ({m.reason})" for m in missing))
        return Bars(
            bars, timeframe=timeframe, symbols=names, adjustment=adjustment, missing=missing or ()
        )

    def latest(
        self,
        symbols: Symbols | None = None,
        timeframe: str = "1d",
        *,
        adjustment: str | None = None,
    ) -> Bars:
        """The newest stored bar of each symbol (`GET /api/v1/latest`; None: every active
        symbol), in the order asked. Symbols without one are in `.missing`; the ages
        are in `latest_page()`."""
        names = _symbol_list(symbols) if symbols is not None else None
        page = self.latest_page(names, timeframe, adjustment=adjustment)
        by_symbol = {item.symbol: item for item in page.latest}
        order = names if names is not None else list(by_symbol)
        found = [
            Bar.from_json(by_symbol[s].symbol, by_symbol[s].bar) for s in order if s in by_symbol
        ]
        rank = {symbol: i for i, symbol in enumerate(order)}
        missing = sorted(page.missing, key=lambda m: rank.get(m.symbol, len(rank)))
        return Bars(
            found, timeframe=timeframe, symbols=order, adjustment=adjustment, missing=missing
        )

    def latest_page(
        self, symbols: Sequence[str] | None = None, timeframe: str = "1d", *,
        adjustment: str | None = None,
    ) -> LatestPage:  # fmt: skip
        """`GET /api/v1/latest` as served: each bar with its age in hours and sessions missed.

        When none of the symbols has a bar the server answers 404 naming each in
        `missing`; that is an empty result here, not an error."""
        params = {
            "symbols": ",".join(symbols) if symbols is not None else None,
            "timeframe": timeframe,
            "adjustment": adjustment,
        }
        try:
            body = self._transport.send(ep.LATEST, params=params).json()
        except NotFoundError as exc:
            gone = exc.extensions.get("missing")
            body = {"timeframe": timeframe, "adjustment": adjustment or "split",
                    "timestamp": datetime.now(UTC).isoformat(), "latest": [],
                    "missing": gone or [{"symbol": s, "reason": exc.slug or "not-found",
                                         "detail": exc.detail} for s in symbols or ()]}  # fmt: skip
        return decode(LatestPage, body)

    def multi_bar_page(
        self,
        symbols: Sequence[str],
        timeframe: str = "1d",
        *,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        adjustment: str | None = None,
        session: str | None = None,
        validated_only: bool | None = None,
        min_quality: float | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        sort: str = "asc",
    ) -> MultiBarPage:
        """One page of `GET /api/v1/bars` (up to 200 symbols, keyset over symbol and time);
        `bars` maps each symbol to its `Bar`s. `iter_multi_pages` follows the cursor."""
        params = {
            "symbols": ",".join(_symbol_list(symbols)),
            "timeframe": timeframe,
            "start": to_param(start),
            "end": to_param(end),
            "adjustment": adjustment,
            "session": session,
            "validated_only": validated_only,
            "min_quality": min_quality,
            "limit": limit,
            "cursor": cursor,
            "sort": sort,
        }
        body = self._transport.send(ep.MULTI_BARS, params=params).json()
        series = body.get("bars") if isinstance(body, dict) else None
        if not isinstance(series, dict):
            raise DecodeError("MultiBarPage: the response has no 'bars' object")
        head = decode(MultiBarPage, {**body, "bars": {}})
        try:
            bars = {s: [Bar.from_json(s, row) for row in rows] for s, rows in series.items()}
        except (KeyError, TypeError, ValueError, DecodeError) as exc:
            raise DecodeError(
                f"MultiBarPage.bars: a bar the client cannot read ({exc!r})"
            ) from None
        return replace(head, bars=bars)

    def iter_multi_pages(
        self, symbols: Sequence[str], timeframe: str = "1d", **options: Any
    ) -> Iterator[MultiBarPage]:
        """Every page of `GET /api/v1/bars` for one range, following `next_cursor`."""
        cursor = None
        while True:
            page = self.multi_bar_page(symbols, timeframe, cursor=cursor, **options)
            yield page
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def gaps(
        self,
        symbol: str,
        timeframe: str = "1d",
        *,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        session: str | None = None,
    ) -> GapReport:
        """`GET /api/v1/symbols/{symbol}/gaps`: expected bars missing, merged into ranges."""
        params = {"timeframe": timeframe, "start": to_param(start), "end": to_param(end),
                  "session": session}  # fmt: skip
        response = self._transport.send(ep.GAPS, path={"symbol": symbol}, params=params)
        return decode(GapReport, response.json())

    # --- bar paging internals --------------------------------------------------------

    def _stream(
        self,
        symbols: list[str],
        timeframe: str,
        start: TimeLike | None,
        end: TimeLike | None,
        adjustment: str | None,
        validated_only: bool | None,
        min_quality: float | None,
        sort: str,
        max_bars: int | None,
        page_size: int | None,
        on_progress: Callable[[Progress], None] | None,
        *,
        missing: list[MissingSymbol] | None,
    ) -> Iterator[Bar]:
        # One request series per symbol: windows split by the per-request cap and
        # progress by symbol. GET /api/v1/bars reads many at once (iter_multi_pages).
        if max_bars is not None and max_bars < 0:
            raise ValueError("max_bars must not be negative")
        size = page_size or self.page_size
        count = 0

        def next_limit() -> int:
            # Ask for one bar more than the guard allows, never a page more.
            return size if max_bars is None else max(1, min(size, max_bars - count + 1))

        windows = self._windows(timeframe, start, end, sort)
        for index, symbol in enumerate(symbols):
            got_any = False
            try:
                for window in windows:
                    for page in self._window_pages(
                        symbol, timeframe, window, adjustment, validated_only, min_quality, sort,
                        next_limit,
                    ):  # fmt: skip
                        for bar in page.data:
                            count += 1
                            if max_bars is not None and count > max_bars:
                                raise MaxBarsExceededError(max_bars)
                            yield bar
                        got_any = got_any or bool(page.data)
                        if on_progress is not None:
                            on_progress(
                                Progress(
                                    symbol, index, len(symbols), count,
                                    _fraction(windows, page, index, len(symbols), sort),
                                )
                            )  # fmt: skip
            except NotFoundError as exc:
                if missing is None:
                    raise
                missing.append(MissingSymbol(symbol, exc.slug or "not-found", exc.detail))
                continue
            if not got_any and missing is not None:
                missing.append(MissingSymbol(symbol, _NO_DATA, "no bars in the range"))

    def _windows(
        self, timeframe: str, start: TimeLike | None, end: TimeLike | None, sort: str
    ) -> list[Window]:
        return plan_windows(
            timeframe, start, end, now=datetime.now(UTC), descending=sort.lower() == "desc"
        )

    def _window_pages(
        self,
        symbol: str,
        timeframe: str,
        window: Window,
        adjustment: str | None,
        validated_only: bool | None,
        min_quality: float | None,
        sort: str,
        limit: Callable[[], int],
    ) -> Iterator[BarPage]:
        cursor: str | None = None
        while True:
            try:
                page = self._page(
                    symbol, timeframe, window, adjustment, validated_only, min_quality, limit(),
                    cursor, sort,
                )  # fmt: skip
            except NotFoundError as exc:
                if exc.slug == _NO_DATA:  # nothing (more) in this window: not an error
                    return
                raise
            yield page
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def _page(
        self,
        symbol: str,
        timeframe: str,
        window: Window,
        adjustment: str | None,
        validated_only: bool | None,
        min_quality: float | None,
        limit: int | None,
        cursor: str | None,
        sort: str,
    ) -> BarPage:
        params = {
            "timeframe": timeframe,
            "start": window.start,
            "end": window.end,
            "adjustment": adjustment,
            "validated_only": validated_only,
            "min_quality": min_quality,
            "limit": limit,
            "cursor": cursor,
            "sort": sort,
        }
        response = self._transport.send(ep.HISTORICAL, path={"symbol": symbol}, params=params)
        body = response.json()
        rows = body.get("data") if isinstance(body, dict) else None
        if not isinstance(rows, list):
            raise DecodeError("HistoricalPage: the response has no 'data' list")
        head = decode(BarPage, {**body, "data": []})
        try:
            bars = [Bar.from_json(head.symbol, row) for row in rows]
        except (KeyError, TypeError, ValueError, DecodeError) as exc:
            raise DecodeError(
                f"HistoricalPage.data: a bar the client cannot read ({exc!r})"
            ) from None
        return replace(head, data=bars)


def _symbol_list(symbols: Symbols) -> list[str]:
    names = [symbols] if isinstance(symbols, str) else list(dict.fromkeys(symbols))
    if not names or not all(isinstance(s, str) and s.strip() for s in names):
        raise ValueError("give at least one symbol, e.g. 'AAPL' or ['AAPL', 'MSFT']")
    return [s.strip() for s in names]


def _fraction(
    windows: Sequence[Window], page: BarPage, index: int, total: int, sort: str
) -> float | None:
    """How far a download is: symbols done, plus the time of the page's last bar
    within the range of the symbol under way."""
    starts: list[datetime | None] = [w.start_at for w in windows if w.start_at]
    ends: list[datetime | None] = [w.end_at for w in windows if w.end_at]
    starts = starts or [_label(page.start_date, end=False)]
    ends = ends or [_label(page.end_date, end=True)]
    lower = min((s for s in starts if s), default=None)
    upper = max((e for e in ends if e), default=None)
    if lower is None or upper is None or upper <= lower:
        return None
    within = 0.0
    if page.data:
        at = page.data[-1].time
        done = (upper - at) if sort.lower() == "desc" else (at - lower)
        within = min(1.0, max(0.0, done / (upper - lower)))
    return (index + within) / total


def _label(text: str, *, end: bool) -> datetime | None:
    parsed = parse_param(text) if text else None
    if parsed is None:
        return None
    instant, whole_day = parsed
    return instant + timedelta(days=1) if end and whole_day else instant

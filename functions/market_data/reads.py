"""Reads across many symbols: what each symbol reads, the keyset cursor, the page.

Plain functions over the facts the repositories return (tracked symbols and their
series statistics); the SQL lives in repositories/reads.py. A multi-symbol page
is a keyset read over (symbol, time): symbols in ascending order, each symbol's
bars in the requested time order, so every bar of every symbol arrives exactly
once however the pages fall.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import orjson

from market_data import resample, sessions
from market_data.calendar import MarketCalendar
from market_data.corporate_actions import Adjustment
from market_data.errors import (
    InvalidCursorError,
    NoDataError,
    TooManySymbolsError,
    UnknownSymbolError,
)
from market_data.history import EARLIEST, vendor_adjusted_refusal
from market_data.models import BAR_COLUMNS, SeriesStats, TrackedSymbol
from market_data.sessions import Session, SessionWindows
from market_data.symbols import canonical_symbol
from market_data.timeframes import BarSize, Timeframe

MAX_SYMBOLS = 200


def parse_symbols(raw: str, name: str = "symbols") -> tuple[str, ...]:
    """Comma-separated symbols, canonical, each once, in ascending order (the keyset's)."""
    parts = [part for part in (p.strip() for p in raw.split(",")) if part]
    if not parts:
        raise TooManySymbolsError(f"{name} must name at least one symbol", parameter=name)
    unique = sorted({canonical_symbol(part) for part in parts})
    if len(unique) > MAX_SYMBOLS:
        raise TooManySymbolsError(
            f"{name} names {len(unique)} symbols; at most {MAX_SYMBOLS} a call", parameter=name
        )
    return tuple(unique)


class MissingReason(StrEnum):
    """Spelled as the problem types a single-symbol read answers with (unknown-symbol, no-data)."""

    NOT_TRACKED = "unknown-symbol"  # the warehouse does not track the symbol
    NO_TIMEFRAME = "no-timeframe"  # no stored series the timeframe is read or built from
    NO_DATA = "no-data"  # its series holds no bar in the range
    VENDOR_ADJUSTED = "vendor-adjusted"  # stored vendor-adjusted: only adjustment=split


@dataclass(frozen=True, slots=True)
class Missing:
    symbol: str
    reason: MissingReason
    detail: str

    def as_json(self) -> dict[str, str]:
        return {"symbol": self.symbol, "reason": self.reason.value, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class SymbolFacts:
    """What the warehouse knows of a symbol: its tracking and its series statistics."""

    tracked: TrackedSymbol
    series: Mapping[Timeframe, SeriesStats]


@dataclass(frozen=True, slots=True)
class SeriesRead:
    """One symbol's share of a read: which stored series, over which parts window."""

    symbol: str
    source: Timeframe
    around_the_clock: bool
    start: datetime  # parts from (a multiple's window is widened to whole buckets)
    end: datetime


@dataclass(frozen=True, slots=True)
class MultiBarQuery:
    symbols: tuple[str, ...]  # canonical, ascending
    size: BarSize
    start: datetime  # inclusive, as asked
    end: datetime  # exclusive
    validated_only: bool
    min_quality: float
    limit: int
    descending: bool = False
    adjustment: Adjustment = Adjustment.SPLIT
    session: Session = Session.ALL
    after: tuple[str, datetime] | None = None  # keyset: the last (symbol, time) returned


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """Everything the SQL needs: the series to read, bucket rules, session windows."""

    reads: tuple[SeriesRead, ...]
    missing: tuple[Missing, ...]
    resampled: bool
    # Bucket rules of a multiple, per asset kind (they differ in where days begin).
    equity_buckets: resample.Buckets | None = None
    crypto_buckets: resample.Buckets | None = None
    session_windows: SessionWindows | None = None


def plan_read(
    query: MultiBarQuery, facts: Mapping[str, SymbolFacts], calendar: MarketCalendar
) -> ReadPlan:
    """Which series each symbol reads (the finest stored one the size can be built
    from) and why the others are missing; raises NotFound when nothing is left."""
    size = query.size
    resampled = size.stored is None
    kinds: dict[bool, resample.Buckets] = {}
    if resampled:
        for around_the_clock in (False, True):
            kinds[around_the_clock] = resample.buckets(
                size, query.start, query.end, around_the_clock=around_the_clock, calendar=calendar
            )
    reads: list[SeriesRead] = []
    missing: list[Missing] = []
    for symbol in query.symbols:
        known = facts.get(symbol)
        if known is None:
            missing.append(Missing(symbol, MissingReason.NOT_TRACKED, f"{symbol} is not tracked"))
            continue
        around_the_clock = known.tracked.asset_class.trades_around_the_clock
        window = kinds.get(around_the_clock)
        start, end = (window.start, window.end) if window else (query.start, query.end)
        outcome = _series_for(query, known, start, end)
        if isinstance(outcome, Missing):
            missing.append(outcome)
        else:
            reads.append(SeriesRead(symbol, outcome, around_the_clock, start, end))
    if not reads:
        raise nothing_to_read(missing)
    windows = None
    if size.is_intraday and any(not r.around_the_clock for r in reads):
        windows = sessions.windows(calendar, query.session, query.start, query.end)
    return ReadPlan(
        reads=tuple(reads),
        missing=tuple(missing),
        resampled=resampled,
        equity_buckets=kinds.get(False),
        crypto_buckets=kinds.get(True),
        session_windows=windows,
    )


def _series_for(
    query: MultiBarQuery, known: SymbolFacts, start: datetime, end: datetime
) -> Timeframe | Missing:
    symbol, size = known.tracked.symbol, query.size
    held = [t for t in size.sources() if (s := known.series.get(t)) and s.records]
    if not held:
        built = "" if size.stored else f" (built from {', '.join(map(str, size.sources()))})"
        return Missing(
            symbol, MissingReason.NO_TIMEFRAME, f"{symbol} has no {size.value} bars stored{built}"
        )
    source = held[0]
    stats = known.series[source]
    if (
        stats.first_time is None
        or stats.last_time is None
        or not (stats.first_time < end and stats.last_time >= start)
    ):
        return Missing(
            symbol,
            MissingReason.NO_DATA,
            f"{symbol} has {source.value} bars from {_iso(stats.first_time)} to "
            f"{_iso(stats.last_time)}, none in the range",
        )
    refusal = vendor_adjusted_refusal(
        symbol, source, query.adjustment, stats.vendor_adjusted, start, end
    )
    if refusal is not None:
        return Missing(symbol, MissingReason.VENDOR_ADJUSTED, refusal.detail)
    return source


def _iso(instant: datetime | None) -> str:
    return instant.isoformat() if instant else "-"


def nothing_to_read(missing: Sequence[Missing]) -> Exception:
    """The 404 of a read that has no symbol left, listing each in `missing`."""
    listed = [m.as_json() for m in missing]
    if all(m.reason is MissingReason.NOT_TRACKED for m in missing):
        names = ", ".join(m.symbol for m in missing)
        detail = (
            missing[0].detail if len(missing) == 1 else f"none of the symbols is tracked: {names}"
        )
        return UnknownSymbolError(detail, missing=listed)
    detail = missing[0].detail if len(missing) == 1 else "no symbol has bars to read: see missing"
    return NoDataError(detail, missing=listed)


def reads_after(plan: ReadPlan, after: tuple[str, datetime] | None) -> tuple[SeriesRead, ...]:
    """The series a page still reads: from the cursor's symbol on (keyset over symbol)."""
    if after is None:
        return plan.reads
    return tuple(r for r in plan.reads if r.symbol >= after[0])


# --- cursors ------------------------------------------------------------------------------


def _fingerprint(query: MultiBarQuery) -> str:
    key = (
        f"{','.join(query.symbols)}|{query.size.value}|{query.start.isoformat()}|"
        f"{query.end.isoformat()}|{query.validated_only}|{query.min_quality}|"
        f"{query.descending}|{query.adjustment}|{query.session}"
    )
    return format(zlib.crc32(key.encode()), "08x")


def _micros(instant: datetime) -> int:
    return int((instant - EARLIEST) / timedelta(microseconds=1))


def encode_cursor(query: MultiBarQuery, symbol: str, last_time: datetime) -> str:
    """The position after (symbol, last_time), the query's fingerprint and its window."""
    payload = orjson.dumps(
        {
            "v": 1,
            "y": symbol,
            "t": _micros(last_time),
            "q": _fingerprint(query),
            "s": _micros(query.start),
            "e": _micros(query.end),
        }
    )
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def continue_query(
    cursor: str, query: MultiBarQuery, *, start_given: bool, end_given: bool
) -> MultiBarQuery:
    """The query for the page after `cursor`; left-out start or end come from the cursor
    (the default window moves with the clock), and it must belong to the same query."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(payload, dict) or payload.get("v") != 1:
            raise ValueError
        symbol, fingerprint = payload.get("y"), payload.get("q")
        if not isinstance(symbol, str) or not isinstance(fingerprint, str):
            raise ValueError
        stamps: list[datetime] = []
        for key in ("t", "s", "e"):
            value = payload.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError
            stamps.append(EARLIEST + timedelta(microseconds=value))
        position, start, end = stamps
    except (ValueError, TypeError, OverflowError, binascii.Error, UnicodeError):
        raise InvalidCursorError("cursor is not a cursor this API issued") from None
    pinned = replace(
        query,
        start=query.start if start_given else start,
        end=query.end if end_given else end,
    )
    if fingerprint != _fingerprint(pinned):
        raise InvalidCursorError(
            "cursor belongs to a different query; repeat the same parameters with it"
        )
    return replace(pinned, after=(symbol, position))


# --- the page -----------------------------------------------------------------------------


def row_columns(resampled: bool) -> tuple[str, ...]:
    """A row's columns after its symbol: the bar's, and bars_in for a multiple."""
    return (*BAR_COLUMNS, "bars_in") if resampled else BAR_COLUMNS


def page_body(
    query: MultiBarQuery,
    plan: ReadPlan,
    rows: Sequence[tuple[Any, ...]],
    next_cursor: str | None,
    start_label: str,
    end_label: str,
) -> bytes:
    """The JSON page straight from the rows (symbol first): bars grouped by symbol."""
    keys = ("symbol", "timeframe", *row_columns(plan.resampled))
    timeframe = query.size.value
    grouped: dict[str, list[dict[str, Any]]] = {}
    series: list[dict[str, Any]] = []
    current = None
    for row in rows:  # rows come in symbol order: one list per run of a symbol
        symbol = row[0]
        if symbol != current:
            current, series = symbol, grouped.setdefault(symbol, [])
        series.append(dict(zip(keys, (symbol, timeframe, *row[1:]), strict=True)))
    return orjson.dumps(
        {
            "timeframe": timeframe,
            "adjustment": query.adjustment.value,
            "session": query.session.value,
            "start_date": start_label,
            "end_date": end_label,
            "count": len(rows),
            "has_more": next_cursor is not None,
            "bars": grouped,
            "missing": [m.as_json() for m in plan.missing],
            "next_cursor": next_cursor,
        },
        option=orjson.OPT_UTC_Z,
    )


def single_page_body(
    query: MultiBarQuery,
    plan: ReadPlan,
    rows: Sequence[tuple[Any, ...]],
    next_cursor: str | None,
    start_label: str,
    end_label: str,
) -> bytes:
    """One symbol's page in the shape of GET /api/v1/historical (a multiple, or a session
    filter, read through this module): `data` rows, each with bars_in for a multiple."""
    if not rows:
        raise NoDataError(
            f"no {query.size.value} bars for {query.symbols[0]} between "
            f"{query.start.isoformat()} and {query.end.isoformat()} matching the filters"
        )
    columns = row_columns(plan.resampled)
    series = {"symbol": query.symbols[0], "timeframe": query.size.value}
    return orjson.dumps(
        {
            **series,
            "adjustment": query.adjustment.value,
            "session": query.session.value,
            "start_date": start_label,
            "end_date": end_label,
            "count": len(rows),
            "has_more": next_cursor is not None,
            "data": [{**series, **dict(zip(columns, row[1:], strict=True))} for row in rows],
            "next_cursor": next_cursor,
        },
        option=orjson.OPT_UTC_Z,
    )


def _csv_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value


def page_csv(plan: ReadPlan, rows: Sequence[tuple[Any, ...]], *, with_symbol: bool = True) -> str:
    """CSV with a symbol column first (unless one symbol's page), the bar's columns and,
    for a multiple, bars_in."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    skip = 0 if with_symbol else 1
    writer.writerow(("symbol", *row_columns(plan.resampled))[skip:])
    for row in rows:
        writer.writerow(_csv_value(value) for value in row[skip:])
    return out.getvalue()

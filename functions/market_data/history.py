"""The historical-bars query: time windows, keyset cursors and response encoding.

Plain functions, no HTTP types: they raise market_data.errors, which the API
maps to problems in one place.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import zlib
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import orjson

from market_data.corporate_actions import Adjustment
from market_data.errors import (
    InvalidCursorError,
    InvalidDateError,
    InvalidRangeError,
    RangeTooLargeError,
    VendorAdjustedError,
)
from market_data.models import BAR_COLUMNS, BarPageQuery
from market_data.timeframes import BarSize, Timeframe

DEFAULT_LIMIT = 5_000
DEFAULT_MIN_QUALITY = 0.85  # bars scored below it are hidden unless asked for
# A worst-case bar (every field at its widest) is about 630 bytes of JSON, so a
# full page stays near 5 MB: under Lambda's 6 MB response limit by construction
# (tests/unit/test_history.py builds that worst case).
MAX_LIMIT = 8_000
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def parse_instant(raw: str, name: str) -> tuple[datetime, bool]:
    """Parse YYYY-MM-DD or RFC 3339; returns (instant, whether a plain date was given).

    A plain date means the whole UTC day; a timestamp without offset is taken as UTC.
    """
    text = raw.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day, time(0), UTC), True
        instant = datetime.fromisoformat(text.replace("z", "Z"))
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=UTC)
        # OverflowError: an offset that moves 0001-01-01 or 9999-12-31 out of range.
        return instant.astimezone(UTC), False
    except (ValueError, OverflowError):
        raise InvalidDateError(
            f"{name}={raw!r} is not a date (YYYY-MM-DD) or an RFC 3339 timestamp"
        ) from None


def _within_bounds(instant: datetime, whole_day: bool) -> tuple[datetime, bool]:
    """The instant, if it falls in the range the warehouse serves (else InvalidDateError)."""
    if not EARLIEST <= instant <= LATEST:
        raise InvalidDateError("dates must fall between 1970-01-01 and 2100-01-01")
    return instant, whole_day


def resolve_window(
    start: str | None, end: str | None, *, start_name: str = "start", end_name: str = "end"
) -> tuple[datetime | None, datetime | None]:
    """The half-open UTC range [start, end) that a user's start and end mean.

    The one rule for every entry point (historical bars, admin backfills, make
    backfill): each is YYYY-MM-DD (a whole UTC day) or an RFC 3339 timestamp (one
    without offset is UTC), between 1970 and 2100; `end` is inclusive either way,
    so a date end covers that whole day and a timestamp end includes that instant.
    A side left out is None (the caller's default applies). Reversed: InvalidRangeError.
    """
    start_at = _within_bounds(*parse_instant(start, start_name))[0] if start else None
    end_at = None
    if end:
        end_at, whole_day = _within_bounds(*parse_instant(end, end_name))
        end_at += timedelta(days=1) if whole_day else timedelta(microseconds=1)
    if start_at is not None and end_at is not None and start_at >= end_at:
        raise InvalidRangeError(f"{start_name} must be before {end_name}")
    return start_at, end_at


def resolve_range(
    timeframe: Timeframe | BarSize, start: str | None, end: str | None, now: datetime
) -> tuple[datetime, datetime]:
    """The historical endpoint's window: resolve_window, with its defaults and span cap.

    `start` without `end` reads forward from start to now, however far back start
    is: every page is a keyset read of at most `limit` bars, so the range does not
    change what a page costs. A range with an explicit `end` (or the default window)
    is capped by the timeframe's max_span (see _checked_window for what that bounds).
    """
    start_at, end_at = resolve_window(start, end)
    open_ended = start_at is not None and end_at is None
    end_at = end_at or now
    start_at = start_at or end_at - timeframe.default_span
    return _checked_window(timeframe, start_at, end_at, capped=not open_ended)


def _checked_window(
    timeframe: Timeframe | BarSize, start_at: datetime, end_at: datetime, *, capped: bool = True
) -> tuple[datetime, datetime]:
    """The window, if it is one: start before end and, when `capped`, within max_span.

    The cap does not bound a page (limit does); it bounds the rows one request may
    examine when the quality filters reject bars, up to the whole range for a 404
    "nothing in this range matches". Clients that split long ranges plan by it.
    """
    if start_at >= end_at:
        raise InvalidRangeError("start must be before end")
    span = timeframe.max_span
    if capped and end_at - start_at > span:
        raise RangeTooLargeError(
            f"a {timeframe.value} request may span at most {span.days} days; "
            "split the range or use a coarser timeframe"
        )
    return start_at, end_at


def vendor_adjusted_refusal(
    symbol: str,
    timeframe: Timeframe | BarSize,
    adjustment: Adjustment,
    vendor_adjusted: tuple[datetime, datetime] | None,
    start: datetime,
    end: datetime,
) -> VendorAdjustedError | None:
    """Why a read of [start, end) in `adjustment` cannot be served, if it cannot.

    Bars stored vendor-adjusted (before raw storage) exist only in the split view:
    they are served as stored for `split`, and refused for the other views until the
    raw re-fetch the planner schedules has rewritten them. The one rule for every
    read: the historical page and exports raise it (409), the multi-symbol and
    latest-bar reads list the symbol in `missing` with this detail.
    """
    if vendor_adjusted is None or adjustment is Adjustment.SPLIT:
        return None
    since, until = vendor_adjusted
    if not (start < until and since < end):
        return None
    return VendorAdjustedError(
        f"{symbol} {timeframe.value} bars from {since.isoformat()} to "
        f"{until.isoformat()} were stored split-adjusted by the vendor, so only "
        "adjustment=split is available for them; the nightly run re-fetches them raw "
        "(or start it now: POST /api/v1/admin/backfill)",
        vendor_adjusted_from=since.isoformat(),
        vendor_adjusted_until=until.isoformat(),
    )


def check_view(query: BarPageQuery, vendor_adjusted: tuple[datetime, datetime] | None) -> None:
    """Raise vendor_adjusted_refusal's error for a single-series query, if any."""
    refusal = vendor_adjusted_refusal(
        query.symbol, query.timeframe, query.adjustment, vendor_adjusted, query.start, query.end
    )
    if refusal is not None:
        raise refusal


def _fingerprint(query: BarPageQuery) -> str:
    key = (
        f"{query.symbol}|{query.timeframe}|{query.start.isoformat()}|{query.end.isoformat()}|"
        f"{query.validated_only}|{query.min_quality}|{query.descending}|{query.adjustment}"
    )
    return format(zlib.crc32(key.encode()), "08x")


def _micros(instant: datetime) -> int:
    return int((instant - EARLIEST) / timedelta(microseconds=1))


def encode_cursor(query: BarPageQuery, last_time: datetime) -> str:
    """The position after `last_time`, the query's fingerprint and its window: a
    request that left start or end out (end = now) pages on through the same range."""
    payload = orjson.dumps(
        {
            "v": 1,
            "t": _micros(last_time),
            "q": _fingerprint(query),
            "s": _micros(query.start),
            "e": _micros(query.end),
        }
    )
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def _read_cursor(cursor: str) -> dict[str, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(payload, dict) or payload.get("v") != 1:
            raise ValueError
        for name in ("t", "s", "e"):
            value = payload.get(name)
            if name == "t" or value is not None:
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise ValueError
                payload[name] = EARLIEST + timedelta(microseconds=value)
        if not isinstance(payload.get("q"), str):
            raise ValueError
    except (ValueError, TypeError, OverflowError, binascii.Error, UnicodeError):
        raise InvalidCursorError("cursor is not a cursor this API issued") from None
    return payload


def decode_cursor(cursor: str, query: BarPageQuery) -> datetime:
    """The keyset position a cursor carries; it must come from the same query."""
    payload = _read_cursor(cursor)
    if payload["q"] != _fingerprint(query):
        raise InvalidCursorError(
            "cursor belongs to a different query; repeat the same parameters with it"
        )
    position: datetime = payload["t"]
    return position


def continue_query(
    cursor: str, query: BarPageQuery, *, start_given: bool, end_given: bool
) -> BarPageQuery:
    """The query for the page after `cursor`. Where the request leaves start or end
    out, the cursor's window stands in for the default one, which has moved on with
    the clock since the first page (so its fingerprint would no longer match)."""
    payload = _read_cursor(cursor)
    start = query.start if start_given or payload.get("s") is None else payload["s"]
    end = query.end if end_given or payload.get("e") is None else payload["e"]
    start, end = _checked_window(query.timeframe, start, end, capped=end_given or not start_given)
    pinned = replace(query, start=start, end=end)
    return replace(pinned, after=decode_cursor(cursor, pinned))


def page_body(
    query: BarPageQuery,
    rows: Sequence[tuple[Any, ...]],
    next_cursor: str | None,
    start_label: str,
    end_label: str,
) -> bytes:
    """The JSON page, encoded straight from database rows (no per-row models).

    Each row names its symbol and timeframe, as the replaced API's rows did;
    `has_more` says the page stopped before the end of the range (next_cursor goes on).
    """
    symbol, timeframe = query.symbol, query.timeframe.value
    series = {"symbol": symbol, "timeframe": timeframe}
    # One dict literal per row, its values unpacked by position (BAR_COLUMNS' order,
    # checked below): a third of the time of dict(zip(...)), which was the larger
    # part of encoding a page.
    data = [
        {
            "symbol": symbol,
            "timeframe": timeframe,
            "time": time_,
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
            "vwap": vwap,
            "trades": trades,
            "source": source,
            "validated": validated,
            "quality_score": quality_score,
            "validation_notes": validation_notes,
            "gap_detected": gap_detected,
            "volume_anomaly": volume_anomaly,
            "fetched_at": fetched_at,
        }
        for (
            time_, open_, high, low, close, volume, vwap, trades, source, validated,
            quality_score, validation_notes, gap_detected, volume_anomaly, fetched_at,
        ) in rows
    ]  # fmt: skip
    return orjson.dumps(
        {
            **series,
            "adjustment": query.adjustment.value,
            "start_date": start_label,
            "end_date": end_label,
            "count": len(rows),
            "has_more": next_cursor is not None,
            "data": data,
            "next_cursor": next_cursor,
        },
        option=orjson.OPT_UTC_Z,
    )


# page_body spells the columns out; a column added to BAR_COLUMNS must be added there.
assert BAR_COLUMNS == (
    "time", "open", "high", "low", "close", "volume", "vwap", "trades", "source", "validated",
    "quality_score", "validation_notes", "gap_detected", "volume_anomaly", "fetched_at",
), "page_body lists BAR_COLUMNS by position"  # fmt: skip


def _csv_value(value: Any) -> Any:
    """Times as in JSON (RFC 3339, Z) and booleans as JSON spells them (true/false),
    not Python's True/False."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value


def page_csv(rows: Sequence[tuple[Any, ...]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(BAR_COLUMNS)
    for row in rows:
        writer.writerow(_csv_value(value) for value in row)
    return out.getvalue()


csv_value = _csv_value  # the CSV spelling of one value, for other writers of the same rows

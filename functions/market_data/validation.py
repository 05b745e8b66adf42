"""Bar validation: pure functions from vendor bars to bars with a verdict.

Nothing is dropped for being wrong: a bar that breaks an invariant is stored
with `validated = false` and a note (the read API hides it by default), so a
vendor problem stays visible and a later, corrected fetch simply revises it.

Two kinds of finding:
- hard (the bar cannot be right): non-positive or non-finite prices, negative
  volume, high/low that do not contain open and close. validated = false,
  quality 0;
- soft (the bar may be right but deserves a look): an extreme move from the
  previous close, an open far from the previous close, a volume spike against
  the rolling median, a VWAP outside the bar, a bar outside trading sessions,
  missing sessions before the bar. Each lowers the quality score a little.

Each soft finding is a check object (`Check`) with its own penalty and, for
gaps and volume, the flag it sets; `assess` runs a list of them (DEFAULT_CHECKS,
or the caller's) over every bar, and what it carries from bar to bar is one
small `SeriesState`. A new check is a new object in the list, not a new branch
in the loop.

Sessions and gaps are judged against the market calendar: stocks, ETFs and
indices follow NYSE sessions (weekends and holidays are not gaps), crypto
trades every day. Stock and ETF intraday bars may fall anywhere in the
extended hours of a session (04:00-20:00 New York, to 17:00 after an early
close), as Polygon's aggregates have them. A period with no trades has no bar,
and that is not a gap either: only whole sessions (days for crypto, weeks for
weekly bars) with no bar count.

Intraday stock and ETF volume follows the shape of a trading day (thin before
the open and after the close, heavy at both ends of the regular session), so
it is judged against the rolling median after dividing each bar's volume by
the share of a day's volume its window usually sees (calendar.volume_curve).

Splits: a raw price falls by the split ratio on the execution date. Given the
symbol's splits, the move checks compare a bar with the previous close divided
by the ratio of every split executed since that close (intraday bars by their
New York session date), and the volume median is scaled up by it, so the bars
around a split keep their quality.

The verdict for a bar depends only on the bars before it, so the caller passes
the stored bars that precede a batch as `context`: re-validating an overlap
gives the same verdict, and re-running a job rewrites nothing.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal, Protocol

from market_data.calendar import (
    NEW_YORK,
    PRE_MARKET_OPEN,
    MarketCalendar,
    nyse,
    volume_curve,
)
from market_data.corporate_actions import Split
from market_data.models import Assessment, RawBar
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe

# Largest plausible close-to-close move over one day, per asset class; scaled
# by Timeframe.move_factor for shorter and longer bars. Beyond it a move is suspect.
DAILY_MOVE_LIMIT = {
    AssetClass.STOCK: 0.25,
    AssetClass.ETF: 0.15,
    AssetClass.INDEX: 0.50,  # VIX doubles on a bad day
    AssetClass.CRYPTO: 0.35,
}
VOLUME_WINDOW = 20  # bars in the rolling median
VOLUME_MIN_SAMPLES = 5  # fewer than this and no judgement is made
VOLUME_SPIKE_RATIO = 10.0
VWAP_TOLERANCE = 0.001  # vendors round VWAP; allow 0.1 % outside [low, high]

CLEAN = Assessment()  # shared by every bar with nothing to report (most of them)


@dataclass(frozen=True, slots=True)
class PreparedBars:
    """Vendor bars sorted by time with one bar per time."""

    bars: list[RawBar]
    duplicates: int  # bars dropped because a later one had the same time
    out_of_order: int  # bars that arrived before an earlier-timed one


@dataclass(frozen=True, slots=True)
class ValidatedBar:
    bar: RawBar
    assessment: Assessment


def prepare(bars: Iterable[RawBar]) -> PreparedBars:
    """Sort and de-duplicate; for a repeated time the last bar the vendor sent wins."""
    latest: dict[datetime, RawBar] = {}
    out_of_order = received = 0
    previous: datetime | None = None
    for bar in bars:
        received += 1
        if previous is not None and bar.time < previous:
            out_of_order += 1
        previous = bar.time
        latest[bar.time] = bar
    ordered = sorted(latest.values(), key=lambda b: b.time)
    return PreparedBars(ordered, received - len(ordered), out_of_order)


def move_limit(asset_class: AssetClass, timeframe: Timeframe) -> float:
    return DAILY_MOVE_LIMIT[asset_class] * timeframe.move_factor


def hard_problems(bar: RawBar) -> list[str]:
    """What makes the bar impossible (an empty list when it is coherent)."""
    o, h, low, c, v = bar.open, bar.high, bar.low, bar.close, bar.volume
    # The common case in one chained comparison (NaN fails it and takes the long way).
    if 0 < low <= o <= h < math.inf and low <= c <= h and 0 <= v < math.inf:
        return []
    prices = (o, h, low, c)
    if not all(math.isfinite(p) for p in prices):
        return ["non-finite price"]
    problems = []
    if min(prices) <= 0:
        problems.append("non-positive price")
    if not math.isfinite(v) or v < 0:
        problems.append("negative or non-finite volume")
    if h < low:
        problems.append("high below low")
    else:
        if h < max(o, c):
            problems.append("high below open/close")
        if low > min(o, c):
            problems.append("low above open/close")
    return problems


class _RollingMedian:
    """Median of the last `size` values (insort into a sorted list; the window is small)."""

    def __init__(self, size: int) -> None:
        self._window: deque[float] = deque()
        self._sorted: list[float] = []
        self._size = size

    def __len__(self) -> int:
        return len(self._window)

    def add(self, value: float) -> None:
        self._window.append(value)
        insort(self._sorted, value)
        if len(self._window) > self._size:
            old = self._window.popleft()
            del self._sorted[bisect_left(self._sorted, old)]

    def rescale(self, factor: float) -> None:
        """Multiply every value (a split: yesterday's volumes in today's shares)."""
        self._window = deque(v * factor for v in self._window)
        self._sorted = [v * factor for v in self._sorted]

    def smallest(self) -> float:
        return self._sorted[0]

    def median(self) -> float:
        values, middle = self._sorted, len(self._sorted) // 2
        if len(values) % 2:
            return values[middle]
        return (values[middle - 1] + values[middle]) / 2


# Where one UTC hour falls for a series (the time-zone work, done once an hour): the
# session it belongs to (New York date; UTC for crypto; the Monday for weekly bars),
# whether that day trades, and for stock/ETF intraday bars the minutes from 04:00
# New York to the hour and the day's volume curve (calendar.volume_curve).
_Hour = tuple[date, bool, int | None, tuple[float, ...]]
_NO_CURVE: tuple[float, ...] = (0.0,)


class _Sessions:
    """The market's notion of a session for one asset class and timeframe."""

    def __init__(self, asset_class: AssetClass, timeframe: Timeframe, calendar: MarketCalendar):
        self.around_the_clock = asset_class.trades_around_the_clock
        self.weekly = timeframe is Timeframe.W1
        # Stocks and ETFs trade extended hours; their intraday bars are judged by the clock.
        self.extended = timeframe.is_intraday and asset_class in (AssetClass.STOCK, AssetClass.ETF)
        self.calendar = calendar
        self._zone = UTC if self.around_the_clock else NEW_YORK
        self._hours: dict[int, _Hour] = {}

    def hour(self, instant: datetime, timestamp: int) -> _Hour:
        """Cached per UTC hour: intraday series have many bars an hour, and the
        time-zone conversion is the costly part of validating a bar."""
        hour = timestamp // 3600
        found = self._hours.get(hour)
        if found is None:
            found = self._hours[hour] = self._locate(instant)
        return found

    def _locate(self, instant: datetime) -> _Hour:
        local = instant.astimezone(self._zone)
        day = local.date()
        if self.weekly:
            return day - timedelta(days=day.weekday()), True, None, _NO_CURVE
        trading = self.around_the_clock or self.calendar.is_session(day)
        if not self.extended:
            return day, trading, None, _NO_CURVE
        # New York is a whole number of hours from UTC: the hour starts on the minute.
        minute = (local.hour - PRE_MARKET_OPEN.hour) * 60
        curve = volume_curve(self.calendar.regular_minutes(day)) if trading else _NO_CURVE
        return day, trading, minute, curve

    def week_opening(self, monday: date) -> date:
        """The first session of a week (its Monday when that trades)."""
        for offset in range(7):
            day = monday + timedelta(days=offset)
            if self.around_the_clock or self.calendar.is_session(day):
                return day
        return monday

    def missing_between(self, before: date, after: date) -> int:
        """Whole sessions (weeks) strictly between two session keys that have no bar."""
        if after <= before:
            return 0
        if self.weekly:
            weeks = (after - before).days // 7 - 1
            if self.around_the_clock or weeks <= 0:
                return max(weeks, 0)
            return sum(
                1
                for w in range(1, weeks + 1)
                if any(
                    self.calendar.is_session(before + timedelta(days=7 * w + d)) for d in range(5)
                )
            )
        if self.around_the_clock:
            return (after - before).days - 1
        return sum(
            1 for _ in self.calendar.sessions(before + timedelta(days=1), after - timedelta(days=1))
        )


# --- the checks ---------------------------------------------------------------------

Flag = Literal["gap", "volume"]  # Assessment.gap_detected, Assessment.volume_anomaly


@dataclass(slots=True)
class SeriesState:
    """What validation carries from one bar of a series to the next."""

    volumes: _RollingMedian = field(default_factory=lambda: _RollingMedian(VOLUME_WINDOW))
    previous: RawBar | None = None  # the last valid bar: the price reference
    previous_key: date | None = None  # its session
    last_key: date | None = None  # the session of the last bar, valid or not


@dataclass(slots=True)
class Observation:
    """One coherent bar as the checks see it: where it falls, what it is compared with."""

    bar: RawBar
    key: date  # its session (New York date; UTC date for crypto) or week
    in_session: bool  # inside trading hours (extended hours for stock/ETF intraday bars)
    missing: int  # whole sessions (weeks) with no bar since the last bar
    unit: str  # "session" or "week"
    close_reference: float | None  # the previous valid close, in this bar's shares
    open_reference: float | None  # the same for the open (differs in a weekly bar's split week)
    allowed: float  # the largest plausible move from the references
    volume: float | None  # what the spike check compares with the median (None: no judgement)
    volume_share: float  # the share of a day's volume the bar's window usually sees (1: whole bars)
    split_ratio: float  # product of the ratios of splits since the previous valid bar


class Check(Protocol):
    """One soft finding: a note (or None) for a bar, the penalty it costs, the flag it sets."""

    @property
    def penalty(self) -> float: ...

    @property
    def flag(self) -> Flag | None: ...

    def note(self, seen: Observation, state: SeriesState) -> str | None: ...


@dataclass(frozen=True, slots=True)
class OffSession:
    """A bar on a day the market is closed, or outside the hours it trades."""

    penalty: float = 0.1
    flag: Flag | None = None

    def note(self, seen: Observation, state: SeriesState) -> str | None:
        return None if seen.in_session else "bar outside trading sessions"


@dataclass(frozen=True, slots=True)
class MissingSessions:
    """Whole sessions (weeks) with no bar before this one."""

    penalty: float = 0.05
    flag: Flag | None = "gap"

    def note(self, seen: Observation, state: SeriesState) -> str | None:
        missing = seen.missing
        if not missing:
            return None
        return f"{missing} missing {seen.unit}{'s' if missing > 1 else ''} before this bar"


@dataclass(frozen=True, slots=True)
class ExtremeMove:
    """A close implausibly far from the previous close (hidden by the default min_quality)."""

    penalty: float = 0.3
    flag: Flag | None = None

    def note(self, seen: Observation, state: SeriesState) -> str | None:
        if seen.close_reference is None:
            return None
        move = seen.bar.close / seen.close_reference - 1
        if abs(move) <= seen.allowed:
            return None
        return f"close moved {move:+.1%} from the previous close"


@dataclass(frozen=True, slots=True)
class OpenGap:
    """An open implausibly far from the previous close."""

    penalty: float = 0.1
    flag: Flag | None = None

    def note(self, seen: Observation, state: SeriesState) -> str | None:
        if seen.open_reference is None:
            return None
        opening = seen.bar.open / seen.open_reference - 1
        if abs(opening) <= seen.allowed:
            return None
        return f"open is {opening:+.1%} from the previous close"


@dataclass(frozen=True, slots=True)
class VolumeSpike:
    """Volume far above the rolling median of the series, or none where there is trading."""

    penalty: float = 0.1
    flag: Flag | None = "volume"

    def note(self, seen: Observation, state: SeriesState) -> str | None:
        volume, volumes = seen.volume, state.volumes
        if volume is None or len(volumes) < VOLUME_MIN_SAMPLES:
            return None
        # Cheap test first: no spike is possible below ratio x the window's smallest.
        if volume <= VOLUME_SPIKE_RATIO * volumes.smallest() and volume != 0:
            return None
        median = volumes.median()
        if median > 0 and (volume > VOLUME_SPIKE_RATIO * median or volume == 0):
            expected = median * seen.volume_share  # in this bar's terms
            return f"volume {seen.bar.volume:.6g} against a median of {expected:.6g}"
        return None


@dataclass(frozen=True, slots=True)
class VwapOutsideRange:
    """A VWAP outside the bar's high-low range (beyond the vendors' rounding)."""

    penalty: float = 0.1
    flag: Flag | None = None

    def note(self, seen: Observation, state: SeriesState) -> str | None:
        bar = seen.bar
        if bar.vwap is None or (
            bar.low * (1 - VWAP_TOLERANCE) <= bar.vwap <= bar.high * (1 + VWAP_TOLERANCE)
        ):
            return None
        return "VWAP outside the bar's range"


# The order is the order of the notes on a bar.
DEFAULT_CHECKS: tuple[Check, ...] = (
    OffSession(),
    MissingSessions(),
    ExtremeMove(),
    OpenGap(),
    VolumeSpike(),
    VwapOutsideRange(),
)


class _Series:
    """How one series' bars are placed and compared: sessions, move limits, splits."""

    def __init__(
        self,
        asset_class: AssetClass,
        timeframe: Timeframe,
        calendar: MarketCalendar,
        splits: Sequence[Split],
    ) -> None:
        self.sessions = _Sessions(asset_class, timeframe, calendar)
        self.limit = move_limit(asset_class, timeframe)
        self.overnight_limit = max(self.limit, move_limit(asset_class, Timeframe.D1))
        self.after_gap_limit = max(self.overnight_limit, move_limit(asset_class, Timeframe.W1))
        self.has_volume = asset_class is not AssetClass.INDEX  # index aggregates carry none
        self.minutes = round(timeframe.duration.total_seconds()) // 60
        self.unit = "week" if self.sessions.weekly else "session"
        ordered = sorted(splits, key=lambda s: s.execution_date)
        self._split_days = [s.execution_date for s in ordered]
        self._split_ratios = [s.ratio for s in ordered]

    def _ratio(self, after: date, upto: date) -> float:
        """Product of the ratios of splits executed in (after, upto]."""
        days = self._split_days
        ratio = 1.0
        for i in range(bisect_right(days, after), bisect_right(days, upto)):
            ratio *= self._split_ratios[i]
        return ratio

    def key(self, bar: RawBar) -> date:
        return self.sessions.hour(bar.time, int(bar.time.timestamp()))[0]

    def observe(self, bar: RawBar, state: SeriesState) -> Observation:
        sessions = self.sessions
        timestamp = int(bar.time.timestamp())
        key, in_session, minute, curve = sessions.hour(bar.time, timestamp)
        share = 1.0
        volume: float | None = bar.volume
        if minute is not None:
            # A stock/ETF intraday bar: inside the extended hours, and its volume
            # judged against what its window of the day usually trades.
            start = minute + (timestamp % 3600) // 60
            first, last = max(start, 0), min(start + self.minutes, len(curve) - 1)
            in_session = first < last
            if in_session:
                share = curve[last] - curve[first]
                volume = bar.volume / share
            else:
                volume = None  # no shape to judge it by
        if not self.has_volume:
            volume = None
        last_key = state.last_key
        missing = (
            0 if last_key is None or last_key == key else sessions.missing_between(last_key, key)
        )
        previous, ratio = state.previous, 1.0
        close_reference = open_reference = None
        allowed = self.limit
        if previous is not None:
            # A new session allows a larger move than one bar inside a session, a gap more.
            if missing:
                allowed = self.after_gap_limit
            elif state.previous_key != key:
                allowed = self.overnight_limit
            close_reference = open_reference = previous.close
            if self._split_days and state.previous_key is not None:
                if sessions.weekly:
                    ended = state.previous_key + timedelta(days=6)
                    ratio = self._ratio(ended, key + timedelta(days=6))
                    open_reference /= self._ratio(ended, sessions.week_opening(key))
                else:
                    ratio = self._ratio(state.previous_key, key)
                    open_reference /= ratio
                close_reference /= ratio
        return Observation(
            bar, key, in_session, missing, self.unit, close_reference, open_reference, allowed,
            volume, share, ratio,
        )  # fmt: skip

    def advance(self, seen: Observation, state: SeriesState) -> None:
        """The bar (coherent, judged or context) becomes the reference for the next."""
        if seen.volume is not None:
            state.volumes.add(seen.volume)
        state.previous, state.previous_key, state.last_key = seen.bar, seen.key, seen.key


def assess(
    bars: Sequence[RawBar],
    asset_class: AssetClass,
    timeframe: Timeframe,
    *,
    context: Sequence[RawBar] = (),
    calendar: MarketCalendar | None = None,
    splits: Sequence[Split] = (),
    checks: Sequence[Check] = DEFAULT_CHECKS,
) -> list[ValidatedBar]:
    """A verdict for each bar (sorted, unique times), judged after the `context` bars.

    `context` is the stored bars just before the first one, oldest first: the
    last VOLUME_WINDOW valid ones and the very last one, valid or not. It seeds
    the previous close, the last session seen and the volume median, so a bar
    gets the same verdict whether it is validated in a long run or an overlap.
    `splits` are the symbol's splits (raw prices); `checks` the soft checks to run.
    """
    series = _Series(asset_class, timeframe, calendar or nyse(), splits)
    state = SeriesState()
    for bar in context:
        if hard_problems(bar):
            # An impossible bar still shows that its session traded; it is no price reference.
            state.last_key = series.key(bar)
            continue
        seen = series.observe(bar, state)
        if seen.split_ratio != 1.0:
            state.volumes.rescale(seen.split_ratio)
        series.advance(seen, state)

    verdicts: list[ValidatedBar] = []
    for bar in bars:
        problems = hard_problems(bar)
        if problems:
            verdicts.append(ValidatedBar(bar, Assessment(False, 0.0, tuple(problems))))
            state.last_key = series.key(bar)
            continue
        seen = series.observe(bar, state)
        if seen.split_ratio != 1.0:
            state.volumes.rescale(seen.split_ratio)
        notes: list[str] = []
        penalty = 0.0
        gap = volume = False
        for check in checks:
            note = check.note(seen, state)
            if note is not None:
                notes.append(note)
                penalty += check.penalty
                gap = gap or check.flag == "gap"
                volume = volume or check.flag == "volume"
        if notes:
            score = round(max(0.0, 1.0 - penalty), 4)
            verdict = Assessment(True, score, tuple(notes), gap, volume)
        else:
            verdict = CLEAN
        verdicts.append(ValidatedBar(bar, verdict))
        series.advance(seen, state)
    return verdicts


def is_flagged(assessment: Assessment) -> bool:
    """Anything worth a look: invalid, or valid with notes."""
    return not assessment.validated or bool(assessment.notes)

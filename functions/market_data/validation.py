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

Gaps are judged against the market calendar: stocks, ETFs and indices follow
NYSE sessions (weekends and holidays are not gaps), crypto trades every day.
A period with no trades has no bar, and that is not a gap either: only whole
sessions (days for crypto, weeks for weekly bars) with no bar count.

The verdict for a bar depends only on the bars before it, so the caller passes
the stored bars that precede a batch as `context`: re-validating an overlap
gives the same verdict, and re-running a job rewrites nothing.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from market_data.calendar import NEW_YORK, MarketCalendar, nyse
from market_data.models import Assessment, RawBar
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe

# Largest plausible close-to-close move over one day, per asset class; scaled
# down for shorter bars, up for weekly ones. Beyond it a move is suspect.
DAILY_MOVE_LIMIT = {
    AssetClass.STOCK: 0.25,
    AssetClass.ETF: 0.15,
    AssetClass.INDEX: 0.50,  # VIX doubles on a bad day
    AssetClass.CRYPTO: 0.35,
}
TIMEFRAME_MOVE_FACTOR = {
    Timeframe.M1: 0.15,
    Timeframe.M5: 0.2,
    Timeframe.M15: 0.25,
    Timeframe.M30: 0.3,
    Timeframe.H1: 0.4,
    Timeframe.H4: 0.6,
    Timeframe.D1: 1.0,
    Timeframe.W1: 2.0,
}
VOLUME_WINDOW = 20  # bars in the rolling median
VOLUME_MIN_SAMPLES = 5  # fewer than this and no judgement is made
VOLUME_SPIKE_RATIO = 10.0
VWAP_TOLERANCE = 0.001  # vendors round VWAP; allow 0.1 % outside [low, high]

PENALTY = {
    "extreme_move": 0.3,  # hidden by the API's default min_quality (0.85)
    "open_gap": 0.1,
    "volume": 0.1,
    "vwap": 0.1,
    "off_session": 0.1,
    "gap": 0.05,
}


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
    return DAILY_MOVE_LIMIT[asset_class] * TIMEFRAME_MOVE_FACTOR[timeframe]


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

    def smallest(self) -> float:
        return self._sorted[0]

    def median(self) -> float:
        values, middle = self._sorted, len(self._sorted) // 2
        if len(values) % 2:
            return values[middle]
        return (values[middle - 1] + values[middle]) / 2


class _Sessions:
    """The market's notion of a session for one asset class and timeframe."""

    def __init__(self, asset_class: AssetClass, timeframe: Timeframe, calendar: MarketCalendar):
        self.around_the_clock = asset_class.trades_around_the_clock
        self.weekly = timeframe is Timeframe.W1
        self.calendar = calendar
        self._located: dict[int, tuple[date, bool]] = {}

    def locate(self, instant: datetime) -> tuple[date, bool]:
        """The session (or week) a bar belongs to, and whether that day trades.

        Cached per UTC hour: intraday series have many bars an hour, and the
        time-zone conversion is the costly part of validating a bar.
        """
        hour = int(instant.timestamp()) // 3600
        found = self._located.get(hour)
        if found is None:
            zone = UTC if self.around_the_clock else NEW_YORK
            day = instant.astimezone(zone).date()
            if self.weekly:
                found = (day - timedelta(days=day.weekday()), True)
            else:
                trading = self.around_the_clock or self.calendar.is_session(day)
                found = (day, trading)
            self._located[hour] = found
        return found

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


def assess(
    bars: Sequence[RawBar],
    asset_class: AssetClass,
    timeframe: Timeframe,
    *,
    context: Sequence[RawBar] = (),
    calendar: MarketCalendar | None = None,
) -> list[ValidatedBar]:
    """A verdict for each bar (sorted, unique times), judged after the `context` bars.

    `context` is the stored bars just before the first one, oldest first: the
    last VOLUME_WINDOW valid ones and the very last one, valid or not. It seeds
    the previous close, the last session seen and the volume median, so a bar
    gets the same verdict whether it is validated in a long run or an overlap.
    """
    sessions = _Sessions(asset_class, timeframe, calendar or nyse())
    limit = move_limit(asset_class, timeframe)
    overnight_limit = max(limit, move_limit(asset_class, Timeframe.D1))
    after_gap_limit = max(overnight_limit, move_limit(asset_class, Timeframe.W1))
    check_volume = asset_class is not AssetClass.INDEX  # index aggregates carry no volume
    volumes = _RollingMedian(VOLUME_WINDOW)
    previous: RawBar | None = None  # the last valid bar: the price reference
    previous_key: date | None = None  # its session
    last_key: date | None = None  # the session of the last bar, valid or not
    for bar in context:
        # An impossible bar still shows that its session traded; it is no price reference.
        last_key = sessions.locate(bar.time)[0]
        if not hard_problems(bar):
            volumes.add(bar.volume)
            previous, previous_key = bar, last_key

    verdicts: list[ValidatedBar] = []
    for bar in bars:
        notes = hard_problems(bar)
        key, trading_day = sessions.locate(bar.time)
        if notes:
            verdicts.append(ValidatedBar(bar, Assessment(False, 0.0, tuple(notes))))
            last_key = key
            continue
        penalty = 0.0
        gap_detected = volume_anomaly = False

        if not trading_day:
            notes.append("bar outside trading sessions")
            penalty += PENALTY["off_session"]
        missing = 0 if last_key is None else sessions.missing_between(last_key, key)
        if missing:
            gap_detected = True
            unit = "week" if sessions.weekly else "session"
            notes.append(f"{missing} missing {unit}{'s' if missing > 1 else ''} before this bar")
            penalty += PENALTY["gap"]
        if previous is not None:
            # A new session allows a larger move than one bar inside a session, a gap more.
            allowed = (
                after_gap_limit if missing else limit if previous_key == key else overnight_limit
            )
            move = bar.close / previous.close - 1
            if abs(move) > allowed:
                notes.append(f"close moved {move:+.1%} from the previous close")
                penalty += PENALTY["extreme_move"]
            opening = bar.open / previous.close - 1
            if abs(opening) > allowed:
                notes.append(f"open is {opening:+.1%} from the previous close")
                penalty += PENALTY["open_gap"]
        if (
            check_volume
            and len(volumes) >= VOLUME_MIN_SAMPLES
            # Cheap test first: no spike is possible below ratio x the window's smallest.
            and (bar.volume > VOLUME_SPIKE_RATIO * volumes.smallest() or bar.volume == 0)
        ):
            median = volumes.median()
            if median > 0 and (bar.volume > VOLUME_SPIKE_RATIO * median or bar.volume == 0):
                volume_anomaly = True
                notes.append(f"volume {bar.volume:.6g} against a median of {median:.6g}")
                penalty += PENALTY["volume"]
        if bar.vwap is not None and not (
            bar.low * (1 - VWAP_TOLERANCE) <= bar.vwap <= bar.high * (1 + VWAP_TOLERANCE)
        ):
            notes.append("VWAP outside the bar's range")
            penalty += PENALTY["vwap"]

        if notes:
            score = round(max(0.0, 1.0 - penalty), 4)
            verdict = Assessment(True, score, tuple(notes), gap_detected, volume_anomaly)
        else:
            verdict = CLEAN
        verdicts.append(ValidatedBar(bar, verdict))
        volumes.add(bar.volume)
        previous, previous_key, last_key = bar, key, key
    return verdicts


def is_flagged(assessment: Assessment) -> bool:
    """Anything worth a look: invalid, or valid with notes."""
    return not assessment.validated or bool(assessment.notes)

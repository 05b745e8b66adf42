"""Deterministic synthetic market data: the product runs and demos with no vendor key.

One price path per symbol, the same whatever is asked of it:

- Daily closes are a random walk in log price through approximate real
  split-adjusted levels (synthetic_symbols.PROFILES: AAPL near $75 early in
  2020, SPY near $320, BTC near $7,000 then and $90,000 at the end of 2026),
  pinned to them and weakly pulled towards the line between them, with mildly
  clustered volatility; VIX reverts strongly to its levels, spikes included.
  Prices are then made raw: before a split's execution date they are
  split_to/split_from times higher, and on an ex-dividend date the open drops
  by the cash amount.
- Every day is a tree of bars: the day splits into 4-hour bars, those into
  hours, the hours into 5-minute bars and those into 1-minute bars (15m and
  30m bars are 5m bars added up). Each child is drawn given its parent - a
  bridge from the parent's open to its close, conditioned on its VWAP - so
  that the parent is exactly the aggregate of its children: first open, last
  close, highest high, lowest low, summed volume, trades and traded value, so
  the VWAPs agree as well. Prices are whole ticks and volumes whole units
  while generating, which keeps the sums exact. A request goes no deeper in
  the tree than its timeframe needs (a daily history since 2015 costs one bar
  a day), yet a 1d bar equals its 5m or 1m bars aggregated, and a 1w bar its
  days. The children are drawn from the day's own seed in a fixed order, level
  by level, so stopping at 1h or going on to 1m gives the same hours; the
  levels of recently expanded days are kept, so the coarser timeframes a
  backfill asks for after 5m cost next to nothing.
- Stocks and ETFs trade on NYSE sessions from 04:00 to 20:00 New York time
  (post-market ends at 17:00 after a 13:00 early close), thinly outside the
  regular 09:30-16:00 session, with the volume curve of market_data.calendar;
  their intraday bars start on the clock from 04:00. The index (VIX) has
  regular-session bars only, starting at 09:30, and no volume, VWAP or trade
  count, as Polygon's index aggregates. Crypto trades around the clock; its
  day is the UTC day. Stock and ETF volumes are whole shares, coins fractional.
- Daily bars are stamped at New York midnight (crypto: UTC midnight), weekly
  bars at the Monday of their week.

Every number is a pure function of the symbol and the day, so any range can be
fetched in any order, again and again, with the same bars.
"""

from __future__ import annotations

import copy
import math
import random
import threading
import zlib
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from itertools import accumulate, pairwise
from operator import gt, mul
from statistics import NormalDist

from market_data.calendar import (
    NEW_YORK,
    POST_MARKET_MINUTES,
    PRE_MARKET_MINUTES,
    PRE_MARKET_OPEN,
    REGULAR_OPEN,
    nyse,
    volume_curve,
)
from market_data.corporate_actions import CorporateActions, Dividend, Split
from market_data.models import RawBar
from market_data.providers import ActionsResult, FetchResult
from market_data.providers.synthetic_symbols import (
    CRYPTO_CRASH_DAY,
    DIVIDENDS,
    EQUITY_CRASH_DAY,
    LEVEL_DATES,
    PROFILES,
    SPLITS,
    TRADE_VALUE,
    DividendPlan,
    Profile,
)
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe

EPOCH = date(2015, 1, 1)  # history starts here (or at a later listing)
HORIZON = date(2100, 1, 1)  # and ends here
T_PLUS_ONE = date(2024, 5, 28)  # US settlement became T+1: the record date is the ex-date

# The levels of a day's tree: bar lengths in minutes, and the lognormal noise on how
# a bar's volume divides among its children. 15m and 30m bars are 5m bars aggregated.
_STEPS = (240, 60, 5, 1)
_VOLUME_NOISE = (0.1, 0.15, 0.3, 0.3)
# Timeframe -> (level of the tree, minutes to aggregate that level's bars into).
_LEVEL = {
    Timeframe.H4: (1, 0),
    Timeframe.H1: (2, 0),
    Timeframe.M30: (3, 30),
    Timeframe.M15: (3, 15),
    Timeframe.M5: (3, 0),
    Timeframe.M1: (4, 0),
}
_VOLATILITY_PERSISTENCE = 0.97  # day-to-day autocorrelation of log volatility
_VOLATILITY_SPREAD = 0.2  # its standard deviation; the multiplier stays in [0.6, 1.4]
_MAX_SHOCK = 3.5  # daily shocks are cut at 3.5 standard deviations
# Share of the distance to the line between its levels that a price closes in a
# day: weak for prices (SPY strays some 4 % from it, AAPL 7 %), strong for VIX.
_REVERSION = {"equity": 0.03, "crypto": 0.015, "index": 0.06}
_VIX_RANGE = (9.0, 85.0)  # closes stay inside, highs and lows a little beyond
_VIX_EXTREMES = (8.5, 90.0)

Node = tuple[int, int, int, int, int, int, int, int, int]
"""A bar while generating: start and end minute in its day's window, open, high,
low, close in ticks, volume in units, traded value in ticks x units, trades."""


def _seed(*parts: object) -> int:
    return zlib.crc32("|".join(map(str, parts)).encode())


@cache
def _normal_table() -> tuple[float, ...]:
    # Standard normal quantiles: a uniform draw indexes them, several times faster than gauss().
    size = 8192
    return tuple(NormalDist().inv_cdf((i + 0.5) / size) for i in range(size))


@cache
def _lognormal_table(spread: float) -> tuple[float, ...]:
    # exp(spread * z) for the same quantiles: lognormal noise with a median of 1.
    return tuple(math.exp(spread * z) for z in _normal_table())


def _normal(rng: random.Random) -> Callable[[], float]:
    table, draw = _normal_table(), rng.random
    size = len(table)
    return lambda: table[int(draw() * size)]


# --- the shape of a day -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Shape:
    """How one kind of trading day spreads its price variance and volume over its minutes."""

    minutes: int
    variance: tuple[float, ...]  # cumulative share of the day's variance before each minute
    volume: tuple[float, ...]  # the same for volume (zeros for an index)
    vwap_time: float  # how far from open to close the day's VWAP sits, in variance time


def _cumulative(weights: list[float]) -> tuple[float, ...]:
    total, running, out = sum(weights), 0.0, [0.0]
    for weight in weights:
        running += weight
        out.append(running / total)
    out[-1] = 1.0
    return tuple(out)


@cache
def _shape(kind: str, regular_minutes: int) -> _Shape:
    if kind == "crypto":  # busiest around 15:00 UTC, when Europe and America overlap
        phase = [math.cos(2 * math.pi * (i / 1440 - 15 / 24)) for i in range(1440)]
        variance = _cumulative([1 + 0.25 * p for p in phase])
        volume = _cumulative([1 + 0.3 * p for p in phase])
    elif kind == "index":
        variance = _cumulative(
            [
                0.8 + math.exp(-i / 30) + 0.3 * math.exp(-(regular_minutes - 1 - i) / 20)
                for i in range(regular_minutes)
            ]
        )
        volume = (0.0,) * (regular_minutes + 1)
    else:  # stocks and ETFs: quiet pre- and post-market, a busy open
        close = PRE_MARKET_MINUTES + regular_minutes
        weights = []
        for i in range(close + POST_MARKET_MINUTES):
            if i < PRE_MARKET_MINUTES:
                weight = 0.08 + 0.25 * math.exp(-(PRE_MARKET_MINUTES - i) / 60)
            elif i < close:
                weight = (
                    0.8
                    + math.exp(-(i - PRE_MARKET_MINUTES) / 30)
                    + 0.3 * math.exp(-(close - 1 - i) / 20)
                )
            else:
                weight = 0.06 + 0.3 * math.exp(-(i - close) / 30)
            weights.append(weight)
        variance = _cumulative(weights)
        volume = volume_curve(regular_minutes)
    minutes = len(variance) - 1
    vwap_time = (
        sum(
            (volume[i + 1] - volume[i]) * (variance[i] + variance[i + 1]) / 2
            for i in range(minutes)
        )
        if volume[-1]
        else 0.5
    )
    return _Shape(minutes, variance, volume, vwap_time)


# --- one symbol's facts -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Series:
    symbol: str
    asset_class: AssetClass
    kind: str  # "equity" (stocks, ETFs), "index" or "crypto"
    anchors: tuple[tuple[date, float], ...]  # trading day, split-adjusted close
    anchor_days: tuple[date, ...]
    volatility: float
    dollar_volume: float
    trade_value: float
    decimals: int  # of prices
    scale: int  # ticks per unit of currency
    volume_scale: int  # volume units per share or coin
    splits: tuple[Split, ...]
    dividends: tuple[Dividend, ...]
    cash: dict[date, float]  # dividend cash per ex-date

    def is_trading_day(self, day: date) -> bool:
        return self.kind == "crypto" or nyse().is_session(day)

    def trading_days(self, first: date, last: date) -> list[date]:
        if self.kind == "crypto":
            return [first + timedelta(days=i) for i in range((last - first).days + 1)]
        return list(nyse().sessions(first, last))

    def next_trading_day(self, day: date) -> date:
        while not self.is_trading_day(day):
            day += timedelta(days=1)
        return day

    def split_factor(self, day: date) -> float:
        """How many of the day's shares one of today's shares is worth (prices multiply by it)."""
        factor = 1.0
        for split in self.splits:
            if split.execution_date > day:
                factor *= split.ratio
        return factor

    def split_on(self, day: date) -> float:
        ratio = 1.0
        for split in self.splits:
            if split.execution_date == day:
                ratio *= split.ratio
        return ratio

    def anchor_close(self, index: int) -> int:
        """The close of an anchor day in ticks (raw), as both of its segments see it."""
        day, level = self.anchors[index]
        price = level * self.split_factor(day)
        if self.kind == "index":
            price = min(max(price, _VIX_RANGE[0]), _VIX_RANGE[1])
        return max(1, round(price * self.scale))

    def level_at(self, day: date) -> float:
        """The split-adjusted level interpolated between anchors (no noise)."""
        i = bisect_left(self.anchor_days, day)
        if i == 0:
            return self.anchors[0][1]
        if i >= len(self.anchors):
            return self.anchors[-1][1]
        (d0, l0), (d1, l1) = self.anchors[i - 1], self.anchors[i]
        share = (day - d0).days / max(1, (d1 - d0).days)
        return math.exp(math.log(l0) + share * (math.log(l1) - math.log(l0)))


def _kind(asset_class: AssetClass) -> str:
    if asset_class is AssetClass.CRYPTO:
        return "crypto"
    return "index" if asset_class is AssetClass.INDEX else "equity"


def _unknown_profile(symbol: str, asset_class: AssetClass) -> Profile:
    """Levels for a symbol the table does not know: seeded by its name, plausible for its class."""
    rng = random.Random(_seed(symbol, "profile"))
    low, high, volatility, value = {
        AssetClass.STOCK: (10.0, 400.0, 0.02, 5e8),
        AssetClass.ETF: (20.0, 300.0, 0.012, 3e8),
        AssetClass.CRYPTO: (0.01, 1000.0, 0.045, 2e7),
        AssetClass.INDEX: (12.0, 25.0, 0.065, 0.0),
    }[asset_class]
    level = math.exp(rng.uniform(math.log(low), math.log(high)))
    levels = [level]
    for previous, current in pairwise(LEVEL_DATES):
        years = (current - previous).days / 365
        drift = 0.0 if asset_class is AssetClass.INDEX else 0.06 * years
        spread = 0.5 * volatility * math.sqrt(252 * years)
        levels.append(levels[-1] * math.exp(drift + rng.gauss(0, spread)))
    return Profile(tuple(levels), volatility, value)


def _anchors(series_kind: str, profile: Profile, symbol: str) -> list[tuple[date, float]]:
    calendar = nyse()

    def trading(day: date) -> bool:
        return series_kind == "crypto" or calendar.is_session(day)

    def on_or_after(day: date) -> date:
        while not trading(day):
            day += timedelta(days=1)
        return day

    points: dict[date, float] = {}
    for day, level in zip(LEVEL_DATES, profile.levels, strict=True):
        if level is not None:
            points[on_or_after(day)] = level
    if profile.crash != 1 and profile.levels[1] is not None:
        crash_day = CRYPTO_CRASH_DAY if series_kind == "crypto" else EQUITY_CRASH_DAY
        points[on_or_after(crash_day)] = profile.levels[1] * profile.crash
    for day, level in profile.anchors:
        points[on_or_after(day)] = level
    if profile.listed is not None:
        # Anchor the listing price on the day before the first bar.
        listed, price = profile.listed
        before = on_or_after(listed) - timedelta(days=1)
        while not trading(before):
            before -= timedelta(days=1)
        points[before] = price
    anchors = sorted(points.items())
    # After the last known level: a yearly level drawn from the symbol's seed, to HORIZON.
    rng = random.Random(_seed(symbol, "future"))
    last_day, level = anchors[-1]
    year = last_day.year + 1
    while date(year, 12, 1) < HORIZON:
        if series_kind == "index":
            level = math.exp(rng.gauss(math.log(17), 0.2))
        else:
            drift = 0.06 if series_kind == "equity" else 0.0
            level *= math.exp(drift + rng.gauss(0, 0.5 * profile.volatility * math.sqrt(252)))
        anchors.append((on_or_after(date(year, 12, 1)), level))
        year += 1
    return anchors


def _plan_dividends(
    plan: DividendPlan, level_at: Callable[[date], float], split_factor: Callable[[date], float]
) -> list[Dividend]:
    calendar = nyse()

    def on_or_after(day: date) -> date:
        while not calendar.is_session(day):
            day += timedelta(days=1)
        return day

    def on_or_before(day: date) -> date:
        while not calendar.is_session(day):
            day -= timedelta(days=1)
        return day

    frequency = len(plan.ex_days)
    dividends = list(plan.specials)
    for year in range(EPOCH.year, HORIZON.year):
        for month, day in plan.ex_days:
            ex = on_or_after(date(year, month, min(day, 28)))
            if plan.yearly_yield:
                # Distributions are steady through a year: the yield on its opening level.
                level = level_at(date(year, 1, 2)) * split_factor(ex)
                amount = round(level * plan.yearly_yield / frequency, 4)
            else:
                steps = [a for since, a in plan.amounts if since <= ex]
                amount = steps[-1] if steps else 0.0
            if amount <= 0:
                continue
            record = ex if ex >= T_PLUS_ONE else on_or_after(ex + timedelta(days=1))
            dividends.append(
                Dividend(
                    ex_dividend_date=ex,
                    cash_amount=amount,
                    declaration_date=on_or_before(ex - timedelta(days=plan.declared_days_before)),
                    record_date=record,
                    pay_date=on_or_after(record + timedelta(days=plan.paid_days_after)),
                    frequency=frequency,
                )
            )
    return sorted(dividends, key=lambda d: d.ex_dividend_date)


@lru_cache(maxsize=256)
def _series(symbol: str, asset_class: AssetClass) -> _Series:
    kind = _kind(asset_class)
    profile = PROFILES.get(symbol) or _unknown_profile(symbol, asset_class)
    anchors = _anchors(kind, profile, symbol)
    lowest = min(level for _, level in anchors[: len(LEVEL_DATES) + 16])
    decimals = 2 if kind != "crypto" else max(2, 4 - math.floor(math.log10(lowest)))
    if kind == "crypto":
        # Fractional coins, as many decimals as keep a day's volume in exact float range.
        most = 5 * profile.dollar_volume / lowest
        volume_decimals = min(8, max(0, 15 - math.ceil(math.log10(max(most, 1.0)))))
    else:
        volume_decimals = 0  # whole shares (and no volume at all for the index)
    equity = asset_class in (AssetClass.STOCK, AssetClass.ETF)
    splits = SPLITS.get(symbol, ()) if equity else ()
    partial = _Series(
        symbol, asset_class, kind, tuple(anchors), tuple(d for d, _ in anchors),
        profile.volatility, profile.dollar_volume, TRADE_VALUE.get(asset_class.value, 1.0),
        decimals, 10**decimals, 10**volume_decimals, splits, (), {},
    )  # fmt: skip
    plan = DIVIDENDS.get(symbol) if equity else None
    if plan is None:
        return partial
    dividends = _plan_dividends(plan, partial.level_at, partial.split_factor)
    cash: dict[date, float] = {}
    for dividend in dividends:
        ex = dividend.ex_dividend_date
        cash[ex] = cash.get(ex, 0.0) + dividend.cash_amount
    return replace(partial, dividends=tuple(dividends), cash=cash)


# --- days ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Day:
    day: date
    root: Node  # the day's bar
    variance: float  # of log price over the day's window
    shape: _Shape


def _day_shape(series: _Series, day: date) -> _Shape:
    if series.kind == "crypto":
        return _shape("crypto", 0)
    return _shape(series.kind, nyse().regular_minutes(day))


@lru_cache(maxsize=4096)
def _segment(symbol: str, asset_class: AssetClass, index: int) -> tuple[_Day, ...]:
    """The trading days after anchor `index` up to and including the next anchor."""
    series = _series(symbol, asset_class)
    (first, low_level), (last, high_level) = series.anchors[index], series.anchors[index + 1]
    days = series.trading_days(first + timedelta(days=1), last)
    count = len(days)
    if not count:
        return ()
    rng = random.Random(_seed(symbol, "days", first.isoformat()))
    normal, uniform = _normal(rng), rng.random
    draws = [
        (normal(), normal(), normal(), uniform(), uniform(), normal(), normal(), normal())
        for _ in range(count)
    ]
    sigma, index_kind = series.volatility, series.kind == "index"

    # Volatility that clusters, and the shocks of each day.
    persistence = _VOLATILITY_PERSISTENCE
    innovation = _VOLATILITY_SPREAD * math.sqrt(1 - persistence**2)
    log_vol, scales, shocks = 0.0, [], []
    for draw in draws:
        log_vol = persistence * log_vol + innovation * draw[0]
        scale = math.exp(log_vol)
        scale = 1.4 if scale > 1.4 else 0.6 if scale < 0.6 else scale
        shock = draw[1]
        shock = _MAX_SHOCK if shock > _MAX_SHOCK else -_MAX_SHOCK if shock < -_MAX_SHOCK else shock
        scales.append(scale)
        shocks.append(sigma * scale * shock)

    # Noise around the straight line between the two levels: a walk that reverts
    # towards the line, pinned to it at both ends.
    keep = 1 - _REVERSION[series.kind]
    walk, noise, clock, clocks = 0.0, [], 0.0, []
    for scale, shock in zip(scales, shocks, strict=True):
        walk = walk * keep + shock
        clock += (sigma * scale) ** 2
        noise.append(walk)
        clocks.append(clock)
    bridge = [w - c / clock * walk for w, c in zip(noise, clocks, strict=True)]
    log_low, log_high = math.log(low_level), math.log(high_level)

    # Raw closes: the split factor, and the dividends' drops (spread back over the segment).
    cash = series.cash
    factors = [series.split_factor(d) for d in days] if series.splits else [1.0] * count
    ratios = [series.split_on(d) for d in days] if series.splits else factors
    previous = low_level * series.split_factor(first)
    kept, before_dividends = 1.0, []
    rise = (log_high - log_low) / count
    for i, day in enumerate(days):
        paid = cash.get(day, 0.0) if cash else 0.0
        if paid:
            kept *= max(0.5, 1 - paid / previous)
        previous = math.exp(log_low + (i + 1) * rise + bridge[i]) * factors[i] * kept
        before_dividends.append(previous)

    scale_ticks = series.scale
    low_clamp, high_clamp = (r * scale_ticks for r in _VIX_RANGE)
    low_extreme, high_extreme = (r * scale_ticks for r in _VIX_EXTREMES)
    close_before = series.anchor_close(index)
    gap_share = 0.0 if series.kind == "crypto" else 0.4 if index_kind else 0.3
    result = []
    for i, day in enumerate(days):
        _, _, gap_draw, high_draw, low_draw, volume_draw, trades_draw, vwap_draw = draws[i]
        if i == count - 1:
            close = series.anchor_close(index + 1)
        else:
            price = before_dividends[i] * kept ** (-(i + 1) / count) * scale_ticks
            if index_kind:
                price = min(max(price, low_clamp), high_clamp)
            close = max(1, round(price))
        day_sigma = sigma * scales[i]
        gap = gap_share * day_sigma
        open_ = close_before / ratios[i] * math.exp(gap * gap_draw) if gap else close_before
        if cash:
            open_ -= cash.get(day, 0.0) * scale_ticks
        if index_kind:
            open_ = min(max(open_, low_clamp), high_clamp)
        open_ = max(1, round(open_))

        variance = day_sigma**2 * (1.0 if series.kind == "crypto" else 0.9)
        a, b = math.log(open_), math.log(close)
        reach_up = math.sqrt((a - b) ** 2 - 2 * variance * math.log(1 - high_draw))
        reach_down = math.sqrt((a - b) ** 2 - 2 * variance * math.log(1 - low_draw))
        high = max(math.ceil(math.exp((a + b + reach_up) / 2)), open_, close)
        low = max(1, min(math.floor(math.exp((a + b - reach_down) / 2)), open_, close))
        if index_kind:
            high = max(min(high, math.floor(high_extreme)), open_, close)
            low = min(max(low, math.ceil(low_extreme)), open_, close)

        shape = _day_shape(series, day)
        if series.dollar_volume:
            move = abs(shocks[i]) / day_sigma
            value = series.dollar_volume * math.exp(
                0.22 * min(3.0, max(-3.0, volume_draw)) + 0.25 * (move - 0.8)
            )
            price = (open_ + close) / 2 / scale_ticks
            volume = max(shape.minutes, round(value / price * series.volume_scale))
            trades = round(value / series.trade_value * math.exp(0.1 * trades_draw))
            trades = min(volume, max(shape.minutes, trades))
            typical = open_ + (close - open_) * shape.vwap_time
            typical += vwap_draw * 0.15 * math.sqrt(variance) * (open_ + close) / 2
            typical = min(high, max(low, typical))
            value_ticks = min(volume * high, max(volume * low, round(volume * typical)))
        else:
            volume = value_ticks = trades = 0
        root = (0, shape.minutes, open_, high, low, close, volume, value_ticks, trades)
        result.append(_Day(day, root, variance, shape))
        close_before = close
    return tuple(result)


def _days(series: _Series, first: date, last: date) -> Iterator[_Day]:
    """The trading days from first to last (both included) that have bars."""
    anchor_days = series.anchor_days
    if last <= anchor_days[0] or first > anchor_days[-1]:
        return
    index = max(0, bisect_left(anchor_days, first) - 1)
    while index < len(anchor_days) - 1 and anchor_days[index] < last:
        for day in _segment(series.symbol, series.asset_class, index):
            if first <= day.day <= last:
                yield day
        index += 1


# --- inside a day ---------------------------------------------------------------------------


def _cap(parts: list[int], caps: list[int]) -> list[int]:
    """Move whatever exceeds a part's cap to parts below theirs (the total stays)."""
    excess = sum(max(0, p - c) for p, c in zip(parts, caps, strict=True))
    parts = [min(p, c) for p, c in zip(parts, caps, strict=True)]
    for j, cap in enumerate(caps):
        moved = min(excess, cap - parts[j])
        parts[j] += moved
        excess -= moved
    return parts


def _spread(values: list[int], room: list[int], amount: int, sign: int) -> None:
    """Add sign * amount to values in proportion to each one's room, never beyond it
    (cumulative rounding of amount <= sum(room): each part is at most its room)."""
    running = list(accumulate(room))
    total = running[-1]
    cuts = [amount * r // total for r in running]
    for j, (a, b) in enumerate(zip([0, *cuts], cuts, strict=False)):
        values[j] += sign * (b - a)


def _share_value(
    total: int, volumes: list[int], points: list[int], highs: list[int], lows: list[int],
    high: int, low: int,
) -> list[int]:  # fmt: skip
    """Divide a bar's traded value among its children, each VWAP inside its child's range.

    Starts from each child's mid price; what is left over goes where there is
    room. Should the children's ranges not allow the parent's VWAP, the highs
    (lows) nearest the parent's high (low) stretch towards it - never beyond.
    """
    count = len(volumes)
    values = [v * (a + b) // 2 for v, a, b in zip(volumes, points, points[1:], strict=False)]
    gap = total - sum(values)
    if gap == 0:
        return values
    sign = 1 if gap > 0 else -1
    if sign > 0:
        room = [volumes[j] * highs[j] - values[j] for j in range(count)]
    else:
        room = [values[j] - volumes[j] * lows[j] for j in range(count)]
    spare, need = sum(room), abs(gap)
    if spare < need:
        if sign > 0:  # the children whose prices come nearest the parent's high first
            order = sorted(range(count), key=lambda j: -max(points[j], points[j + 1]))
        else:
            order = sorted(range(count), key=lambda j: min(points[j], points[j + 1]))
        for j in order:
            if spare >= need:
                break
            short = need - spare
            if sign > 0:
                step = min(high - highs[j], -(-short // volumes[j]))
                highs[j] += step
            else:
                step = min(lows[j] - low, -(-short // volumes[j]))
                lows[j] -= step
            room[j] += step * volumes[j]
            spare += step * volumes[j]
    _spread(values, room, need, sign)
    return values


def _children(
    node: Node, step: int, rng: random.Random, shape: _Shape, variance: float, noise: float
) -> list[Node]:
    """The bars of length `step` that aggregate exactly to `node` (the hot loop)."""
    start, end, open_, high, low, close, volume, value, trades = node
    if end - start <= step:
        return [node]
    table, draw = _normal_table(), rng.random
    size = len(table)
    sqrt, log, ceil, floor = math.sqrt, math.log, math.ceil, math.floor
    unit = variance * (open_ + close) * (open_ + close) / 4  # the day's variance in ticks^2

    # Each child's minutes and variance, and a bridge from the parent's open to
    # its close through the children's boundaries.
    bounds = [*range(start, end, step), end]
    minutes = [b - a for a, b in pairwise(bounds)]
    count = len(minutes)
    at = [shape.variance[b] for b in bounds]
    variances = [unit * (b - a) for a, b in pairwise(at)]
    clocks = list(accumulate(variances))
    walks = list(accumulate([sqrt(v) * table[int(draw() * size)] for v in variances]))
    clock, walk = clocks[-1], walks[-1]
    rise = (close - open_ - walk) / clock
    inner = [open_ + rise * t + w for t, w in zip(clocks, walks[:-1], strict=False)]

    if volume:
        # Volume and trades in whole parts, at least one a minute, shared by the
        # shape of the day with noise (cumulative rounding keeps the sums exact).
        at = [shape.volume[b] for b in bounds]
        lognormal = _lognormal_table(noise)
        weights = list(
            accumulate([(b - a) * lognormal[int(draw() * size)] for a, b in pairwise(at)])
        )
        scale = 1 / weights[-1]
        volumes = _parts(volume - (end - start), weights, scale, minutes)
        counts = _parts(trades - (end - start), weights, scale, minutes)
        if count > 1:
            # The bridge drawn given the parent's VWAP: the children's mid prices,
            # weighted by their volume, average to it (Gaussian conditioning on one
            # linear constraint). Inner point j weighs (v_j + v_j+1) / 2; its
            # covariance with point i <= j is t_i (T - t_j) / T, so the pull on
            # every point takes two running sums.
            pull = [(a + b) / 2 for a, b in pairwise(volumes)]
            mean = (open_ * volumes[0] + close * volumes[-1]) / 2 + sum(map(mul, pull, inner))
            below = list(accumulate(map(mul, clocks, pull)))
            above = list(
                accumulate([(clock - t) * w for t, w in zip(clocks, pull, strict=False)][::-1])
            )
            above = [*above[-2::-1], 0.0]
            spread = [
                ((clock - t) * b + t * a) / clock
                for t, b, a in zip(clocks, below, above, strict=False)
            ]
            denominator = sum(map(mul, pull, spread))
            if denominator > 0:
                shift = (value - mean) / denominator
                inner = [p + s * shift for p, s in zip(inner, spread, strict=True)]
    points = [open_, *[high if p > high else low if p < low else p for p in map(round, inner)]]
    points.append(close)

    # Highs and lows: each child's excursion beyond its open and close, the way a
    # bridge's maximum is distributed; the highest reaches the parent's high.
    ups = [
        ceil((o + c + sqrt((c - o) * (c - o) - 2 * v * log(1 - draw()))) / 2)
        for o, c, v in zip(points, points[1:], variances, strict=False)
    ]
    downs = [
        floor((o + c - sqrt((c - o) * (c - o) - 2 * v * log(1 - draw()))) / 2)
        for o, c, v in zip(points, points[1:], variances, strict=False)
    ]
    highs = [
        high if u > high else (o if o > c else c) if u < o or u < c else u
        for u, o, c in zip(ups, points, points[1:], strict=False)
    ]
    lows = [
        low if d < low else (o if o < c else c) if d > o or d > c else d
        for d, o, c in zip(downs, points, points[1:], strict=False)
    ]
    highs[highs.index(max(highs))] = high
    lows[lows.index(min(lows))] = low

    if not volume:
        return [
            (a, b, o, h, lo, c, 0, 0, 0)
            for a, b, o, h, lo, c in zip(
                bounds, bounds[1:], points, highs, lows, points[1:], strict=False
            )
        ]
    if any(map(gt, counts, volumes)):
        counts = _cap(counts, volumes)
    values = _share_value(value, volumes, points, highs, lows, high, low)
    return list(
        zip(
            bounds,
            bounds[1:],
            points,
            highs,
            lows,
            points[1:],
            volumes,
            values,
            counts,
            strict=False,
        )
    )


def _parts(spare: int, running: list[float], scale: float, floors: list[int]) -> list[int]:
    """`spare` shared by cumulative weights (`running`; times `scale`, the last is 1), on top
    of the floors: cumulative rounding, so the parts add up exactly."""
    share = scale * spare
    cuts = [c if (c := int(w * share)) < spare else spare for w in running]
    cuts[-1] = spare
    return [f + b - a for f, a, b in zip(floors, [0, *cuts], cuts, strict=False)]


_DayKey = tuple[str, AssetClass, date]


class _Trees:
    """The intraday levels of recently expanded days, shared by the timeframes that follow.

    A backfill asks for 5m, then 15m, 30m, 1h and 4h of the same symbol (often
    two of them at once, on two worker threads): the coarser levels were built
    on the way to 5m. Each entry keeps the levels built so far and the random
    state after them, so a deeper request goes on from there exactly as a fresh
    expansion would. A day is built by one thread at a time; another asking for
    it waits and takes the result. One-minute bars are not kept.
    """

    def __init__(self, size: int = 256) -> None:
        self._entries: OrderedDict[_DayKey, _Tree] = OrderedDict()
        self._gates: dict[_DayKey, threading.Lock] = {}
        self._size = size
        self._lock = threading.Lock()

    def levels(self, series: _Series, day: _Day, depth: int) -> list[Node]:
        key = (series.symbol, series.asset_class, day.day)
        with self._lock:
            gate = self._gates.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                tree = self._entries.get(key)
                if tree is not None:
                    self._entries.move_to_end(key)
            if tree is None:
                rng = random.Random(_seed(series.symbol, "intraday", day.day.isoformat()))
                tree = _Tree([[day.root]], rng)
            if depth < len(tree.levels):
                return tree.levels[depth]
            nodes, grown = self._grow(tree, day, depth)
            with self._lock:
                if grown is not None:
                    self._entries[key] = grown
                    self._entries.move_to_end(key)
                while len(self._entries) > self._size:
                    old, _ = self._entries.popitem(last=False)
                    self._gates.pop(old, None)
                if key not in self._entries:
                    self._gates.pop(key, None)
            return nodes

    @staticmethod
    def _grow(tree: _Tree, day: _Day, depth: int) -> tuple[list[Node], _Tree | None]:
        """The bars `depth` levels down, and the tree with the levels added on the way.

        A copy of the tree's generator goes on from its deepest level (the tree
        itself is left as it was); the finest level, which is not kept, draws from
        a copy of its own, so the generator kept is the one just before it.
        """
        rng = kept = copy.copy(tree.rng)
        levels = list(tree.levels)
        nodes = levels[-1]
        for level in range(len(levels) - 1, depth):
            if level + 1 == len(_STEPS):
                rng = copy.copy(rng)
            step, noise = _STEPS[level], _VOLUME_NOISE[level]
            nodes = [
                child
                for node in nodes
                for child in _children(node, step, rng, day.shape, day.variance, noise)
            ]
            if level + 1 < len(_STEPS):
                levels.append(nodes)
        grown = _Tree(levels, kept) if len(levels) > len(tree.levels) else None
        return nodes, grown


@dataclass(frozen=True, slots=True)
class _Tree:
    levels: list[list[Node]]  # levels[0] is [the day's bar], levels[d] the bars d levels down
    rng: random.Random  # the day's generator, just after the deepest level


_TREES = _Trees()


def _intraday(series: _Series, day: _Day, depth: int) -> list[Node]:
    """The day's bars `depth` levels below the day (1: 4 hours, 2: hours, 3: 5 min, 4: 1 min)."""
    return _TREES.levels(series, day, depth)


@cache
def _window_start(kind: str, day: date) -> datetime:
    if kind == "crypto":
        return datetime.combine(day, time(0), UTC)
    opens = PRE_MARKET_OPEN if kind == "equity" else REGULAR_OPEN
    return datetime.combine(day, opens, NEW_YORK).astimezone(UTC)


@cache
def _midnight(kind: str, day: date) -> datetime:
    # Polygon stamps daily stock bars at New York midnight and crypto at UTC midnight.
    zone = UTC if kind == "crypto" else NEW_YORK
    return datetime.combine(day, time(0), zone).astimezone(UTC)


_MINUTES = tuple(timedelta(minutes=m) for m in range(24 * 60 + 1))


def _bar(series: _Series, at: datetime, node: Node) -> RawBar:
    """A day's or week's bar, stamped `at`."""
    _, _, open_, high, low, close, volume, value, trades = node
    scale = series.scale
    if not volume:  # index aggregates carry no volume, VWAP or trade count
        return RawBar(at, open_ / scale, high / scale, low / scale, close / scale, 0.0)
    return RawBar(
        at, open_ / scale, high / scale, low / scale, close / scale,
        volume / series.volume_scale, round(value / volume / scale, series.decimals + 2), trades,
    )  # fmt: skip


def _bars(series: _Series, opens: datetime, nodes: list[Node]) -> list[RawBar]:
    """Intraday nodes as bars, each starting `opens` + its start minute."""
    scale, volume_scale, places = series.scale, series.volume_scale, series.decimals + 2
    minute = _MINUTES
    if series.kind == "index":
        return [
            RawBar(opens + minute[s], o / scale, h / scale, lo / scale, c / scale, 0.0)
            for s, _, o, h, lo, c, _, _, _ in nodes
        ]
    return [
        RawBar(
            opens + minute[s], o / scale, h / scale, lo / scale, c / scale, v / volume_scale,
            round(d / v / scale, places), n,
        )
        for s, _, o, h, lo, c, v, d, n in nodes
    ]  # fmt: skip


def _buckets(nodes: list[Node], minutes: int) -> list[Node]:
    """Bars aggregated into buckets of `minutes` from the start of the day's window."""
    out: list[Node] = []
    start, end, open_, high, low, close, volume, value, trades = nodes[0]
    key = start // minutes
    for node in nodes[1:]:
        if node[0] // minutes != key:
            out.append((start, end, open_, high, low, close, volume, value, trades))
            start, end, open_, high, low, close, volume, value, trades = node
            key = start // minutes
            continue
        end, close = node[1], node[5]
        if node[3] > high:
            high = node[3]
        if node[4] < low:
            low = node[4]
        volume += node[6]
        value += node[7]
        trades += node[8]
    out.append((start, end, open_, high, low, close, volume, value, trades))
    return out


def _aggregate(nodes: list[Node]) -> Node:
    return _buckets(nodes, 1 << 30)[0]


class SyntheticProvider:
    source = "synthetic"

    def fetch_bars(
        self,
        symbol: str,
        asset_class: AssetClass,
        timeframe: Timeframe,
        start: datetime,
        end: datetime,
    ) -> FetchResult:
        """Bars whose window starts in [start, end), oldest first."""
        if end <= start:
            return FetchResult([])
        series = _series(symbol, asset_class)
        first, last = start.astimezone(UTC).date(), end.astimezone(UTC).date()
        if timeframe is Timeframe.W1:
            bars = self._weekly(series, first, last)
        elif timeframe is Timeframe.D1:
            bars = (
                _bar(series, _midnight(series.kind, d.day), d.root)
                for d in _days(series, first - timedelta(days=1), last)
            )
        else:
            bars = self._intraday(series, timeframe, first, last, start, end)
        return FetchResult([bar for bar in bars if start <= bar.time < end])

    def fetch_actions(
        self, symbol: str, asset_class: AssetClass, *, as_of: date | None = None
    ) -> ActionsResult:
        """The splits and cash dividends a vendor would report on `as_of` (default: today).

        Splits executed by then, and dividends declared by then (ex-dates may
        still lie ahead). The generated prices carry all of them. Crypto and
        indices have none.
        """
        if asset_class not in (AssetClass.STOCK, AssetClass.ETF):
            return ActionsResult(CorporateActions())
        as_of = as_of or datetime.now(UTC).date()
        series = _series(symbol, asset_class)
        return ActionsResult(
            CorporateActions(
                splits=tuple(s for s in series.splits if s.execution_date <= as_of),
                dividends=tuple(
                    d
                    for d in series.dividends
                    if (d.declaration_date or d.ex_dividend_date) <= as_of
                ),
            )
        )

    def _intraday(
        self, series: _Series, timeframe: Timeframe, first: date, last: date,
        start: datetime, end: datetime,
    ) -> Iterator[RawBar]:  # fmt: skip
        depth, minutes = _LEVEL[timeframe]
        for day in _days(series, first - timedelta(days=1), last):
            opens = _window_start(series.kind, day.day)
            if opens >= end or opens + _MINUTES[day.shape.minutes] <= start:
                continue
            nodes = _intraday(series, day, depth)
            yield from _bars(series, opens, _buckets(nodes, minutes) if minutes else nodes)

    def _weekly(self, series: _Series, first: date, last: date) -> Iterator[RawBar]:
        monday = first - timedelta(days=first.weekday() + 7)
        days = list(_days(series, monday, last + timedelta(days=7)))
        week: list[Node] = []
        current: date | None = None
        for day in days:
            week_of = day.day - timedelta(days=day.day.weekday())
            if week_of != current and week:
                assert current is not None
                yield _bar(series, _midnight(series.kind, current), _aggregate(week))
                week = []
            current = week_of
            week.append(day.root)
        if week and current is not None:
            yield _bar(series, _midnight(series.kind, current), _aggregate(week))

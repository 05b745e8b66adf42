"""Deterministic synthetic OHLCV: the product runs and demos with no vendor key.

Every number is a pure function of (symbol, timeframe, day), so any range can
be fetched in any order, again and again, and gives the same bars - which is
what makes re-runs testable. Prices follow a seeded random walk of daily
closes; intraday bars are a Brownian bridge from the day's open to its close.
Stocks, ETFs and indices trade NYSE sessions; crypto trades around the clock.
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import cache

from market_data.calendar import NEW_YORK, nyse
from market_data.corporate_actions import CorporateActions
from market_data.models import RawBar
from market_data.providers import ActionsResult, FetchResult
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe

EPOCH = date(2015, 1, 1)
_DAILY_VOLATILITY = {AssetClass.CRYPTO: 0.035, AssetClass.INDEX: 0.04}
_DEFAULT_DAILY_VOLATILITY = 0.015


def _seed(*parts: object) -> int:
    return zlib.crc32("|".join(map(str, parts)).encode())


@cache
def _start_price(symbol: str) -> float:
    # Log-uniform between $2 and $2,000 (crypto down to fractions of a cent).
    rng = random.Random(_seed(symbol, "price"))
    low = -5.0 if symbol.endswith("-USD") else math.log(2)
    return math.exp(rng.uniform(low, math.log(2000)))


@cache
def _decimals(symbol: str) -> int:
    return max(2, 4 - math.floor(math.log10(_start_price(symbol))))


@cache
def _daily_closes(symbol: str, volatility: float, last_day: date) -> tuple[float, ...]:
    """Close of every calendar day from EPOCH to last_day (cached per process)."""
    rng = random.Random(_seed(symbol, "walk"))
    price, closes = _start_price(symbol), []
    for _ in range((last_day - EPOCH).days + 1):
        price *= math.exp(rng.gauss(0.0002, volatility))
        closes.append(price)
    return tuple(closes)


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
        if end <= start:
            return FetchResult([])
        bars = (
            self._weekly(symbol, asset_class, start, end)
            if timeframe is Timeframe.W1
            else (
                bar
                for day in _days(start - timedelta(days=1), end)
                for bar in self._day_bars(symbol, asset_class, timeframe, day)
            )
        )
        return FetchResult([bar for bar in bars if start <= bar.time < end])

    def fetch_actions(self, symbol: str, asset_class: AssetClass) -> ActionsResult:
        """No corporate actions yet: synthetic prices have no splits or dividends."""
        return ActionsResult(CorporateActions())

    def _day_bars(
        self, symbol: str, asset_class: AssetClass, timeframe: Timeframe, day: date
    ) -> list[RawBar]:
        window = _trading_window(asset_class, day)
        if window is None or day < EPOCH + timedelta(days=1):
            return []
        opens_at, closes_at = window
        volatility = _DAILY_VOLATILITY.get(asset_class, _DEFAULT_DAILY_VOLATILITY)
        closes = _daily_closes(symbol, volatility, _last_day(day))
        index = (day - EPOCH).days
        day_open, day_close = closes[index - 1], closes[index]
        rng = random.Random(_seed(symbol, timeframe.value, day.isoformat()))
        base_volume = 1e7 / math.sqrt(_start_price(symbol)) * rng.uniform(0.6, 1.6)
        places = _decimals(symbol)
        if not timeframe.is_intraday:
            bar_time = _midnight(asset_class, day)
            return [_bar(rng, bar_time, day_open, day_close, volatility, base_volume, places)]

        step = timeframe.duration
        count = math.ceil((closes_at - opens_at) / step)
        path = _bridge(rng, day_open, day_close, count, volatility)
        return [
            _bar(
                rng,
                opens_at + i * step,
                path[i],
                path[i + 1],
                volatility / math.sqrt(count),
                base_volume / count * (1.6 - math.sin(math.pi * (i + 0.5) / count)),
                places,
            )
            for i in range(count)
        ]

    def _weekly(
        self, symbol: str, asset_class: AssetClass, start: datetime, end: datetime
    ) -> Iterator[RawBar]:
        first = start.date() - timedelta(days=start.weekday() + 7)
        week = first - timedelta(days=first.weekday())
        while _midnight(asset_class, week) < end:
            days = [
                bar
                for d in range(7)
                for bar in self._day_bars(symbol, asset_class, Timeframe.D1, week + timedelta(d))
            ]
            if days:
                yield RawBar(
                    time=_midnight(asset_class, week),
                    open=days[0].open,
                    high=max(b.high for b in days),
                    low=min(b.low for b in days),
                    close=days[-1].close,
                    volume=round(sum(b.volume for b in days), 2),
                    vwap=round(sum(b.vwap or 0 for b in days) / len(days), _decimals(symbol)),
                    trades=sum(b.trades or 0 for b in days),
                )
            week += timedelta(days=7)


def _bar(
    rng: random.Random,
    at: datetime,
    open_: float,
    close: float,
    volatility: float,
    volume: float,
    places: int,
) -> RawBar:
    wiggle = abs(rng.gauss(0, volatility / 2))
    high = max(open_, close) * (1 + wiggle)
    low = min(open_, close) * (1 - min(abs(rng.gauss(0, volatility / 2)), 0.5))
    vol = round(volume * rng.uniform(0.7, 1.3), 2)
    return RawBar(
        time=at,
        open=round(open_, places),
        high=round(high, places),
        low=round(low, places),
        close=round(close, places),
        volume=vol,
        vwap=round((high + low + close) / 3, places),
        trades=max(1, int(vol / 100)),
    )


def _bridge(rng: random.Random, start: float, end: float, steps: int, vol: float) -> list[float]:
    """Prices at steps + 1 points going from start to end (a Brownian bridge in log space)."""
    walk = [0.0]
    for _ in range(steps):
        walk.append(walk[-1] + rng.gauss(0, vol / math.sqrt(steps)))
    drift = math.log(end / start)
    return [
        start * math.exp(w - walk[-1] * i / steps + drift * i / steps) for i, w in enumerate(walk)
    ]


def _days(start: datetime, end: datetime) -> Iterator[date]:
    day = start.astimezone(NEW_YORK).date()
    while day <= end.date():
        yield day
        day += timedelta(days=1)


def _last_day(day: date) -> date:
    # Cache the walk in whole years so one cached tuple serves many requests.
    return date(day.year, 12, 31)


def _midnight(asset_class: AssetClass, day: date) -> datetime:
    # Polygon stamps daily stock bars at New York midnight and crypto at UTC midnight.
    zone = UTC if asset_class.trades_around_the_clock else NEW_YORK
    return datetime.combine(day, time(0), zone).astimezone(UTC)


def _trading_window(asset_class: AssetClass, day: date) -> tuple[datetime, datetime] | None:
    if asset_class.trades_around_the_clock:
        opens = datetime.combine(day, time(0), UTC)
        return opens, opens + timedelta(days=1)
    calendar = nyse()
    return calendar.session_bounds(day) if calendar.is_session(day) else None

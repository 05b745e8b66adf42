"""Corporate actions: splits and cash dividends, as the vendor reports them.

Bars are stored as they traded (raw); these records are what turns raw prices
into the split- and dividend-adjusted views on read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum


class Adjustment(StrEnum):
    """Which view of the raw bars a reader gets.

    - raw: what traded.
    - split (the default, Polygon's adjusted=true): prices (OHLC, vwap) of bars
      before a split's execution date divided by the cumulative ratio
      split_to / split_from of the splits after them, volume multiplied by it.
    - dividend: prices of bars before an ex-dividend date multiplied by
      1 - cash / close, close being the raw close of the last session before the
      ex-date (the CRSP method), cumulatively; volume unchanged.
    - all: both.
    Trade counts never change. A bar belongs to the session (New York date) it
    falls in, so intraday bars follow the same rule as daily ones.
    """

    RAW = "raw"
    SPLIT = "split"
    DIVIDEND = "dividend"
    ALL = "all"

    @property
    def splits(self) -> bool:
        return self in (Adjustment.SPLIT, Adjustment.ALL)

    @property
    def dividends(self) -> bool:
        return self in (Adjustment.DIVIDEND, Adjustment.ALL)


@dataclass(frozen=True, slots=True)
class Split:
    """`split_from` old shares became `split_to` new ones, effective on `execution_date`
    (a 4-for-1 split is split_from=1, split_to=4)."""

    execution_date: date
    split_from: float
    split_to: float

    @property
    def ratio(self) -> float:
        """How many new shares one old share became (prices before it divide by this)."""
        return self.split_to / self.split_from


@dataclass(frozen=True, slots=True)
class Dividend:
    """A cash distribution; buying on or after `ex_dividend_date` no longer earns it."""

    ex_dividend_date: date
    cash_amount: float
    currency: str = "USD"
    declaration_date: date | None = None
    record_date: date | None = None
    pay_date: date | None = None
    dividend_type: str = "CD"  # Polygon: CD regular cash, SC special cash, LT/ST capital gains
    frequency: int | None = None  # payments a year (4 = quarterly, 0 = one-off)


@dataclass(frozen=True, slots=True)
class CorporateActions:
    """Everything known about one symbol's actions, oldest first."""

    splits: tuple[Split, ...] = field(default_factory=tuple)
    dividends: tuple[Dividend, ...] = field(default_factory=tuple)

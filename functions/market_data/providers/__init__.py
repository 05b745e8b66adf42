"""Where bars and corporate actions come from: Polygon.io in production, a
deterministic generator offline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from market_data.corporate_actions import CorporateActions
from market_data.models import RawBar
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one fetch produced and what it cost (the worker records both on the job)."""

    bars: list[RawBar]
    vendor_requests: int = 0
    # Vendor records that could not be read as a bar (a missing or non-numeric field).
    rejected: int = 0


@dataclass(frozen=True, slots=True)
class ActionsResult:
    """One symbol's corporate actions, what fetching them cost and what was refused."""

    actions: CorporateActions
    vendor_requests: int = 0
    # Vendor records that were not usable actions, with a short reason for each
    # (such as "split 2020-08-31: split_from must be > 0"); rejected == len(rejections).
    rejected: int = 0
    rejections: tuple[str, ...] = ()


class BarProvider(Protocol):
    """A source of bars. Failures raise the vendor errors of market_data.errors."""

    source: str

    def fetch_bars(
        self,
        symbol: str,
        asset_class: AssetClass,
        timeframe: Timeframe,
        start: datetime,
        end: datetime,
    ) -> FetchResult:
        """Bars whose window starts in [start, end), in the provider's order
        (market_data.validation sorts and de-duplicates them)."""
        ...

    def fetch_actions(self, symbol: str, asset_class: AssetClass) -> ActionsResult:
        """Every split and cash dividend the provider knows for the symbol, oldest
        first: one split per execution date, one dividend per ex-date and type.
        Crypto and indices have none (an empty result, at no cost). Records that
        cannot be actions are skipped and counted in `rejected` with a reason;
        failures to fetch raise the vendor errors, as fetch_bars does."""
        ...

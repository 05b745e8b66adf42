"""Domain records shared by the API, the backfill and the repositories.

Bars are slotted dataclasses, not pydantic models: a nightly run moves millions
of them and validation happens once, in market_data.validation, not per field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from market_data.corporate_actions import Adjustment
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe


@dataclass(frozen=True, slots=True)
class RawBar:
    """One OHLCV bar as a provider returns it; time is the window start in UTC."""

    time: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float
    vwap: float | None = None
    trades: int | None = None


@dataclass(frozen=True, slots=True)
class Assessment:
    """What validation concluded about one bar."""

    validated: bool = True
    quality_score: float = 1.0
    notes: tuple[str, ...] = ()
    gap_detected: bool = False
    volume_anomaly: bool = False


@dataclass(frozen=True, slots=True)
class StoredBar:
    """A bar as the warehouse keeps it: the vendor's numbers plus our verdict."""

    bar: RawBar
    source: str
    assessment: Assessment
    fetched_at: datetime


@dataclass(frozen=True, slots=True)
class TrackedSymbol:
    symbol: str
    asset_class: AssetClass
    name: str | None
    active: bool
    timeframes: tuple[Timeframe, ...]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SeriesStats:
    symbol: str
    timeframe: Timeframe
    records: int
    validated_records: int
    gap_records: int
    first_time: datetime | None
    last_time: datetime | None
    # Bars in [vendor_adjusted_from, vendor_adjusted_until) were stored vendor-adjusted,
    # before raw storage; a raw re-fetch is planned until the range is gone.
    vendor_adjusted_from: datetime | None = None
    vendor_adjusted_until: datetime | None = None
    # The provider the series' bars came from ("polygon", "synthetic"; "mixed" for a
    # series that held two side by side before one source per series was the rule).
    source: str | None = None

    @property
    def vendor_adjusted(self) -> tuple[datetime, datetime] | None:
        if self.vendor_adjusted_from is None or self.vendor_adjusted_until is None:
            return None
        return self.vendor_adjusted_from, self.vendor_adjusted_until


@dataclass(frozen=True, slots=True)
class SymbolOverview:
    """A tracked symbol with the totals of all its series."""

    tracked: TrackedSymbol
    series: tuple[SeriesStats, ...] = field(default_factory=tuple)

    @property
    def records(self) -> int:
        return sum(s.records for s in self.series)

    @property
    def validated_records(self) -> int:
        return sum(s.validated_records for s in self.series)

    @property
    def latest_data(self) -> datetime | None:
        return max((s.last_time for s in self.series if s.last_time), default=None)


# The public column order: API JSON keys, CSV header and the SELECT list.
BAR_COLUMNS: tuple[str, ...] = (
    "time", "open", "high", "low", "close", "volume", "vwap", "trades", "source",
    "validated", "quality_score", "validation_notes", "gap_detected", "volume_anomaly",
    "fetched_at",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class BarPageQuery:
    symbol: str
    timeframe: Timeframe
    start: datetime  # inclusive
    end: datetime  # exclusive
    validated_only: bool
    min_quality: float
    limit: int
    descending: bool = False
    after: datetime | None = None  # keyset position: the last bar time already returned
    adjustment: Adjustment = Adjustment.RAW

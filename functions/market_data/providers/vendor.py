"""What a vendor-backed provider adds to BarProvider: request counts and failure classes.

The worker decides a job's fate from the error's class alone: a permanent error
fails the job for good (retrying cannot change the vendor's answer), a
transient one sends the message back to the queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from market_data.models import RawBar
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe


class VendorError(Exception):
    """A fetch failed; `vendor_requests` is how many HTTP requests it cost."""

    def __init__(self, message: str, *, vendor_requests: int = 0) -> None:
        super().__init__(message)
        self.vendor_requests = vendor_requests


class PermanentVendorError(VendorError):
    """The vendor refused this request (bad ticker, plan limits, bad key): do not retry."""


class TransientVendorError(VendorError):
    """The vendor kept failing (5xx, 429, timeouts) after our retries: try later."""


class CircuitOpenError(TransientVendorError):
    """Recent jobs kept failing on the vendor, so this one did not call it at all."""


@dataclass(frozen=True, slots=True)
class FetchResult:
    bars: list[RawBar]
    vendor_requests: int = 0
    # Vendor records that could not be read as a bar (a missing or non-numeric field).
    rejected: int = 0


@runtime_checkable
class CountingBarProvider(Protocol):
    """A provider that reports what a fetch cost (the worker records it on the job)."""

    source: str

    def fetch_counted(
        self,
        symbol: str,
        asset_class: AssetClass,
        timeframe: Timeframe,
        start: datetime,
        end: datetime,
    ) -> FetchResult: ...

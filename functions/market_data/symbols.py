"""Canonical symbols, asset classes and the vendor's spelling of them.

Canonical forms (what the API accepts, stores and returns):
- stocks and ETFs: Polygon's own ticker, e.g. ``AAPL``, ``BRK.B``;
- crypto: ``BASE-USD``, e.g. ``BTC-USD``. ``BTCUSD``, ``X:BTCUSD`` and any case
  are accepted as input and normalised; a bare ``BTC`` is not (it could be a stock);
- indices: the bare name, e.g. ``VIX`` (Polygon ``I:VIX``).
"""

from __future__ import annotations

import re
from enum import StrEnum

from market_data.errors import InvalidSymbolError


class AssetClass(StrEnum):
    STOCK = "stock"
    ETF = "etf"
    CRYPTO = "crypto"
    INDEX = "index"

    @property
    def trades_around_the_clock(self) -> bool:
        return self is AssetClass.CRYPTO


MAX_SYMBOL_LENGTH = 20
_EQUITY = re.compile(r"^[A-Z][A-Z0-9]{0,9}(?:\.[A-Z]{1,3})?$")
_CRYPTO = re.compile(r"^([A-Z0-9]{2,10})-USD$")
_CRYPTO_COMPACT = re.compile(r"^(?:X:)?([A-Z0-9]{2,10})USD$")


def canonical_symbol(raw: str) -> str:
    """Normalise user input to the canonical symbol, or raise InvalidSymbolError."""
    text = raw.strip().upper()
    if not text or len(text) > MAX_SYMBOL_LENGTH:
        raise InvalidSymbolError(f"symbol must be 1-{MAX_SYMBOL_LENGTH} characters")
    if text.startswith("I:"):
        text = text[2:]
    if _CRYPTO.match(text):
        return text
    compact = _CRYPTO_COMPACT.match(text)
    # Equity tickers are at most five letters, so six or more ending in USD is a pair.
    if compact and (text.startswith("X:") or len(text) >= 6):
        return f"{compact.group(1)}-USD"
    if _EQUITY.match(text):
        return text
    raise InvalidSymbolError(
        "symbol may contain letters, digits, one '.' class suffix (BRK.B) "
        "or be a crypto pair like BTC-USD"
    )


def is_crypto_symbol(symbol: str) -> bool:
    return bool(_CRYPTO.match(symbol))


# Index names as Polygon lists them (without its I: prefix), for guessing an asset class.
KNOWN_INDICES = frozenset(
    {"VIX", "VIX9D", "VIX3M", "VVIX", "VXN", "SPX", "NDX", "DJI", "RUT", "OEX", "SOX"}
)


def infer_asset_class(raw: str) -> AssetClass:
    """The asset class of a symbol given without one, as the replaced API guessed it and
    better: a crypto pair is crypto; Polygon's I: prefix or a known index name is an index;
    a symbol of the default universe has its class there (SPY is an ETF); else a stock."""
    symbol = canonical_symbol(raw)
    if is_crypto_symbol(symbol):
        return AssetClass.CRYPTO
    if raw.strip().upper().startswith("I:") or symbol in KNOWN_INDICES:
        return AssetClass.INDEX
    return next((a for a, names in DEFAULT_UNIVERSE.items() if symbol in names), AssetClass.STOCK)


def polygon_ticker(symbol: str, asset_class: AssetClass) -> str:
    """The ticker Polygon's aggregates endpoint expects for a canonical symbol."""
    if asset_class is AssetClass.CRYPTO:
        return "X:" + symbol.replace("-", "")
    if asset_class is AssetClass.INDEX:
        return "I:" + symbol
    return symbol


DEFAULT_UNIVERSE: dict[AssetClass, tuple[str, ...]] = {
    AssetClass.STOCK: (
        "AAPL", "MSFT", "GOOGL", "AMZN", "META", "NVDA", "TSLA", "AMD", "NFLX", "BRK.B",
        "JPM", "V", "XOM", "PG", "KO", "PEP", "COST", "INTC", "BA", "DIS",
    ),
    AssetClass.CRYPTO: (
        "BTC-USD", "ETH-USD", "BNB-USD", "SOL-USD", "XRP-USD", "ADA-USD", "AVAX-USD",
        "DOT-USD", "MATIC-USD", "ATOM-USD", "DOGE-USD", "SHIB-USD", "LINK-USD", "AAVE-USD",
        "UNI-USD", "OP-USD", "ARB-USD", "INJ-USD", "LTC-USD", "NEAR-USD",
    ),
    AssetClass.ETF: (
        "SPY", "QQQ", "DIA", "IWM", "TLT", "XLK", "XLF", "EEM", "ARKK", "GLD", "SLV",
        "XLE", "XLV", "XLI", "XLP", "XLY", "XLRE", "XLU", "SCHB",
    ),
    AssetClass.INDEX: ("VIX",),
}  # fmt: skip

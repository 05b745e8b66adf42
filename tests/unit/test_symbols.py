import pytest

from market_data.symbols import (
    DEFAULT_UNIVERSE,
    AssetClass,
    InvalidSymbolError,
    canonical_symbol,
    polygon_ticker,
)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("aapl", "AAPL"),
        ("BRK.B", "BRK.B"),
        ("BTC-USD", "BTC-USD"),
        ("btcusd", "BTC-USD"),
        ("X:BTCUSD", "BTC-USD"),
        ("I:VIX", "VIX"),
        (" spy ", "SPY"),
        ("MATICUSD", "MATIC-USD"),
    ],
)
def test_canonical_symbol_accepts_the_documented_spellings(raw: str, canonical: str) -> None:
    assert canonical_symbol(raw) == canonical


@pytest.mark.parametrize(
    "raw", ["", "AAPL; DROP TABLE bars", "../etc/passwd", "A" * 21, "BTC/USD", "é", "1ABC", "A'B"]
)
def test_canonical_symbol_rejects_anything_that_is_not_a_symbol(raw: str) -> None:
    with pytest.raises(InvalidSymbolError):
        canonical_symbol(raw)


def test_vendor_tickers_follow_polygon_spelling() -> None:
    assert polygon_ticker("BTC-USD", AssetClass.CRYPTO) == "X:BTCUSD"
    assert polygon_ticker("VIX", AssetClass.INDEX) == "I:VIX"
    assert polygon_ticker("BRK.B", AssetClass.STOCK) == "BRK.B"


def test_default_universe_has_sixty_canonical_symbols() -> None:
    symbols = [s for group in DEFAULT_UNIVERSE.values() for s in group]
    assert len(symbols) == len(set(symbols)) == 60
    assert all(canonical_symbol(s) == s for s in symbols)
    assert DEFAULT_UNIVERSE[AssetClass.INDEX] == ("VIX",)

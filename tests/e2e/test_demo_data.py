"""The dashboard on make dev's synthetic data: believable charts, said to be demo data.

Screenshots of AAPL, BTC-USD, SPY and VIX go to test-artifacts/demo-*.png.
(The generator's own guarantees, every timeframe an aggregate of the finest
bars and plausible levels per asset kind, are tests/unit/test_synthetic_market.py.)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture fails every test with the install command
    expect = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from playwright.sync_api import Page

from market_data.calendar import NEW_YORK, nyse
from tests.e2e.conftest import ARTIFACTS, LiveApi, PageErrors
from tests.e2e.test_dashboard import all_bars, chart_range, open_dashboard, wait_for_chart

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

# Where each kind of asset traded in late 2026, roughly (the generator's levels).
PLAUSIBLE_CLOSE = {
    "AAPL": (200.0, 400.0),
    "BTC-USD": (55_000.0, 160_000.0),
    "SPY": (450.0, 800.0),
    "VIX": (9.0, 85.0),
}


def show(page: Page, live_api: LiveApi, symbol: str, timeframe: str, days: int) -> None:
    open_dashboard(page, f"{live_api.url}/dashboard/?symbol={symbol}&timeframe={timeframe}")
    wait_for_chart(page, symbol, timeframe)
    if page.locator("#chart-range").input_value() != str(days):
        before = chart_range(page)["start"]
        page.locator("#chart-range").select_option(str(days))
        expect(page.locator("#chart-figure")).not_to_have_attribute("data-start", before)
        wait_for_chart(page, symbol, timeframe)


@pytest.mark.parametrize("symbol", list(PLAUSIBLE_CLOSE))
def test_a_year_of_daily_bars_looks_like_the_market(
    page: Page, live_api: LiveApi, demo_warehouse: datetime, page_errors: PageErrors, symbol: str
) -> None:
    show(page, live_api, symbol, "1d", 365)
    bars = all_bars(live_api, symbol, timeframe="1d", **chart_range(page))
    low, high = PLAUSIBLE_CLOSE[symbol]
    assert all(low < b["close"] < high for b in bars), symbol
    expect(page.locator("#chart")).to_have_attribute("data-bar-count", str(len(bars)))
    expect(page.locator("#demo-badge")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"demo-{symbol}-1d.png"), full_page=False)
    page.locator("#chart-figure").screenshot(path=str(ARTIFACTS / f"demo-{symbol}-1d-chart.png"))
    assert page_errors == []


@pytest.mark.parametrize("symbol", ["AAPL", "SPY"])
def test_daily_sessions_sit_side_by_side_one_bar_per_session(
    page: Page, live_api: LiveApi, demo_warehouse: datetime, symbol: str
) -> None:
    show(page, live_api, symbol, "1d", 365)
    bars = all_bars(live_api, symbol, timeframe="1d", **chart_range(page))
    first, last = (
        datetime.fromisoformat(b["time"]).astimezone(NEW_YORK).date() for b in (bars[0], bars[-1])
    )
    sessions = list(nyse().sessions(first, last))
    drawn = [datetime.fromisoformat(b["time"]).astimezone(NEW_YORK).date() for b in bars]
    assert drawn == sessions  # no bar, hence no slot, on a holiday or a weekend
    expect(page.locator("#chart")).to_have_attribute("data-bar-count", str(len(sessions)))
    expect(page.locator("#chart-summary")).to_contain_text("0 gaps")


@pytest.mark.parametrize(("symbol", "expected"), [("BTC-USD", 288), ("AAPL", None)])
def test_one_day_of_five_minute_bars_is_24_hours_ending_with_the_newest(
    page: Page, live_api: LiveApi, demo_warehouse: datetime, symbol: str, expected: int | None
) -> None:
    show(page, live_api, symbol, "5m", 1)
    bars = all_bars(live_api, symbol, timeframe="5m", **chart_range(page))
    first, last = (datetime.fromisoformat(b["time"]) for b in (bars[0], bars[-1]))
    newest = live_api.get(f"/api/v1/historical/{symbol}", timeframe="5m", sort="desc", limit=1)
    assert bars[-1]["time"] == newest["data"][0]["time"]
    assert last - first < timedelta(hours=24)
    if expected is not None:  # crypto trades around the clock: every five minutes of the day
        assert len(bars) == expected
    expect(page.locator("#chart")).to_have_attribute("data-bar-count", str(len(bars)))
    page.locator("#chart-figure").screenshot(path=str(ARTIFACTS / f"demo-{symbol}-5m-1day.png"))


def test_the_run_card_says_the_last_run_was_make_devs_start_up_load(
    page: Page, live_api: LiveApi, demo_warehouse: datetime
) -> None:
    open_dashboard(page, f"{live_api.url}/dashboard/")
    expect(page.locator("#stat-last-run")).to_have_text("succeeded")
    expect(page.locator("#stat-last-run-kind")).to_have_text(
        "Local run (make dev's start-up load, or make backfill)"
    )
    expect(page.locator("#stat-next-run")).to_contain_text("Next nightly")
    expect(page.locator("#alerts")).to_contain_text("No alerts")
    page.screenshot(path=str(ARTIFACTS / "demo-overview.png"), full_page=True)

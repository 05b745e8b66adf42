"""The dashboard in headless Chromium against the real API and a seeded warehouse.

Each test compares what the page shows with what the API returns to the test itself,
and leaves a screenshot in test-artifacts/.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture fails every test with the install command
    expect = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route

from tests.e2e.conftest import LiveApi, PageErrors, free_port, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

FLAG_BELOW_QUALITY = 0.85


def fmt_time(iso: str | None) -> str:
    if iso is None:
        return "—"
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M UTC")


def fmt_int(value: int) -> str:
    return f"{value:,}"


def fmt_pct(value: float) -> str:
    return f"{value:.2f}%"


def open_dashboard(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator("main")).to_have_attribute("data-state", re.compile("ready|degraded|error"))


def all_bars(api: LiveApi, symbol: str, **params: Any) -> list[dict[str, Any]]:
    """Every bar the chart asked for, following next_cursor like the page does."""
    query = {"validated_only": "false", "min_quality": "0", **params}
    bars: list[dict[str, Any]] = []
    while True:
        body = api.get(f"/api/v1/historical/{symbol}", **query)
        bars += body["data"]
        if not body["next_cursor"]:
            return bars
        query["cursor"] = body["next_cursor"]


def wait_for_chart(page: Page, symbol: str, timeframe: str) -> None:
    figure = page.locator("#chart-figure")
    expect(figure).to_have_attribute("data-symbol", symbol)
    expect(figure).to_have_attribute("data-timeframe", timeframe)
    expect(figure).to_have_attribute("data-state", "ready")
    # The gap report under the chart is the page's last request for it: settled, so a
    # test's network route is never left answering after the page has gone.
    expect(page.locator("#gap-report")).to_have_attribute("data-state", re.compile("ready|error"))


def chart_range(page: Page) -> dict[str, str]:
    """The range the chart asked for (a preset's RFC 3339 instants, or the custom dates)."""
    figure = page.locator("#chart-figure")
    return {
        "start": figure.get_attribute("data-start") or "",
        "end": figure.get_attribute("data-end") or "",
    }


def painted_pixels(page: Page, css_var: str) -> int:
    """How many canvas pixels carry one of the chart's colours (roughly)."""
    return int(
        page.evaluate(
            """(name) => {
                const canvas = document.getElementById("chart");
                const probe = document.createElement("div");
                probe.style.color = getComputedStyle(canvas).getPropertyValue(name);
                document.body.append(probe);
                const [r, g, b] = getComputedStyle(probe).color.match(/\\d+/g).map(Number);
                probe.remove();
                const px = canvas.getContext("2d")
                    .getImageData(0, 0, canvas.width, canvas.height).data;
                let count = 0;
                for (let i = 0; i < px.length; i += 4) {
                    if (px[i + 3] > 200 && Math.abs(px[i] - r) + Math.abs(px[i + 1] - g)
                        + Math.abs(px[i + 2] - b) < 30) count++;
                }
                return count;
            }""",
            css_var,
        )
    )


def test_status_cards_and_alerts_show_what_the_api_returns(
    page: Page, live_api: LiveApi, warehouse: datetime, page_errors: PageErrors
) -> None:
    open_dashboard(page, f"{live_api.url}/dashboard/")
    expect(page.locator("main")).to_have_attribute("data-state", "ready")
    metrics = live_api.get("/api/v1/metrics")
    status = live_api.get("/api/v1/status")
    detailed = live_api.get("/api/v1/symbols/detailed")
    database = metrics["database"]

    expect(page.locator("#stat-api")).to_have_text(live_api.get("/health")["status"])
    expect(page.locator("#stat-api-latency")).to_have_text(re.compile(r"^\d+ ms response$"))
    expect(page.locator("#stat-symbols")).to_have_text(fmt_int(database["symbols_available"]))
    expect(page.locator("#stat-symbols-tracked")).to_have_text(f"of {detailed['count']} tracked")
    expect(page.locator("#stat-records")).to_have_text(fmt_int(database["total_records"]))
    gaps = status["data_quality"]["records_with_gaps_flagged"]
    expect(page.locator("#stat-gaps")).to_have_text(f"{fmt_int(gaps)} gaps flagged")
    expect(page.locator("#stat-validation")).to_have_text(fmt_pct(database["validation_rate_pct"]))
    expect(page.locator("#stat-latest")).to_have_text(fmt_time(database["latest_data"]))

    run = metrics["last_backfill"]
    assert run["status"] == "failed"
    expect(page.locator("#stat-last-run")).to_have_text("failed")
    expect(page.locator("#stat-last-run-detail")).to_contain_text(
        f"{run['jobs_total'] - run['jobs_failed']} of {run['jobs_total']} jobs ok"
    )
    expect(page.locator("#stat-next-run")).to_contain_text(
        f"Next nightly {fmt_time(metrics['scheduler']['next_run'])}"
    )
    expect(page.locator("#stat-last-run-kind")).to_have_text("Nightly run (the 02:00 UTC schedule)")

    alerts = page.locator("#alerts")
    expect(alerts).to_contain_text(f"{run['jobs_failed']} of {run['jobs_total']} jobs failed")
    stale = [s["symbol"] for s in detailed["symbols"] if s["status"] == "stale"]
    assert sorted(stale) == ["ETH-USD", "VIX"]
    expect(alerts).to_contain_text(f"{len(stale)} symbols stale: {', '.join(stale)}.")
    expect(alerts).not_to_contain_text("DLQ")  # the API does not expose the queue

    rows = page.locator("#symbols-body tr")
    expect(rows).to_have_count(detailed["count"])
    for symbol in detailed["symbols"]:
        row = page.locator(f'#symbols-body tr[data-symbol="{symbol["symbol"]}"]')
        cells = row.locator("td")
        expect(cells.nth(0)).to_have_text(symbol["asset_class"])
        expect(cells.nth(1)).to_have_text(fmt_int(symbol["records"]))
        if symbol["records"]:
            expect(cells.nth(2)).to_have_text(fmt_pct(symbol["validation_rate"]))
        latest = fmt_time(symbol["latest_data"]) if symbol["records"] else "no data"
        expect(cells.nth(3)).to_have_text(latest)
        expect(cells.nth(5)).to_have_text(" ".join(symbol["timeframes"]))
        expect(cells.nth(6)).to_have_text(symbol["status"])

    screenshot(page, "overview")
    assert page_errors == []


def test_symbol_table_searches_filters_and_sorts_from_the_keyboard(
    page: Page, live_api: LiveApi, warehouse: datetime, page_errors: PageErrors
) -> None:
    open_dashboard(page, f"{live_api.url}/dashboard/")
    detailed = live_api.get("/api/v1/symbols/detailed")["symbols"]
    rows = page.locator("#symbols-body tr")
    symbols_shown = page.locator("#symbols-body tr th")

    page.get_by_label("Search").fill("btc")
    expect(symbols_shown).to_have_text(["BTC-USD"])
    page.get_by_label("Search").fill("")

    page.get_by_label("Health").select_option("stale")
    expect(symbols_shown).to_have_text(["ETH-USD", "VIX"])
    page.get_by_label("Asset class").select_option("crypto")
    expect(symbols_shown).to_have_text(["ETH-USD"])
    expect(page.locator("#symbol-count")).to_have_text(f"Showing 1 of {len(detailed)} symbols")
    page.get_by_label("Asset class").select_option("index")
    page.get_by_label("Health").select_option("healthy")
    expect(rows).to_have_text(["No symbols match the filters."])
    page.get_by_label("Health").select_option("")
    page.get_by_label("Asset class").select_option("")
    expect(rows).to_have_count(len(detailed))

    header = page.locator('th[data-key="records"]')
    expect(page.locator('th[data-key="symbol"]')).to_have_attribute("aria-sort", "ascending")
    header.get_by_role("button").focus()
    page.keyboard.press("Enter")
    expect(header).to_have_attribute("aria-sort", "ascending")
    symbol_header = page.locator('th[data-key="symbol"]')
    expect(symbol_header).not_to_have_attribute("aria-sort", re.compile("."))
    by_records = sorted(detailed, key=lambda s: (s["records"], s["symbol"]))
    expect(symbols_shown).to_have_text([s["symbol"] for s in by_records])
    page.keyboard.press("Space")
    expect(header).to_have_attribute("aria-sort", "descending")
    by_records_desc = sorted(detailed, key=lambda s: (-s["records"], s["symbol"]))
    expect(symbols_shown).to_have_text([s["symbol"] for s in by_records_desc])

    page.get_by_label("Health").select_option("stale")
    screenshot(page, "symbols-filtered")
    assert page_errors == []


def test_chart_draws_every_daily_aapl_bar_and_marks_flags_and_gaps(
    page: Page, live_api: LiveApi, warehouse: datetime, page_errors: PageErrors
) -> None:
    open_dashboard(page, f"{live_api.url}/dashboard/")
    page.locator("#chart-symbol").select_option("AAPL")
    page.locator("#chart-timeframe").select_option("1d")
    page.locator("#chart-range").select_option(label="1 year")
    wait_for_chart(page, "AAPL", "1d")

    bars = all_bars(live_api, "AAPL", timeframe="1d", **chart_range(page))
    flagged = [b for b in bars if not b["validated"] or b["quality_score"] < FLAG_BELOW_QUALITY]
    gaps = [b for b in bars if b["gap_detected"]]
    canvas = page.locator("#chart")
    assert len(bars) > 200
    expect(canvas).to_have_attribute("data-bar-count", str(len(bars)))
    expect(canvas).to_have_attribute("data-flagged-count", str(len(flagged)))
    expect(canvas).to_have_attribute("data-gap-count", str(len(gaps)))
    assert (len(flagged), len(gaps)) == (3, 2)
    expect(page.locator("#chart-summary")).to_contain_text(f"{len(bars)} bars")
    label = re.compile(rf"^Candlestick chart of AAPL.*{len(bars)} bars")
    expect(canvas).to_have_attribute("aria-label", label)
    assert painted_pixels(page, "--up") > 100
    assert painted_pixels(page, "--down") > 100
    assert painted_pixels(page, "--flag") > 20
    assert painted_pixels(page, "--gap") > 20

    canvas.focus()
    page.keyboard.press("End")
    expect(page.locator("#chart-readout")).to_contain_text(fmt_time(bars[-1]["time"]))
    page.keyboard.press("Home")
    expect(page.locator("#chart-readout")).to_contain_text(fmt_time(bars[0]["time"]))
    position = len(bars) - 8  # the newest flagged bar
    for _ in range(position):
        page.keyboard.press("ArrowRight")
    expect(page.locator("#chart-readout")).to_contain_text("not validated")

    page.locator("#chart-figure").screenshot(path=str(screenshot(page, "chart-aapl-1d")))
    assert page_errors == []


def test_chart_follows_next_cursor_through_hourly_btc_pages(
    page: Page, live_api: LiveApi, warehouse: datetime, page_errors: PageErrors
) -> None:
    historical: list[str] = []
    page.on(
        "request",
        lambda request: historical.append(request.url) if "/historical/" in request.url else None,
    )
    open_dashboard(page, f"{live_api.url}/dashboard/?symbol=BTC-USD&timeframe=1h&page_limit=200")
    wait_for_chart(page, "BTC-USD", "1h")

    bars = all_bars(live_api, "BTC-USD", timeframe="1h", **chart_range(page))
    assert len(bars) > 600  # a month of hourly bars
    pages = math.ceil(len(bars) / 200)
    expect(page.locator("#chart")).to_have_attribute("data-bar-count", str(len(bars)))
    expect(page.locator("#chart-figure")).to_have_attribute("data-pages", str(pages))
    assert len(historical) == pages
    assert sum("cursor=" in url for url in historical) == pages - 1
    flagged = sum(not b["validated"] or b["quality_score"] < FLAG_BELOW_QUALITY for b in bars)
    expect(page.locator("#chart")).to_have_attribute("data-flagged-count", str(flagged))
    expect(page.locator("#chart")).to_have_attribute(
        "data-gap-count", str(sum(b["gap_detected"] for b in bars))
    )
    assert flagged == 2

    screenshot(page, "chart-btc-1h")
    assert page_errors == []


def test_chart_says_when_a_range_has_no_bars(
    page: Page, live_api: LiveApi, warehouse: datetime, page_errors: PageErrors
) -> None:
    open_dashboard(page, f"{live_api.url}/dashboard/?symbol=MSFT")
    page.locator("#chart-timeframe").select_option("5m")
    expect(page.locator("#chart-figure")).to_have_attribute("data-state", "empty")
    expect(page.locator("#chart-summary")).to_contain_text("no 5m bars for MSFT")
    expect(page.locator("#chart")).to_have_attribute("data-bar-count", "0")
    assert page_errors == []


def test_dashboard_behind_a_stage_prefix_calls_the_api_under_that_prefix(
    page: Page, live_api: LiveApi, warehouse: datetime, page_errors: PageErrors
) -> None:
    """API Gateway serves the Lambda at /prod/...: here a route strips the stage like it does."""
    seen: list[str] = []

    def stage(route: Route) -> None:
        seen.append(route.request.url)
        upstream = route.request.url.replace(f"{live_api.url}/prod", live_api.url, 1)
        route.fulfill(response=route.fetch(url=upstream))

    page.route(f"{live_api.url}/prod/**", stage)
    page.route(re.compile(rf"^{re.escape(live_api.url)}/(?!prod/).*"), lambda r: r.abort())
    open_dashboard(page, f"{live_api.url}/prod/dashboard")  # no slash: the page adds it
    expect(page).to_have_url(f"{live_api.url}/prod/dashboard/")
    expect(page.locator("main")).to_have_attribute("data-state", "ready")
    expect(page.locator("#api-base")).to_have_text(f"{live_api.url}/prod")
    expect(page.locator("#docs-link")).to_have_attribute("href", f"{live_api.url}/prod/docs")
    database = live_api.get("/api/v1/metrics")["database"]
    expect(page.locator("#stat-records")).to_have_text(fmt_int(database["total_records"]))
    wait_for_chart(page, "AAPL", "1d")
    api_calls = [url for url in seen if "/dashboard" not in url]
    assert any("/prod/api/v1/historical/AAPL" in url for url in api_calls)
    assert all(url.startswith(f"{live_api.url}/prod/") for url in api_calls)
    assert page_errors == []


def test_dashboard_on_another_origin_reads_the_api_through_cors(
    page: Page, live_api: LiveApi, static_site: str, warehouse: datetime, page_errors: PageErrors
) -> None:
    open_dashboard(page, f"{static_site}/dashboard/?api_base={live_api.url}/")
    expect(page.locator("main")).to_have_attribute("data-state", "ready")
    database = live_api.get("/api/v1/metrics")["database"]
    expect(page.locator("#stat-symbols")).to_have_text(fmt_int(database["symbols_available"]))
    expect(page.locator("#api-base")).to_have_text(live_api.url)
    wait_for_chart(page, "AAPL", "1d")
    assert int(page.locator("#chart").get_attribute("data-bar-count") or 0) > 200
    assert page_errors == []


def test_page_loads_and_says_the_api_is_unreachable_when_it_is_down(
    page: Page, static_site: str, page_errors: PageErrors
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    open_dashboard(page, f"{static_site}/dashboard/?api_base={closed}")
    expect(page.locator("main")).to_have_attribute("data-state", "error")
    alert = page.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("The API is unreachable.")
    expect(alert).to_contain_text(f"{closed}/health")
    expect(page.get_by_role("button", name="Retry")).to_be_enabled()
    expect(page.locator("#stat-records")).to_have_text("—")
    expect(page.locator("#alerts")).to_contain_text("API unreachable")
    expect(page.locator("#stat-api")).to_have_text("down")
    expect(page.locator("#chart-summary")).to_have_text("No chart while the API is unreachable.")
    expect(page.get_by_role("button", name="Show chart")).to_be_disabled()
    expect(page.get_by_role("heading", name="Symbols")).to_be_visible()
    screenshot(page, "api-down")
    assert page_errors == []


def test_retry_fills_the_page_once_the_api_answers_again(
    page: Page, live_api: LiveApi, warehouse: datetime, page_errors: PageErrors
) -> None:
    api_calls = re.compile(rf"^{re.escape(live_api.url)}/(health|api/)")
    page.route(api_calls, lambda route: route.abort("connectionrefused"))
    open_dashboard(page, f"{live_api.url}/dashboard/")
    expect(page.locator("main")).to_have_attribute("data-state", "error")

    page.unroute(api_calls)
    page.get_by_role("button", name="Retry").click()
    expect(page.locator("main")).to_have_attribute("data-state", "ready")
    expect(page.get_by_role("alert")).to_be_hidden()
    database = live_api.get("/api/v1/metrics")["database"]
    expect(page.locator("#stat-records")).to_have_text(fmt_int(database["total_records"]))
    wait_for_chart(page, "AAPL", "1d")
    assert page_errors == []


def test_every_control_is_labelled_and_the_page_has_landmarks(
    page: Page, live_api: LiveApi, warehouse: datetime
) -> None:
    open_dashboard(page, f"{live_api.url}/dashboard/")
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll("input, select")]
            .filter((el) => !el.labels || el.labels.length === 0).map((el) => el.id)"""
    )
    assert unlabelled == []
    for role in ("banner", "main", "contentinfo", "search"):
        expect(page.get_by_role(role)).to_have_count(1)
    expect(page.get_by_role("heading", level=1)).to_have_text("Market Data Warehouse")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()


def test_narrow_dark_screen_fits_without_sideways_scrolling(
    browser: Any, live_api: LiveApi, warehouse: datetime
) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, color_scheme="dark", device_scale_factor=2
    )
    try:
        page = context.new_page()
        open_dashboard(page, f"{live_api.url}/dashboard/?symbol=BTC-USD&timeframe=1h")
        wait_for_chart(page, "BTC-USD", "1h")
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
        screenshot(page, "mobile-dark")
    finally:
        context.close()


def test_dashboard_asks_for_a_key_when_reads_need_one_and_sends_it(
    page: Page, live_api: LiveApi, warehouse: datetime, page_errors: PageErrors
) -> None:
    """REQUIRE_READ_KEY=true, emulated at the network edge: 401 unless X-API-Key is right."""
    key = "mdw_dashboard_e2e_key"
    keys_sent: list[str | None] = []

    def read_access(route: Route) -> None:
        headers = dict(route.request.headers)
        presented = headers.pop("x-api-key", None)
        keys_sent.append(presented)
        if presented != key:
            problem = '{"type":"about:blank","title":"Unauthorized","status":401,'
            problem += '"detail":"The X-API-Key header is required."}'
            route.fulfill(status=401, content_type="application/problem+json", body=problem)
            return
        route.fulfill(response=route.fetch(headers=headers))

    page.route(f"{live_api.url}/api/v1/**", read_access)
    open_dashboard(page, f"{live_api.url}/dashboard/")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("This API needs an API key for reads.")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Use key").click()
    expect(page.locator("main")).to_have_attribute("data-state", "ready")
    expect(alert).to_be_hidden()
    database = live_api.get("/api/v1/metrics")["database"]
    expect(page.locator("#stat-records")).to_have_text(fmt_int(database["total_records"]))
    wait_for_chart(page, "AAPL", "1d")
    expect(page.locator("#gap-report")).to_have_attribute("data-state", "ready")  # keyed too
    assert keys_sent[-1] == key
    assert page_errors == []


def test_the_charts_ranges_and_flag_threshold_come_from_the_api(
    page: Page, live_api: LiveApi, warehouse: datetime, page_errors: PageErrors
) -> None:
    served = live_api.get("/api/v1/timeframes")
    facts = {t["timeframe"]: t for t in served["timeframes"]}
    open_dashboard(page, f"{live_api.url}/dashboard/?symbol=BTC-USD&timeframe=1h")
    wait_for_chart(page, "BTC-USD", "1h")

    expect(page.locator("#flag-threshold")).to_have_text(str(served["defaults"]["min_quality"]))
    expect(page.locator("#chart-range")).to_have_value(str(facts["1h"]["chart_span_days"]))
    five_years = page.locator("#chart-range option[value='1826']")
    assert facts["1h"]["max_span_days"] < 1826
    expect(five_years).to_be_disabled()

    page.select_option("#chart-timeframe", "1d")
    expect(page.locator("#chart-range")).to_have_value(str(facts["1d"]["chart_span_days"]))
    expect(five_years).to_be_enabled()


def test_a_synthetic_warehouse_wears_a_demo_data_badge(
    page: Page, live_api: LiveApi, warehouse: datetime, page_errors: PageErrors
) -> None:
    provider = live_api.get("/api/v1/status")["provider"]
    assert provider["synthetic"] is True and provider["sources"] == ["synthetic"]
    open_dashboard(page, f"{live_api.url}/dashboard/")
    badge = page.locator("#demo-badge")
    expect(badge).to_be_visible()
    expect(badge).to_contain_text("Demo data")
    expect(page.locator("#data-source")).to_have_text("Data: synthetic")
    assert page_errors == []


def test_market_data_from_polygon_wears_no_badge(
    page: Page, live_api: LiveApi, warehouse: datetime, page_errors: PageErrors
) -> None:
    def from_polygon(route: Route) -> None:
        body = live_api.get("/api/v1/status")
        body["provider"] = {"configured": "polygon", "sources": ["polygon"], "synthetic": False}
        route.fulfill(json=body)

    page.route(f"{live_api.url}/api/v1/status", from_polygon)
    open_dashboard(page, f"{live_api.url}/dashboard/")
    expect(page.locator("main")).to_have_attribute("data-state", "ready")
    expect(page.locator("#demo-badge")).to_be_hidden()
    expect(page.locator("#data-source")).to_have_text("Data: polygon")
    assert page_errors == []


def test_axis_labels_never_read_minus_zero_and_volume_has_a_scale(
    page: Page, live_api: LiveApi, warehouse: datetime
) -> None:
    open_dashboard(page, f"{live_api.url}/dashboard/")
    labels = page.evaluate(
        """async () => {
            const { formatPrice, formatVolume } = await import("./chart.js");
            return [formatPrice(-0), formatPrice(-2.7e-17), formatVolume(12345678),
                    formatVolume(950), formatVolume(0), formatVolume(0.0042)];
        }"""
    )
    assert labels == ["0.000000", "0.000000", "12.3M", "950", "0", "0.0042"]


def test_the_symbol_table_fits_a_1024_pixel_screen(
    browser: Any, live_api: LiveApi, warehouse: datetime
) -> None:
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    try:
        page = context.new_page()
        open_dashboard(page, f"{live_api.url}/dashboard/")
        expect(page.locator("#symbols-body tr")).not_to_have_count(0)
        overflow = page.evaluate(
            """() => { const box = document.querySelector(".table-scroll");
                       return box.scrollWidth - box.clientWidth; }"""
        )
        assert overflow <= 0
        screenshot(page, "laptop-1024")
    finally:
        context.close()


def test_the_chart_switches_adjustment_and_marks_splits_and_ex_dividend_dates(
    page: Page, live_api: LiveApi, warehouse: datetime, conn: Any, page_errors: PageErrors
) -> None:
    from datetime import UTC, timedelta

    from market_data.providers.synthetic import SyntheticProvider
    from market_data.repositories.actions import replace_actions
    from market_data.symbols import AssetClass
    from market_data.timeframes import Timeframe
    from tests.helpers import seed_series

    # NFLX split 10-for-1 on 2025-11-17, inside the last year of bars.
    seed_series(conn, "NFLX", AssetClass.STOCK, Timeframe.D1, warehouse - timedelta(400), warehouse)
    actions = SyntheticProvider().fetch_actions("NFLX", AssetClass.STOCK).actions
    replace_actions(conn, "NFLX", actions, "synthetic", datetime.now(UTC))
    open_dashboard(page, f"{live_api.url}/dashboard/?symbol=NFLX&timeframe=1d")
    page.select_option("#chart-range", "1826")  # the whole 400 days, split included
    wait_for_chart(page, "NFLX", "1d")

    canvas = page.locator("#chart")
    expect(canvas).to_have_attribute("data-split-count", "1")
    expect(page.locator("#chart-figure")).to_have_attribute("data-adjustment", "split")
    split_view = all_bars(live_api, "NFLX", **chart_range(page))
    page.select_option("#chart-adjustment", "raw")
    expect(page.locator("#chart-figure")).to_have_attribute("data-adjustment", "raw")
    expect(page.locator("#chart-figure")).to_have_attribute("data-state", "ready")
    raw_view = all_bars(live_api, "NFLX", adjustment="raw", **chart_range(page))
    assert raw_view[0]["close"] == pytest.approx(split_view[0]["close"] * 10, rel=1e-9)
    screenshot(page, "nflx-raw-split-marked")


def test_the_gap_report_under_the_chart_is_the_apis(
    page: Page, live_api: LiveApi, warehouse: datetime, page_errors: PageErrors
) -> None:
    open_dashboard(page, f"{live_api.url}/dashboard/")
    page.locator("#chart-symbol").select_option("AAPL")
    page.locator("#chart-timeframe").select_option("1d")
    page.locator("#chart-range").select_option(label="1 year")
    wait_for_chart(page, "AAPL", "1d")
    report = live_api.get("/api/v1/symbols/AAPL/gaps", timeframe="1d", **chart_range(page))
    section = page.locator("#gap-report")
    expect(section).to_have_attribute("data-state", "ready")
    expect(section).to_have_attribute("data-missing", str(report["totals"]["missing"]))
    expect(page.locator("#gap-summary")).to_contain_text(
        f"of {fmt_int(report['totals']['expected'])} expected bars missing"
    )
    assert page_errors == []


def test_the_compare_view_rebases_each_symbol_to_100_from_the_multi_symbol_endpoint(
    page: Page, live_api: LiveApi, warehouse: datetime, page_errors: PageErrors
) -> None:
    bars_calls: list[str] = []
    page.on("request", lambda r: bars_calls.append(r.url) if "/api/v1/bars?" in r.url else None)
    open_dashboard(page, f"{live_api.url}/dashboard/?page_limit=100")
    page.get_by_label("Symbols (2-6, comma-separated)").fill("AAPL, SPY, BTC-USD, ZZZZ")
    page.get_by_role("button", name="Compare").click()
    figure = page.locator("#compare-figure")
    expect(figure).to_have_attribute("data-state", "ready")
    start, end = (
        page.locator("#compare-start").input_value(),
        page.locator("#compare-end").input_value(),
    )
    served: dict[str, list[dict[str, Any]]] = {}
    query: dict[str, Any] = {"symbols": "AAPL,SPY,BTC-USD,ZZZZ", "start": start, "end": end,
                             "limit": 100}  # fmt: skip
    while True:
        body = live_api.get("/api/v1/bars", **query)
        for symbol, bars in body["bars"].items():
            served.setdefault(symbol, []).extend(bars)
        if not body["next_cursor"]:
            break
        query["cursor"] = body["next_cursor"]
    assert len(bars_calls) > 3  # every page, by cursor
    expect(figure).to_have_attribute("data-lines", "3")
    expect(figure).to_have_attribute("data-points", str(sum(map(len, served.values()))))
    summary = page.locator("#compare-summary")
    for symbol, bars in served.items():
        rebased = 100 * bars[-1]["close"] / bars[0]["close"]
        expect(summary).to_contain_text(f"{symbol} {rebased:.1f}")
    expect(summary).to_contain_text("ZZZZ (unknown-symbol)")
    figure.screenshot(path=str(screenshot(page, "compare")))

    page.get_by_label("Symbols (2-6, comma-separated)").fill("AAPL")
    page.get_by_role("button", name="Compare").click()
    expect(summary).to_have_text("Compare 2 to 6 symbols.")
    assert page_errors == []

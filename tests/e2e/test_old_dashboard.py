"""The replaced system's dashboard, pointed at this API: our numbers, and no false alert.

The old dashboard's code is not ours to run, so `old_dashboard/` is a stand-in
that reads exactly the old contract (docs/MIGRATING.md): the scheduler as
data_quality.scheduler_status, /health's scheduler_running and /api/v1/metrics'
scheduler.running; the totals, the last backfill, symbols/detailed; rows that
name their symbol and timeframe. It raises the old page's alerts, is served
from an origin of its own and reads the API named by ?api_base=, as its users
ran it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture fails every test with the install command
    expect = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route

from market_data.settings import Settings
from tests.e2e.conftest import ARTIFACTS, LiveApi, PageErrors, serve_api, serve_files

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

OLD_DASHBOARD = Path(__file__).parent / "old_dashboard"


@pytest.fixture(scope="module")
def old_site() -> Iterator[str]:
    with serve_files(OLD_DASHBOARD) as origin:
        yield origin


@pytest.fixture(scope="module")
def configured_api(
    settings: Settings, old_site: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveApi]:
    """A deployed stage's set-up: CORS allows exactly the old dashboard's origin."""
    with serve_api(
        settings,
        tmp_path_factory.mktemp("configured"),
        STAGE="dev",
        CORS_ALLOW_ORIGINS=old_site,
        CORS_ALLOW_LOOPBACK="false",
    ) as api:
        yield api


@pytest.fixture(scope="module")
def local_api(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    """make dev's set-up: nothing configured (the local stage allows loopback origins)."""
    with serve_api(settings, tmp_path_factory.mktemp("local")) as api:
        yield api


def open_old_dashboard(page: Page, site: str, api: LiveApi) -> None:
    page.goto(f"{site}/dashboard/index.html?api_base={api.url}")
    expect(page.locator("main")).to_have_attribute("data-state", "ready")


def alerts(page: Page) -> list[str]:
    return [text.strip() for text in page.locator("#alerts li").all_inner_texts()]


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"old-dashboard-{name}.png"), full_page=True)


def test_the_old_dashboard_shows_our_numbers_and_no_false_alert(
    page: Page,
    configured_api: LiveApi,
    old_site: str,
    demo_warehouse: datetime,
    page_errors: PageErrors,
) -> None:
    # CORS is what this stage configured: the old dashboard's origin, and no other.
    granted = requests.get(f"{configured_api.url}/health", headers={"Origin": old_site}, timeout=5)
    assert granted.headers["access-control-allow-origin"] == old_site
    other = requests.get(
        f"{configured_api.url}/health", headers={"Origin": "http://127.0.0.1:1"}, timeout=5
    )
    assert "access-control-allow-origin" not in other.headers

    open_old_dashboard(page, old_site, configured_api)
    status = configured_api.get("/api/v1/status")
    detailed = configured_api.get("/api/v1/symbols/detailed")

    assert alerts(page) == []
    expect(page.locator("#api-status")).to_have_text("Healthy")
    expect(page.locator("#scheduler")).to_have_text("Running")
    database = status["database"]
    expect(page.locator("#symbols")).to_have_text(str(database["symbols_available"]))
    expect(page.locator("#records")).to_have_text(f"{database['total_records']:,}")
    last = status["data_quality"]["last_backfill"]
    expect(page.locator("#last-backfill")).to_contain_text(
        f"{last['successful_symbols']} symbols ok, 0 failed"
    )
    expect(page.locator("#symbol-table tbody tr")).to_have_count(detailed["count"])
    for symbol in detailed["symbols"]:
        row = page.locator(f'#symbol-table tr[data-symbol="{symbol["symbol"]}"] td')
        expect(row.nth(4)).to_have_text(symbol["status"])

    bars = page.locator("#bars tbody tr")
    expect(bars).to_have_count(5)
    first = detailed["symbols"][0]["symbol"]
    for i in range(5):
        expect(bars.nth(i).locator("td").nth(0)).to_have_text(first)
        expect(bars.nth(i).locator("td").nth(1)).to_have_text("1d")
    shot(page, "configured-cors")
    assert page_errors == []


def test_out_of_the_box_locally_the_old_dashboard_is_not_blocked_by_cors(
    page: Page, local_api: LiveApi, old_site: str, demo_warehouse: datetime
) -> None:
    open_old_dashboard(page, old_site, local_api)
    assert alerts(page) == []
    expect(page.locator("#scheduler")).to_have_text("Running")
    expect(page.locator("#bars tbody tr")).to_have_count(5)


def test_its_run_tests_button_gets_a_410_that_names_the_replacement(
    page: Page, configured_api: LiveApi, old_site: str, demo_warehouse: datetime
) -> None:
    open_old_dashboard(page, old_site, configured_api)
    page.get_by_role("button", name="Run Tests").click()
    output = page.locator("#test-output")
    expect(output).to_have_attribute("data-status", "410")
    expect(output).to_contain_text("410 Gone")
    expect(output).to_contain_text("make test")
    shot(page, "run-tests")


@pytest.mark.parametrize(
    ("what_we_used_to_send", "alert"),
    [
        ({"status": ("data_quality", "scheduler_status", "scheduled")}, "scheduler is not running"),
        ({"health": ("scheduler_running", None)}, "scheduler is not running"),
        ({"metrics": ("scheduler", "running", None)}, "scheduler is not running"),
        ({"historical": ("symbol", None)}, "without symbol or timeframe"),
    ],
)
def test_the_stand_in_does_raise_the_old_alerts_on_the_old_mismatches(
    page: Page,
    configured_api: LiveApi,
    old_site: str,
    demo_warehouse: datetime,
    what_we_used_to_send: dict[str, tuple[Any, ...]],
    alert: str,
) -> None:
    """So that "no alert" above means something: the answers as they were before
    (scheduler_status "scheduled", no scheduler_running, rows without symbol) do alert."""
    ((endpoint, path),) = what_we_used_to_send.items()

    def as_before(route: Route) -> None:
        body = route.fetch().json()
        if endpoint == "historical":
            for row in body["data"]:
                row.pop("symbol")
        else:
            target = body
            for key in path[:-2]:
                target = target[key]
            if path[-1] is None:
                target.pop(path[-2])
            else:
                target[path[-2]] = path[-1]
        route.fulfill(json=body, headers={"Access-Control-Allow-Origin": "*"})

    urls = {
        "status": "/api/v1/status",
        "health": "/health",
        "metrics": "/api/v1/metrics",
        "historical": "/api/v1/historical/**",
    }
    page.route(f"{configured_api.url}{urls[endpoint]}*", as_before)
    open_old_dashboard(page, old_site, configured_api)
    assert any(re.search(alert, text) for text in alerts(page)), alerts(page)


def test_the_old_dashboard_alerts_on_stale_symbols_as_before(
    page: Page, configured_api: LiveApi, old_site: str, demo_warehouse: datetime
) -> None:
    def one_stale(route: Route) -> None:
        body = route.fetch().json()
        body["symbols"][0]["status"] = "stale"
        route.fulfill(json=body, headers={"Access-Control-Allow-Origin": "*"})

    page.route(f"{configured_api.url}/api/v1/symbols/detailed", one_stale)
    open_old_dashboard(page, old_site, configured_api)
    assert alerts(page) == ["Stale data: AAPL"]

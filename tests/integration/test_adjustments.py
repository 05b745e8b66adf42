"""The adjusted views against hand computations from the raw bars and the actions.

The expected numbers are computed here in Python from the stored raw bars and
the split/dividend records, independently of the SQL that serves them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from psycopg import Connection

from market_data.corporate_actions import CorporateActions, Dividend, Split
from market_data.repositories.actions import read_actions, replace_actions
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from tests.helpers import seed_series, utc

NEW_YORK = ZoneInfo("America/New_York")
URL = "/api/v1/historical/{}"
PRICES = ("open", "high", "low", "close", "vwap")


def session_of(bar: dict[str, Any]) -> date:
    return datetime.fromisoformat(bar["time"]).astimezone(NEW_YORK).date()


def fetch(client: TestClient, symbol: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(URL.format(symbol), params={"limit": 8000, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["adjustment"] == params.get("adjustment", "split")
    assert body["next_cursor"] is None
    return list(body["data"])


def hand_factors(
    raw_daily: list[dict[str, Any]], actions: CorporateActions, session: date
) -> tuple[float, float]:
    """(price factor for dividends, split ratio) that apply to a bar of `session`."""
    ratio = 1.0
    for split in actions.splits:
        if session < split.execution_date:
            ratio *= split.split_to / split.split_from
    factor = 1.0
    for dividend in actions.dividends:
        if session < dividend.ex_dividend_date:
            before = [b for b in raw_daily if session_of(b) < dividend.ex_dividend_date]
            factor *= 1 - dividend.cash_amount / before[-1]["close"]
    return factor, ratio


@pytest.fixture
def aapl(conn: Connection[Any]) -> CorporateActions:
    """AAPL daily and hourly bars around its 4:1 split, with the synthetic actions."""
    from market_data.providers.synthetic import SyntheticProvider

    seed_series(conn, "AAPL", AssetClass.STOCK, Timeframe.D1, utc(2020, 6, 1), utc(2020, 10, 1))
    seed_series(conn, "AAPL", AssetClass.STOCK, Timeframe.H1, utc(2020, 8, 26), utc(2020, 9, 3))
    actions = SyntheticProvider().fetch_actions("AAPL", AssetClass.STOCK).actions
    replace_actions(conn, "AAPL", actions, "synthetic", datetime.now(UTC))
    return read_actions(conn, "AAPL")


def test_the_default_view_removes_the_split_step_and_raw_keeps_it(
    client: TestClient, aapl: CorporateActions
) -> None:
    assert Split(date(2020, 8, 31), 1, 4) in aapl.splits
    raw = fetch(client, "AAPL", adjustment="raw", start="2020-06-01", end="2020-09-30")
    split = fetch(client, "AAPL", start="2020-06-01", end="2020-09-30")

    assert [b["time"] for b in raw] == [b["time"] for b in split]
    for r, s in zip(raw, split, strict=True):
        ratio = 4.0 if session_of(r) < date(2020, 8, 31) else 1.0
        for name in PRICES:
            assert s[name] == pytest.approx(r[name] / ratio, rel=1e-12), (r["time"], name)
        assert s["volume"] == pytest.approx(r["volume"] * ratio, rel=1e-12)
        assert s["trades"] == r["trades"]
    before = next(b for b in raw if session_of(b) == date(2020, 8, 28))
    after = next(b for b in raw if session_of(b) == date(2020, 8, 31))
    assert before["close"] / after["open"] == pytest.approx(4, rel=0.1)  # the raw step
    adjusted_before = next(b for b in split if session_of(b) == date(2020, 8, 28))
    assert adjusted_before["close"] / after["open"] == pytest.approx(1, rel=0.1)  # no step


def test_intraday_bars_are_adjusted_by_their_session_against_the_split(
    client: TestClient, aapl: CorporateActions
) -> None:
    raw = fetch(
        client, "AAPL", timeframe="1h", adjustment="raw", start="2020-08-26", end="2020-09-02"
    )
    split = fetch(client, "AAPL", timeframe="1h", start="2020-08-26", end="2020-09-02")

    sessions = {session_of(b) for b in raw}
    assert {date(2020, 8, 28), date(2020, 8, 31)} <= sessions
    for r, s in zip(raw, split, strict=True):
        # Pre-market of the execution day already trades at the new share count.
        ratio = 4.0 if session_of(r) < date(2020, 8, 31) else 1.0
        assert s["close"] == pytest.approx(r["close"] / ratio, rel=1e-12), r["time"]


@pytest.mark.parametrize("view", ["dividend", "all"])
def test_dividend_factors_equal_a_hand_computation(
    client: TestClient, conn: Connection[Any], view: str
) -> None:
    seed_series(conn, "KO", AssetClass.STOCK, Timeframe.D1, utc(2023, 1, 1), utc(2024, 12, 31))
    actions = CorporateActions(
        splits=(Split(date(2024, 3, 1), 1, 2),),  # not KO's; makes `all` differ from `dividend`
        dividends=(
            Dividend(date(2023, 6, 14), 0.46, declaration_date=date(2023, 4, 20)),
            Dividend(date(2023, 11, 30), 0.46),
            Dividend(date(2024, 6, 14), 0.485, dividend_type="CD", frequency=4),
            Dividend(date(2024, 6, 14), 0.10, dividend_type="SC", frequency=0),
        ),
    )
    replace_actions(conn, "KO", actions, "test", datetime.now(UTC))
    raw = fetch(client, "KO", adjustment="raw", start="2023-01-01", end="2024-12-31")
    served = fetch(client, "KO", adjustment=view, start="2023-01-01", end="2024-12-31")

    for r, s in zip(raw, served, strict=True):
        factor, ratio = hand_factors(raw, actions, session_of(r))
        if view == "dividend":
            ratio = 1.0
        for name in PRICES:
            assert s[name] == pytest.approx(r[name] * factor / ratio, rel=1e-12), (r["time"], name)
        assert s["volume"] == pytest.approx(r["volume"] * ratio, rel=1e-12)
    first = session_of(raw[0])
    assert hand_factors(raw, actions, first)[0] < 0.99  # four dividends apply to the first bar
    last = next(s for s in served if session_of(s) >= date(2024, 6, 14))
    assert last["close"] == next(r for r in raw if r["time"] == last["time"])["close"]


def test_a_cursor_stays_tied_to_its_adjustment(client: TestClient, aapl: CorporateActions) -> None:
    params = {"start": "2020-06-01", "end": "2020-09-30", "limit": 10}
    first = client.get(URL.format("AAPL"), params=params).json()

    other_view = client.get(
        URL.format("AAPL"), params={**params, "adjustment": "raw", "cursor": first["next_cursor"]}
    )

    assert other_view.status_code == 400
    assert other_view.json()["type"].endswith("/invalid-cursor")


def test_an_unknown_adjustment_is_a_422_naming_the_allowed_ones(client: TestClient) -> None:
    response = client.get(URL.format("AAPL"), params={"adjustment": "total"})

    assert response.status_code == 422
    detail = response.json()["detail"]
    for allowed in ("raw", "split", "dividend", "all"):
        assert allowed in detail


def test_csv_says_which_adjustment_it_carries(client: TestClient, aapl: CorporateActions) -> None:
    response = client.get(
        URL.format("AAPL"),
        params={"format": "csv", "adjustment": "all", "start": "2020-08-01", "end": "2020-09-01"},
    )

    assert response.status_code == 200 and response.headers["X-Adjustment"] == "all"


def test_vendor_adjusted_bars_are_served_as_stored_and_only_in_the_split_view(
    client: TestClient, conn: Connection[Any], aapl: CorporateActions
) -> None:
    # As a warehouse that stored bars before raw storage: they are the vendor's split view.
    conn.execute(
        "UPDATE series_stats SET vendor_adjusted_from = %s, vendor_adjusted_until = %s"
        " WHERE symbol = 'AAPL' AND timeframe = '1d'",
        (utc(2020, 6, 1), datetime.combine(date(2020, 8, 1), time(), NEW_YORK)),
    )
    raw = fetch(client, "AAPL", adjustment="raw", start="2020-08-03", end="2020-09-30")
    served = fetch(client, "AAPL", start="2020-06-01", end="2020-09-30")
    stored = {
        row[0].isoformat().replace("+00:00", "Z"): row[1]
        for row in conn.execute(
            "SELECT time, close FROM bars WHERE symbol = 'AAPL' AND timeframe = '1d'"
        ).fetchall()
    }

    for bar in served:
        if session_of(bar) < date(2020, 8, 1):
            assert bar["close"] == stored[bar["time"]]  # as stored: not adjusted twice
    assert served[-1]["close"] == raw[-1]["close"]
    refused = client.get(
        URL.format("AAPL"), params={"adjustment": "raw", "start": "2020-06-01", "end": "2020-09-01"}
    )
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/vendor-adjusted")
    assert "adjustment=split" in refused.json()["detail"]


def test_corporate_actions_are_listed_and_an_unknown_symbol_is_a_404(
    client: TestClient, aapl: CorporateActions
) -> None:
    body = client.get("/api/v1/corporate-actions/AAPL").json()
    assert {"execution_date": "2020-08-31", "split_from": 1.0, "split_to": 4.0, "ratio": 4.0} in (
        body["splits"]
    )
    assert len(body["dividends"]) == len(aapl.dividends) > 10
    assert set(body["sources"]) == {"synthetic"}

    window = client.get(
        "/api/v1/corporate-actions/AAPL", params={"start": "2020-08-01", "end": "2020-08-31"}
    ).json()
    assert [s["execution_date"] for s in window["splits"]] == ["2020-08-31"]
    assert all("2020-08-01" <= d["ex_dividend_date"] <= "2020-08-31" for d in window["dividends"])

    missing = client.get("/api/v1/corporate-actions/ZZZZ")
    assert missing.status_code == 404 and missing.json()["type"].endswith("/unknown-symbol")


def test_replacing_actions_is_idempotent_and_follows_vendor_corrections(
    conn: Connection[Any],
) -> None:
    first = CorporateActions(
        splits=(Split(date(2022, 7, 18), 1, 20),),
        dividends=(Dividend(date(2022, 9, 1), 0.25), Dividend(date(2022, 12, 1), 0.25)),
    )
    at = datetime(2024, 1, 1, tzinfo=UTC)
    assert replace_actions(conn, "GOOGL", first, "polygon", at) == 3
    assert replace_actions(conn, "GOOGL", first, "polygon", at) == 0  # a re-run writes nothing

    corrected = CorporateActions(
        splits=(Split(date(2022, 7, 18), 1, 20),),
        dividends=(Dividend(date(2022, 9, 1), 0.26),),  # revised; the other one withdrawn
    )
    assert replace_actions(conn, "GOOGL", corrected, "polygon", at) == 2
    assert read_actions(conn, "GOOGL") == corrected

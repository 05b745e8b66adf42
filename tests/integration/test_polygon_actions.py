"""PolygonClient.fetch_actions against a fake Polygon on loopback: real sockets and
the real retry machinery, with waits measured in milliseconds.

Splits and dividends come from /v3/reference/{splits,dividends}, paged with
next_url, through the same request path as the aggregates (pacing, retries,
error classification, the key only in the Authorization header).
"""

from __future__ import annotations

import logging
import math
from datetime import date
from typing import Any

import pytest
from pydantic import AnyHttpUrl

from market_data.corporate_actions import CorporateActions, Dividend, Split
from market_data.errors import PermanentVendorError, TransientVendorError
from market_data.providers import ActionsResult
from market_data.providers.polygon import PolygonClient
from market_data.settings import Settings
from market_data.symbols import AssetClass
from tests.fake_polygon import (
    API_KEY,
    AUTHORIZATION,
    FakePolygon,
    Reply,
    dividend,
    reference_page,
    split,
)

MAX_RETRIES = 2


def client_for(fake: FakePolygon, **overrides: Any) -> PolygonClient:
    values: dict[str, Any] = {
        "database_url": "postgresql://127.0.0.1/unused",  # Settings insists; never opened
        "market_data_provider": "polygon",
        "polygon_base_url": AnyHttpUrl(fake.base_url),
        "polygon_api_key": API_KEY,
        "polygon_requests_per_minute": 60_000,
        "polygon_max_retries": MAX_RETRIES,
        "polygon_backoff_factor_s": 0.01,
        "polygon_backoff_jitter_s": 0.01,
        "polygon_backoff_max_s": 0.05,
        "polygon_timeout_s": 0.5,
        "polygon_retry_after_max_s": 1,
    }
    return PolygonClient.from_settings(Settings(**{**values, **overrides}))


def splits_page(results: list[dict[str, Any]], cursor: str | None = None) -> Reply:
    return Reply(body=reference_page("splits", results, cursor=cursor))


def dividends_page(results: list[dict[str, Any]], cursor: str | None = None) -> Reply:
    return Reply(body=reference_page("dividends", results, cursor=cursor))


def d(text: str) -> date:
    return date.fromisoformat(text)


def test_splits_and_dividends_are_read_with_every_field(fake_polygon: FakePolygon) -> None:
    fake_polygon.script_splits(
        "AAPL", splits_page([split("2014-06-09", 1, 7), split("2020-08-31", 1, 4)])
    )
    fake_polygon.script_dividends(
        "AAPL",
        dividends_page(
            [
                dividend("2024-02-09", 0.24),
                {  # only what is required: the rest takes the record's defaults
                    "cash_amount": 0.25,
                    "ex_dividend_date": "2024-05-10",
                    "ticker": "AAPL",
                },
            ]
        ),
    )
    result = client_for(fake_polygon).fetch_actions("AAPL", AssetClass.STOCK)

    assert result == ActionsResult(
        CorporateActions(
            splits=(Split(d("2014-06-09"), 1, 7), Split(d("2020-08-31"), 1, 4)),
            dividends=(
                Dividend(
                    ex_dividend_date=d("2024-02-09"),
                    cash_amount=0.24,
                    currency="USD",
                    declaration_date=d("2024-02-01"),
                    record_date=d("2024-02-12"),
                    pay_date=d("2024-02-15"),
                    dividend_type="CD",
                    frequency=4,
                ),
                Dividend(ex_dividend_date=d("2024-05-10"), cash_amount=0.25),
            ),
        ),
        vendor_requests=2,
    )
    assert [s.ratio for s in result.actions.splits] == [7.0, 4.0]
    (splits_request,) = fake_polygon.reference_requests("splits", "AAPL")
    (dividends_request,) = fake_polygon.reference_requests("dividends", "AAPL")
    assert splits_request.query == {
        "ticker": "AAPL", "limit": "1000", "order": "asc", "sort": "execution_date",
    }  # fmt: skip
    assert dividends_request.query == {
        "ticker": "AAPL", "limit": "1000", "order": "asc", "sort": "ex_dividend_date",
    }  # fmt: skip


def test_an_etf_has_actions_too(fake_polygon: FakePolygon) -> None:
    fake_polygon.script_dividends(
        "SPY", dividends_page([dividend("2024-03-15", 1.59, ticker="SPY")])
    )
    result = client_for(fake_polygon).fetch_actions("SPY", AssetClass.ETF)

    assert [x.cash_amount for x in result.actions.dividends] == [1.59]
    assert result.actions.splits == ()
    assert (result.vendor_requests, result.rejected) == (2, 0)


def test_both_endpoints_are_followed_over_next_url_with_the_key_only_in_the_header(
    fake_polygon: FakePolygon,
) -> None:
    fake_polygon.script_splits(
        "AAPL",
        splits_page([split("2005-02-28", 1, 2)], cursor="splits-2"),
        splits_page([split("2014-06-09", 1, 7), split("2020-08-31", 1, 4)]),
    )
    fake_polygon.script_dividends(
        "AAPL",
        dividends_page([dividend("2023-11-10", 0.24)], cursor="dividends-2"),
        dividends_page([dividend("2024-02-09", 0.24)]),
    )
    result = client_for(fake_polygon).fetch_actions("AAPL", AssetClass.STOCK)

    assert [s.execution_date.year for s in result.actions.splits] == [2005, 2014, 2020]
    assert [x.ex_dividend_date for x in result.actions.dividends] == [
        d("2023-11-10"), d("2024-02-09"),
    ]  # fmt: skip
    assert result.vendor_requests == 4
    first, second = fake_polygon.reference_requests("splits")
    assert first.query["ticker"] == "AAPL"
    assert second.query == {"cursor": "splits-2"}  # next_url as given: no key, nothing added
    _, second = fake_polygon.reference_requests("dividends")
    assert second.query == {"cursor": "dividends-2"}
    assert len(fake_polygon.requests) == 4
    assert {r.authorization for r in fake_polygon.requests} == {AUTHORIZATION}
    assert all(API_KEY not in str(r.query) for r in fake_polygon.requests)


def test_actions_come_back_oldest_first_with_the_last_record_sent_for_a_date(
    fake_polygon: FakePolygon,
) -> None:
    fake_polygon.script_splits(
        "AAPL",
        splits_page([split("2020-08-31", 1, 5), split("2014-06-09", 1, 7)], cursor="more"),
        splits_page([split("2020-08-31", 1, 4)]),  # a correction on the next page
    )
    fake_polygon.script_dividends(
        "AAPL",
        dividends_page(
            [
                dividend("2024-02-09", 0.23),
                dividend("2023-11-10", 0.24),
                dividend("2024-02-09", 0.24),
                # A special dividend on the regular one's ex-date is a second payment.
                dividend("2024-02-09", 1.00, dividend_type="SC", frequency=0),
            ]
        ),
    )
    actions = client_for(fake_polygon).fetch_actions("AAPL", AssetClass.STOCK).actions

    assert [(s.execution_date, s.split_to) for s in actions.splits] == [
        (d("2014-06-09"), 7), (d("2020-08-31"), 4),
    ]  # fmt: skip
    assert [(x.ex_dividend_date, x.dividend_type, x.cash_amount) for x in actions.dividends] == [
        (d("2023-11-10"), "CD", 0.24),
        (d("2024-02-09"), "CD", 0.24),
        (d("2024-02-09"), "SC", 1.00),
    ]


def test_malformed_actions_are_skipped_and_counted_with_a_reason(
    fake_polygon: FakePolygon, caplog: pytest.LogCaptureFixture
) -> None:
    missing_date = split("2000-01-01", 1, 2)
    del missing_date["execution_date"]
    no_split_to = split("2001-01-01", 1, 2)
    del no_split_to["split_to"]
    fake_polygon.script_splits(
        "AAPL",
        splits_page(
            [
                split("2014-06-09", 1, 7),
                split("2020-08-31", 0, 4),
                split("2021-01-04", 2, -1),
                no_split_to,
                split("2022-01-03", 1, None),
                split("2022-06-06", math.inf, 2),
                split("2022-07-01", 1e-300, 1e300),  # both positive, but the ratio overflows
                split("2022-08-01", "1", 2),
                missing_date,
                split("2023/01/03", 1, 2),
                split("2023-02-30", 1, 2),
                split("2023-03-01", 1, 2, ticker="MSFT"),
                "not a record",
            ]
        ),
    )
    no_ex_date = dividend("2024-01-01", 0.24)
    del no_ex_date["ex_dividend_date"]
    fake_polygon.script_dividends(
        "AAPL",
        dividends_page(
            [
                dividend("2024-02-09", -0.24),
                dividend("2024-03-01", 0),
                dividend("2024-04-01", math.nan),
                no_ex_date,
                dividend("2024-05-10", 0.25, pay_date="2024-05-32"),
                dividend("2024-06-03", 0.25, record_date=1717372800),
                dividend("2024-08-12", 0.25),
            ]
        ),
    )
    with caplog.at_level(logging.WARNING, logger="market_data.providers.polygon"):
        result = client_for(fake_polygon).fetch_actions("AAPL", AssetClass.STOCK)

    assert result.actions.splits == (Split(d("2014-06-09"), 1, 7),)
    assert [x.ex_dividend_date for x in result.actions.dividends] == [d("2024-08-12")]
    assert result.rejections == (
        "split 2020-08-31: split_from must be > 0",
        "split 2021-01-04: split_to must be > 0",
        "split 2001-01-01: split_to missing",
        "split 2022-01-03: split_to missing",
        "split 2022-06-06: split_from must be finite",
        "split 2022-07-01: split_to/split_from is out of range",
        "split 2022-08-01: split_from is not a number",
        "split #9: execution_date missing",
        "split 2023/01/03: execution_date is not a YYYY-MM-DD date: '2023/01/03'",
        "split 2023-02-30: execution_date is not a YYYY-MM-DD date: '2023-02-30'",
        "split 2023-03-01: ticker MSFT, asked for AAPL",
        "split #13: not an object",
        "dividend 2024-02-09: cash_amount must be >= 0",
        "dividend 2024-03-01: cash_amount 0",
        "dividend 2024-04-01: cash_amount must be finite",
        "dividend #4: ex_dividend_date missing",
        "dividend 2024-05-10: pay_date is not a YYYY-MM-DD date: '2024-05-32'",
        "dividend 2024-06-03: record_date is not a YYYY-MM-DD date: 1717372800",
    )
    assert result.rejected == len(result.rejections) == 18
    assert result.vendor_requests == 2
    assert any("18 malformed corporate actions" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_a_throttled_or_failing_vendor_is_retried_and_then_the_actions_arrive(
    fake_polygon: FakePolygon, status: int
) -> None:
    fake_polygon.script_splits(
        "AAPL",
        Reply(status, {"status": "ERROR", "error": "busy"}),
        splits_page([split("2020-08-31", 1, 4)]),
    )
    fake_polygon.script_dividends(
        "AAPL",
        Reply(status, {"status": "ERROR", "error": "busy"}),
        dividends_page([dividend("2024-02-09", 0.24)]),
    )
    result = client_for(fake_polygon).fetch_actions("AAPL", AssetClass.STOCK)

    assert len(result.actions.splits) == len(result.actions.dividends) == 1
    assert result.vendor_requests == 4 == len(fake_polygon.requests)


def test_retry_after_is_honoured(fake_polygon: FakePolygon) -> None:
    fake_polygon.script_splits(
        "AAPL",
        Reply(429, {"status": "ERROR", "error": "too many requests"}, {"Retry-After": "1"}),
        splits_page([]),
    )
    client_for(fake_polygon).fetch_actions("AAPL", AssetClass.STOCK)

    first, second = fake_polygon.reference_requests("splits")
    assert second.at - first.at >= 0.95, "Retry-After: 1 was not honoured"


@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_vendor_that_keeps_failing_raises_a_transient_error(
    fake_polygon: FakePolygon, status: int
) -> None:
    fake_polygon.script_splits("AAPL", Reply(status, {"status": "ERROR", "error": "busy"}))
    with pytest.raises(TransientVendorError, match=f"answered {status} after 3 attempts") as error:
        client_for(fake_polygon).fetch_actions("AAPL", AssetClass.STOCK)

    assert error.value.vendor_requests == MAX_RETRIES + 1 == len(fake_polygon.requests)
    assert fake_polygon.reference_requests("dividends") == []


def test_a_dividends_failure_counts_the_splits_requests_that_succeeded(
    fake_polygon: FakePolygon,
) -> None:
    fake_polygon.script_splits(
        "AAPL", splits_page([split("2005-02-28", 1, 2)], cursor="p2"), splits_page([])
    )
    fake_polygon.script_dividends("AAPL", Reply(502, "<html>Bad Gateway</html>"))
    with pytest.raises(TransientVendorError) as error:
        client_for(fake_polygon).fetch_actions("AAPL", AssetClass.STOCK)

    assert error.value.vendor_requests == 2 + MAX_RETRIES + 1 == len(fake_polygon.requests)


def test_a_vendor_that_keeps_timing_out_raises_a_transient_error(fake_polygon: FakePolygon) -> None:
    fake_polygon.script_splits("AAPL", Reply(body=reference_page("splits", []), delay_s=1.0))
    with pytest.raises(TransientVendorError, match="Timeout") as error:
        client_for(fake_polygon, polygon_timeout_s=0.2).fetch_actions("AAPL", AssetClass.STOCK)

    assert error.value.vendor_requests == MAX_RETRIES + 1
    assert API_KEY not in str(error.value)


def test_a_garbled_page_is_transient(fake_polygon: FakePolygon) -> None:
    fake_polygon.script_dividends("AAPL", Reply(200, '{"status":"OK","results":[{"cash_am'))
    with pytest.raises(TransientVendorError, match="not a dividends page"):
        client_for(fake_polygon).fetch_actions("AAPL", AssetClass.STOCK)


def test_not_authorized_is_permanent_and_not_retried(fake_polygon: FakePolygon) -> None:
    fake_polygon.script_splits(
        "AAPL",
        Reply(403, {"status": "NOT_AUTHORIZED", "message": "You are not entitled to this data."}),
    )
    with pytest.raises(PermanentVendorError, match=r"403.*NOT_AUTHORIZED.*not entitled") as error:
        client_for(fake_polygon).fetch_actions("AAPL", AssetClass.STOCK)

    assert error.value.vendor_requests == 1 == len(fake_polygon.requests)


def test_not_authorized_in_a_200_body_is_permanent_too(fake_polygon: FakePolygon) -> None:
    fake_polygon.script_dividends(
        "AAPL", Reply(body={"status": "NOT_AUTHORIZED", "message": "upgrade your plan"})
    )
    with pytest.raises(PermanentVendorError, match="upgrade your plan") as error:
        client_for(fake_polygon).fetch_actions("AAPL", AssetClass.STOCK)

    assert error.value.vendor_requests == 2  # the splits page, then the refusal


@pytest.mark.parametrize(
    ("symbol", "asset_class"), [("BTC-USD", AssetClass.CRYPTO), ("VIX", AssetClass.INDEX)]
)
def test_crypto_and_indices_have_no_actions_and_cost_no_request(
    fake_polygon: FakePolygon, symbol: str, asset_class: AssetClass
) -> None:
    result = client_for(fake_polygon).fetch_actions(symbol, asset_class)

    assert result == ActionsResult(CorporateActions())
    assert fake_polygon.requests == []


def test_a_next_url_to_another_host_is_refused_without_sending_the_key(
    fake_polygon: FakePolygon,
) -> None:
    elsewhere = FakePolygon()  # another port on loopback: another origin
    try:
        body = reference_page("splits", [split("2005-02-28", 1, 2)])
        body["next_url"] = f"{elsewhere.base_url}/v3/reference/splits?cursor=stolen"
        fake_polygon.script_splits("AAPL", Reply(body=body))
        with pytest.raises(PermanentVendorError, match="next_url points away") as error:
            client_for(fake_polygon).fetch_actions("AAPL", AssetClass.STOCK)
    finally:
        elsewhere.close()

    assert elsewhere.requests == []
    assert error.value.vendor_requests == 1
    assert fake_polygon.reference_requests("dividends") == []

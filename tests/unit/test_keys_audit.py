"""Audit events: sort keys, cursors and paging (on the in-memory log)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from market_data.errors import InvalidCursorError
from market_data.keys.audit import AuditEvent, decode_cursor, encode_cursor
from tests.key_fakes import InMemoryAuditLog

T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


def event(at: datetime, request_id: str = "r", key_id: str = "k1") -> AuditEvent:
    return AuditEvent(
        key_id=key_id,
        at=at,
        request_id=request_id,
        action="list_api_keys",
        outcome=200,
        method="GET",
        path="/api/v1/admin/api-keys",
    )


def test_the_sort_key_is_fixed_width_utc_so_text_order_is_time_order() -> None:
    assert event(T0).sort_key == "2030-01-02T03:04:05.000000Z#r"
    assert event(T0 + timedelta(microseconds=7)).sort_key == "2030-01-02T03:04:05.000007Z#r"
    times = [T0 + timedelta(microseconds=n * 999_983) for n in range(50)]
    assert sorted(event(t).sort_key for t in times) == [event(t).sort_key for t in times]


def test_a_cursor_round_trips_and_anything_else_is_refused() -> None:
    sort_key = event(T0, "abc-123").sort_key
    assert decode_cursor(encode_cursor(sort_key)) == sort_key
    for bad in ("", "!!!", "bm90IGEgc29ydCBrZXk", encode_cursor("2030-01-02#x")):
        with pytest.raises(InvalidCursorError):
            decode_cursor(bad)


def test_pages_are_newest_first_and_the_last_page_has_no_cursor() -> None:
    log = InMemoryAuditLog()
    for n in range(5):
        log.record(event(T0 + timedelta(seconds=n), f"r{n}"))
    log.record(event(T0, "other", key_id="k2"))
    first = log.page("k1", limit=2)
    assert [e.request_id for e in first.events] == ["r4", "r3"]
    second = log.page("k1", limit=2, cursor=first.next_cursor)
    assert [e.request_id for e in second.events] == ["r2", "r1"]
    last = log.page("k1", limit=2, cursor=second.next_cursor)
    assert [e.request_id for e in last.events] == ["r0"]
    assert last.next_cursor is None

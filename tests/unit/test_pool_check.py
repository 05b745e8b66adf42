"""The pool checks a connection before handing it out only when it sat idle a while."""

from __future__ import annotations

from typing import Any

import pytest
from psycopg_pool import ConnectionPool

from market_data import db


class FakeConnection:
    pass


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    seen: list[Any] = []
    monkeypatch.setattr(ConnectionPool, "check_connection", staticmethod(seen.append))
    return seen


def test_a_connection_never_handed_out_is_checked(checked: list[Any]) -> None:
    conn = FakeConnection()
    db.check_if_idle(conn)  # type: ignore[arg-type]
    assert checked == [conn]


def test_one_returned_a_moment_ago_is_handed_out_without_a_round_trip(
    checked: list[Any],
) -> None:
    conn = FakeConnection()
    db._note_return(conn)  # type: ignore[arg-type]
    db.check_if_idle(conn)  # type: ignore[arg-type]
    assert checked == []


def test_one_idle_longer_than_the_threshold_is_checked(
    checked: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = FakeConnection()
    db._note_return(conn)  # type: ignore[arg-type]
    monkeypatch.setattr(db, "CHECK_AFTER_IDLE_S", 0.0)
    db.check_if_idle(conn)  # type: ignore[arg-type]
    assert checked == [conn]


def test_a_connection_the_pool_just_opened_is_handed_out_without_a_round_trip(
    checked: list[Any], settings: Any
) -> None:
    pool = db.create_pool(settings, max_size=1)
    try:
        with pool.connection() as conn:
            conn.execute("SELECT 1")
    finally:
        pool.close()
    assert checked == []

"""SnapStart hooks: nothing shared survives into a snapshot or out of a restore."""

from __future__ import annotations

import random
from typing import Any

import pytest
import snapshot_restore_py

from market_data import db, snapstart, tracing
from market_data.keys import aws as keys_aws


class FakePool:
    closed = False

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> FakePool:
    fake = FakePool()
    monkeypatch.setattr(db, "_pool", fake)
    return fake


@pytest.fixture
def cached_client(monkeypatch: pytest.MonkeyPatch) -> dict[Any, Any]:
    clients: dict[Any, Any] = {("us-east-1", None, 0.25, 0.5): object()}
    monkeypatch.setattr(keys_aws, "_clients", clients)
    return clients


def test_registering_twice_registers_each_hook_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshot_restore_py, "_before_snapshot_registry", [])
    monkeypatch.setattr(snapshot_restore_py, "_after_restore_registry", [])
    assert snapstart.register() and snapstart.register()
    assert [f for f, _, _ in snapshot_restore_py.get_before_snapshot()] == [
        snapstart.before_snapshot
    ]
    assert [f for f, _, _ in snapshot_restore_py.get_after_restore()] == [snapstart.after_restore]


def test_the_api_handler_registers_the_hooks(settings: Any) -> None:
    # With the test database's settings, as every other test that imports the handler.
    import api.handler  # noqa: F401

    assert snapstart.before_snapshot in [f for f, _, _ in snapshot_restore_py.get_before_snapshot()]
    assert snapstart.after_restore in [f for f, _, _ in snapshot_restore_py.get_after_restore()]


def test_before_snapshot_closes_the_pool_and_drops_aws_clients(
    pool: FakePool, cached_client: dict[Any, Any]
) -> None:
    snapstart.before_snapshot()
    assert pool.closed and db._pool is None
    assert cached_client == {}


def test_after_restore_reseeds_random_and_drops_clients_and_credentials(
    pool: FakePool, cached_client: dict[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    random.seed(17)  # as if every restored copy resumed from the same state
    snapshot_state = random.getstate()
    forgotten: list[bool] = []
    monkeypatch.setattr(tracing, "forget_credentials", lambda: forgotten.append(True))
    snapstart.after_restore()
    assert random.getstate() != snapshot_state
    assert pool.closed and db._pool is None
    assert cached_client == {}
    assert forgotten == [True]


def test_after_restore_empties_the_powertools_secret_cache(
    pool: FakePool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aws_lambda_powertools.utilities import parameters

    cleared: list[bool] = []
    monkeypatch.setattr(parameters, "clear_caches", lambda: cleared.append(True))
    snapstart.after_restore()
    assert cleared == [True]

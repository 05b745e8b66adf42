"""Key management logic on the in-memory store."""

from __future__ import annotations

from datetime import timedelta

import pytest

from market_data.errors import KeyConflict, KeyNotFound
from market_data.keys.admin import InvalidKeyRequest
from market_data.keys.models import KeyState, Scope
from market_data.keys.services import KeyServices
from tests.key_fakes import Fakes, ManualClock, memory_services


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def setup(clock: ManualClock) -> tuple[KeyServices, Fakes]:
    return memory_services(clock)


def test_creating_a_key_stores_its_hash_and_returns_the_key_once(
    setup: tuple[KeyServices, Fakes],
) -> None:
    services, fakes = setup
    issued = services.admin.create(name="dashboards", created_by="key:abc")
    (stored,) = fakes.store.items.values()
    assert stored == issued.record
    assert issued.api_key not in repr(stored)
    assert issued.api_key not in repr(issued)
    assert stored.preview == f"mdw_…{issued.api_key[-4:]}"
    assert stored.scopes == (Scope.READ,)
    assert stored.created_by == "key:abc"


def test_scopes_are_de_duplicated_in_a_stable_order(setup: tuple[KeyServices, Fakes]) -> None:
    services, _ = setup
    issued = services.admin.create(
        name="ops", created_by="t", scopes=[Scope.ADMIN, Scope.READ, Scope.ADMIN]
    )
    assert issued.record.scopes == (Scope.READ, Scope.ADMIN)


def test_a_key_needs_a_scope_and_a_future_expiry(
    setup: tuple[KeyServices, Fakes], clock: ManualClock
) -> None:
    services, _ = setup
    with pytest.raises(InvalidKeyRequest, match="scope"):
        services.admin.create(name="x", created_by="t", scopes=[])
    with pytest.raises(InvalidKeyRequest, match="future"):
        services.admin.create(name="x", created_by="t", expires_at=clock())


def test_revoking_and_restoring_a_key(setup: tuple[KeyServices, Fakes], clock: ManualClock) -> None:
    services, _ = setup
    key_id = services.admin.create(name="x", created_by="t").record.key_id
    revoked = services.admin.update(key_id, active=False)
    assert revoked.state(clock()) is KeyState.REVOKED
    assert revoked.revoked_at == clock()
    clock.advance(minutes=1)
    again = services.admin.update(key_id, active=False)
    assert again.revoked_at == revoked.revoked_at  # revoking twice keeps the first time
    restored = services.admin.update(key_id, active=True)
    assert restored.state(clock()) is KeyState.ACTIVE


def test_renaming_leaves_the_state_alone(setup: tuple[KeyServices, Fakes]) -> None:
    services, _ = setup
    key_id = services.admin.create(name="x", created_by="t").record.key_id
    renamed = services.admin.update(key_id, name="renamed")
    assert renamed.name == "renamed"
    assert services.admin.get(key_id).name == "renamed"


def test_an_expired_key_cannot_be_restored(
    setup: tuple[KeyServices, Fakes], clock: ManualClock
) -> None:
    services, _ = setup
    key_id = services.admin.create(
        name="x", created_by="t", expires_at=clock() + timedelta(hours=1)
    ).record.key_id
    services.admin.update(key_id, active=False)
    clock.advance(hours=2)
    with pytest.raises(KeyConflict, match="expired"):
        services.admin.update(key_id, active=True)


def test_a_key_cannot_revoke_or_delete_itself(setup: tuple[KeyServices, Fakes]) -> None:
    services, _ = setup
    key_id = services.admin.create(name="x", created_by="t").record.key_id
    with pytest.raises(KeyConflict):
        services.admin.update(key_id, active=False, acting_key_id=key_id)
    with pytest.raises(KeyConflict):
        services.admin.delete(key_id, acting_key_id=key_id)
    services.admin.update(key_id, name="still allowed", acting_key_id=key_id)


def test_deleting_removes_the_key_and_unknown_ids_are_not_found(
    setup: tuple[KeyServices, Fakes],
) -> None:
    services, fakes = setup
    key_id = services.admin.create(name="x", created_by="t").record.key_id
    services.admin.delete(key_id)
    assert fakes.store.items == {}
    for call in (
        lambda: services.admin.get(key_id),
        lambda: services.admin.delete(key_id),
        lambda: services.admin.update(key_id, name="y"),
    ):
        with pytest.raises(KeyNotFound):
            call()


def test_listing_is_newest_first_and_can_leave_out_inactive_keys(
    setup: tuple[KeyServices, Fakes], clock: ManualClock
) -> None:
    services, _ = setup
    old = services.admin.create(name="old", created_by="t").record.key_id
    clock.advance(minutes=1)
    services.admin.create(name="expiring", created_by="t", expires_at=clock() + timedelta(hours=1))
    clock.advance(minutes=1)
    services.admin.create(name="new", created_by="t")
    services.admin.update(old, active=False)
    assert [r.name for r in services.admin.list()] == ["new", "expiring", "old"]
    clock.advance(hours=2)
    assert [r.name for r in services.admin.list(active_only=True)] == ["new"]

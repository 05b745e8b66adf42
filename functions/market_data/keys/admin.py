"""Managing keys: issue, list, rename, revoke/restore, delete.

Plain logic on the KeyStore Protocol; the HTTP routes and the bootstrap CLI
both call it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from market_data.errors import InvalidKeyRequest, KeyConflict, KeyNotFound
from market_data.keys.format import KeyHasher, generate_key, preview
from market_data.keys.models import ApiKeyRecord, Scope
from market_data.keys.store import KeyStore

DEFAULT_SCOPES = (Scope.READ,)


@dataclass(frozen=True, slots=True)
class IssuedKey:
    record: ApiKeyRecord
    # The only place the key exists after creation; repr=False keeps it out of
    # logs and tracebacks that print the object.
    api_key: str = field(repr=False)


def normalise_scopes(scopes: Iterable[Scope]) -> tuple[Scope, ...]:
    """De-duplicated, in a stable order (read before admin)."""
    wanted = set(scopes)
    return tuple(s for s in Scope if s in wanted)


class KeyAdmin:
    def __init__(
        self,
        store: KeyStore,
        hasher: KeyHasher,
        clock: Callable[[], datetime],
        *,
        on_change: Callable[[str], None] = lambda key_hash: None,
    ) -> None:
        self._store = store
        self._hasher = hasher
        self._clock = clock
        self._on_change = on_change  # e.g. drop the key from this instance's auth cache

    def create(
        self,
        *,
        name: str,
        created_by: str,
        scopes: Iterable[Scope] = DEFAULT_SCOPES,
        expires_at: datetime | None = None,
        rate_limit_per_minute: int | None = None,
    ) -> IssuedKey:
        now = self._clock()
        chosen = normalise_scopes(scopes)
        if not chosen:
            raise InvalidKeyRequest("scopes: at least one scope is required")
        if expires_at is not None and expires_at <= now:
            raise InvalidKeyRequest("expires_at: must be in the future")
        api_key = generate_key()
        record = ApiKeyRecord(
            key_hash=self._hasher.hash(api_key),
            key_id=uuid.uuid4().hex,
            name=name,
            scopes=chosen,
            preview=preview(api_key),
            created_at=now,
            created_by=created_by,
            expires_at=expires_at,
            rate_limit_per_minute=rate_limit_per_minute,
        )
        self._store.add(record)
        return IssuedKey(record, api_key)

    def list(self, *, active_only: bool = False) -> list[ApiKeyRecord]:
        now = self._clock()
        records = self._store.list_all()
        if active_only:
            records = [r for r in records if r.is_active(now)]
        return sorted(records, key=lambda r: (r.created_at, r.key_id), reverse=True)

    def get(self, key_id: str) -> ApiKeyRecord:
        record = self._store.get_by_id(key_id)
        if record is None:
            raise KeyNotFound(key_id)
        return record

    def exists(self, key_id: str) -> bool:
        return self._store.get_by_id(key_id) is not None

    def update(
        self,
        key_id: str,
        *,
        active: bool | None = None,
        name: str | None = None,
        acting_key_id: str | None = None,
    ) -> ApiKeyRecord:
        """Rename, revoke (active=False) or restore (active=True) a key."""
        record = self.get(key_id)
        now = self._clock()
        changes: dict[str, object] = {}
        if name is not None:
            changes["name"] = name
        if active is False and record.revoked_at is None:
            if key_id == acting_key_id:
                raise KeyConflict("a key cannot revoke itself; use another admin key")
            changes["revoked_at"] = now
        if active is True and record.revoked_at is not None:
            changes["revoked_at"] = None
        expired = record.expires_at is not None and record.expires_at <= now
        if active is True and expired:
            raise KeyConflict("the key has expired and cannot be restored; create a new key")
        if not changes:
            return record
        updated = record.model_copy(update=changes)
        self._store.save(updated)
        self._on_change(record.key_hash)
        return updated

    def delete(self, key_id: str, *, acting_key_id: str | None = None) -> None:
        """Delete the key for good (its audit trail stays until its TTL)."""
        if key_id == acting_key_id:
            raise KeyConflict("a key cannot delete itself; use another admin key")
        record = self.get(key_id)
        if not self._store.delete(record.key_hash):
            raise KeyNotFound(key_id)
        self._on_change(record.key_hash)

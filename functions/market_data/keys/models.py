"""Records the key logic works on. No secrets: a record holds the key's hash only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Scope(StrEnum):
    READ = "read"  # the public /api/v1 data routes, when REQUIRE_READ_KEY is on
    ADMIN = "admin"  # /api/v1/admin/*


class KeyState(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"


class ApiKeyRecord(BaseModel):
    """One item of the keys table."""

    model_config = ConfigDict(frozen=True)

    key_hash: str
    key_id: str
    name: str
    scopes: tuple[Scope, ...]
    preview: str
    created_at: datetime
    created_by: str
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None
    rate_limit_per_minute: int | None = None

    def state(self, now: datetime) -> KeyState:
        if self.revoked_at is not None:
            return KeyState.REVOKED
        if self.expires_at is not None and self.expires_at <= now:
            return KeyState.EXPIRED
        return KeyState.ACTIVE

    def is_active(self, now: datetime) -> bool:
        return self.state(now) is KeyState.ACTIVE


@dataclass(frozen=True, slots=True)
class Principal:
    """Who made an authenticated request; what routes receive from the auth dependency."""

    key_id: str
    name: str
    scopes: frozenset[Scope]

    def has(self, scope: Scope) -> bool:
        return scope in self.scopes

    @classmethod
    def of(cls, record: ApiKeyRecord) -> Principal:
        return cls(record.key_id, record.name, frozenset(record.scopes))

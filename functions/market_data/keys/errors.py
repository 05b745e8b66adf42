"""What can go wrong with keys, as domain exceptions (api.auth maps them to HTTP)."""

from __future__ import annotations

from typing import Literal

RejectReason = Literal["missing", "malformed", "unknown", "revoked", "expired"]


class KeyRejected(Exception):
    """No valid key: missing, not a key, unknown, revoked or expired (HTTP 401)."""

    def __init__(self, reason: RejectReason, key_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason: RejectReason = reason
        self.key_id = key_id


class KeyStoreUnavailable(Exception):
    """DynamoDB failed, throttled or is misconfigured; authentication fails closed (503)."""


class KeyNotFound(Exception):
    pass


class KeyConflict(Exception):
    """The change is not allowed in the key's current state (HTTP 409)."""


class InvalidCursor(ValueError):
    pass

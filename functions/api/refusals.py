"""The key check's answers when it says no, in one place: 401, 403, 429 and the 503s.

Each is a `Refusal`: the problem document to answer with, and what the audit
event of the refused call says (why, and which key, when one was identified).
"""

from __future__ import annotations

import logging

from api.problems import ProblemError
from market_data.errors import KeyStoreUnavailable, RejectReason
from market_data.keys.models import Scope
from market_data.keys.ratelimit import RateDecision

logger = logging.getLogger(__name__)

KEY_HEADER = "X-API-Key"
CHALLENGE = f'ApiKey realm="market-data-warehouse", header="{KEY_HEADER}"'
KEY_STORE_RETRY_AFTER_SECONDS = 5
AUDIT_RETRY_AFTER_SECONDS = 5

_REJECTED: dict[RejectReason, str] = {
    "missing": f"The {KEY_HEADER} header is required.",
    "malformed": "The API key is not valid.",
    "unknown": "The API key is not valid.",
    "revoked": "The API key has been revoked.",
    "expired": "The API key has expired.",
}


class Refusal(Exception):
    """A call refused before its route ran: the answer, and what its audit event says."""

    def __init__(
        self,
        problem: ProblemError,
        *,
        detail: str,
        key_id: str | None = None,
        failed_authentication: bool = False,
        rate: RateDecision | None = None,
    ) -> None:
        super().__init__(detail)
        self.problem = problem
        self.detail = detail
        self.key_id = key_id
        # No valid key, or not the scope (401, 403): audited wherever it happens.
        self.failed_authentication = failed_authentication
        self.rate = rate  # the count that refused it, for the rate-limit headers


def unauthorized(reason: RejectReason, key_id: str | None) -> Refusal:
    problem = ProblemError(
        401, _REJECTED[reason], slug="unauthorized", headers={"WWW-Authenticate": CHALLENGE}
    )
    return Refusal(problem, detail=f"key {reason}", key_id=key_id, failed_authentication=True)


def forbidden(scope: Scope, key_id: str) -> Refusal:
    problem = ProblemError(
        403,
        f"This API key lacks the '{scope}' scope.",
        slug="forbidden",
        headers={"WWW-Authenticate": f'{CHALLENGE}, error="insufficient_scope", scope="{scope}"'},
    )
    return Refusal(
        problem, detail=f"scope {scope} missing", key_id=key_id, failed_authentication=True
    )


def rate_limited(decision: RateDecision, key_id: str) -> Refusal:
    problem = ProblemError(
        429,
        f"This API key is limited to {decision.limit} requests per minute.",
        slug="rate-limited",
        headers={"Retry-After": str(decision.retry_after)},
    )
    return Refusal(problem, detail="rate limited", key_id=key_id, rate=decision)


def key_store_down(exc: KeyStoreUnavailable) -> ProblemError:
    """503: keys or counters could not be read; authentication fails closed."""
    logger.error("key store unavailable: %s", exc)
    return ProblemError(
        503,
        "API keys cannot be checked right now; retry shortly.",
        slug="key-store-unavailable",
        headers={"Retry-After": str(KEY_STORE_RETRY_AFTER_SECONDS)},
    )


def key_store_refusal(exc: KeyStoreUnavailable, what: str, key_id: str | None = None) -> Refusal:
    return Refusal(key_store_down(exc), detail=f"{what} unavailable", key_id=key_id)


def audit_unavailable() -> ProblemError:
    """503: an admin change whose audit event could not be written is not made."""
    return ProblemError(
        503,
        "The audit trail cannot be written right now, so nothing was changed; retry shortly.",
        slug="audit-unavailable",
        headers={"Retry-After": str(AUDIT_RETRY_AFTER_SECONDS)},
    )

"""Per-key rate limits at the HTTP edge: the count, and the X-RateLimit-* headers.

The counting itself is market_data.keys.ratelimit's (one conditional DynamoDB
update per request, shared by every instance); this module turns its decision
into a refusal (429, or 503 when the counter cannot be reached) and puts the
headers on every keyed response, errors included.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.audit import request_context
from api.refusals import key_store_refusal, rate_limited
from market_data.errors import KeyStoreUnavailable
from market_data.keys.models import ApiKeyRecord
from market_data.keys.ratelimit import RateDecision
from market_data.keys.services import KeyServices


def count_request(services: KeyServices, record: ApiKeyRecord) -> RateDecision:
    """Count this request against the key's limit; Refusal over it (429) or blind (503)."""
    try:
        decision = services.rate_limiter.check(record)
    except KeyStoreUnavailable as exc:
        raise key_store_refusal(exc, "rate limiter", record.key_id) from None
    if not decision.allowed:
        raise rate_limited(decision, record.key_id)
    return decision


class RateLimitHeaders:
    """Adds the request's rate decision to its response as X-RateLimit-* headers.

    A pure ASGI middleware, so the error responses of the exception handlers get
    them too.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        context = request_context(scope)

        async def send_with_limits(message: Message) -> None:
            if message["type"] == "http.response.start" and context.rate is not None:
                headers = MutableHeaders(scope=message)
                for name, value in context.rate.headers().items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_limits)

"""A fake Polygon aggregates API on loopback: real sockets, scripted answers.

Each ticker gets a script, a list of replies served in order (the last one
repeats); `FakePolygon.requests` records what the client actually sent, so a
test can check retries, pagination and that the key travelled with next_url.

Like Polygon with its own client, the fake takes the key only from an
`Authorization: Bearer` header; it refuses a request that carries `apiKey` in
the query string (as real Polygon would not), so a key that slips back into
URLs, and from there into logs, fails the tests.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

BASE_PLACEHOLDER = "{base}"
API_KEY = "test-polygon-key"
AUTHORIZATION = f"Bearer {API_KEY}"


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None  # JSON-serialisable, or str sent as-is
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # sleep before answering (a read timeout on the client)


@dataclass(frozen=True)
class Seen:
    ticker: str
    path: str
    query: dict[str, str]
    authorization: str | None  # the Authorization header as sent
    at: float


def bar(
    at: datetime, o: float, h: float, low: float, c: float, v: float = 1000.0, **extra: Any
) -> dict[str, Any]:
    """One aggregate as Polygon sends it (t in ms, window start)."""
    millis = int(at.timestamp() * 1000)
    fields = {"t": millis, "o": o, "h": h, "l": low, "c": c, "v": v, "vw": (h + low) / 2, "n": 10}
    return {**fields, **extra}


def page(
    results: list[dict[str, Any]] | None,
    *,
    cursor: str | None = None,
    ticker: str = "AAPL",
    status: str = "OK",
    omit_results: bool = False,
) -> dict[str, Any]:
    count = len(results or [])
    body: dict[str, Any] = {
        "status": status,
        "ticker": ticker,
        "adjusted": True,
        "queryCount": count,
        "resultsCount": count,
        "request_id": "fake",
    }
    if not omit_results:
        body["results"] = results
    if cursor is not None:
        # The real next_url repeats the path and carries a cursor, never a key.
        path = f"/v2/aggs/ticker/{ticker}/range/1/day/0/1"
        body["next_url"] = f"{BASE_PLACEHOLDER}{path}?cursor={cursor}"
    return body


class FakePolygon:
    def __init__(self) -> None:
        self.scripts: dict[str, list[Reply]] = defaultdict(list)
        self.requests: list[Seen] = []
        self._served: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._handle(self)

            def log_message(self, fmt: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        host, port = self._server.server_address[:2]
        self.base_url = f"http://{host}:{port}"

    def script(self, ticker: str, *replies: Reply) -> None:
        self.scripts[ticker].extend(replies)

    def requests_for(self, ticker: str) -> list[Seen]:
        return [r for r in self.requests if r.ticker == ticker]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        segments = parts.path.split("/")
        ticker = unquote(segments[4]) if len(segments) > 4 else ""
        authorization = request.headers.get("Authorization")
        with self._lock:
            seen = Seen(ticker, parts.path, query, authorization, time.monotonic())
            self.requests.append(seen)
            script = self.scripts.get(ticker) or [Reply(404, {"status": "NOT_FOUND"})]
            index = min(self._served[ticker], len(script) - 1)
            self._served[ticker] += 1
        reply = script[index]
        if any(name.lower() == "apikey" for name in query):
            error = "apiKey in the query string: send the key in the Authorization header"
            reply = Reply(400, {"status": "ERROR", "error": error})
        elif authorization != AUTHORIZATION:
            reply = Reply(401, {"status": "ERROR", "error": "Unknown API Key"})
        if reply.delay_s:
            time.sleep(reply.delay_s)
        body = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
        payload = body.replace(BASE_PLACEHOLDER, self.base_url).encode()
        try:
            request.send_response(reply.status)
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                request.send_header(name, value)
            request.end_headers()
            request.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out and hung up, as it should


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]

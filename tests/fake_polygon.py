"""A fake Polygon (aggregates, splits, dividends) on loopback: real sockets, scripted answers.

Each ticker gets a script per endpoint, a list of replies served in order (the
last one repeats); `FakePolygon.requests` records what the client actually
sent, so a test can check retries, pagination and that the key travelled with
next_url. The reference endpoints take the ticker from `?ticker=`; their
next_url carries only an opaque cursor, as Polygon's does, which the fake
remembers so the next page comes from the same script. A ticker with no splits
or dividends script has none (an empty page, as Polygon answers).

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

from market_data.settings import Settings

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
        "adjusted": False,
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


def split(execution_date: str, split_from: float, split_to: float, **extra: Any) -> dict[str, Any]:
    """One element of /v3/reference/splits `results`."""
    fields = {
        "execution_date": execution_date,
        "split_from": split_from,
        "split_to": split_to,
        "ticker": "AAPL",
        "id": f"E{execution_date}",
    }
    return {**fields, **extra}


def dividend(ex_dividend_date: str, cash_amount: float, **extra: Any) -> dict[str, Any]:
    """One element of /v3/reference/dividends `results` (a regular quarterly USD dividend)."""
    fields = {
        "cash_amount": cash_amount,
        "currency": "USD",
        "declaration_date": "2024-02-01",
        "dividend_type": "CD",
        "ex_dividend_date": ex_dividend_date,
        "frequency": 4,
        "pay_date": "2024-02-15",
        "record_date": "2024-02-12",
        "ticker": "AAPL",
        "id": f"E{ex_dividend_date}",
    }
    return {**fields, **extra}


def reference_page(
    endpoint: str,
    results: list[dict[str, Any]] | None,
    *,
    cursor: str | None = None,
    status: str = "OK",
) -> dict[str, Any]:
    """A /v3/reference/{endpoint} page ("splits" or "dividends")."""
    body: dict[str, Any] = {"status": status, "request_id": "fake", "results": results}
    if cursor is not None:
        body["next_url"] = f"{BASE_PLACEHOLDER}/v3/reference/{endpoint}?cursor={cursor}"
    return body


REFERENCE = "/v3/reference/"


class FakePolygon:
    def __init__(self) -> None:
        # Keyed by ticker for aggregates, "splits:AAPL" / "dividends:AAPL" for the rest.
        self.scripts: dict[str, list[Reply]] = defaultdict(list)
        self.requests: list[Seen] = []
        self._served: dict[str, int] = defaultdict(int)
        self._cursors: dict[str, str] = {}  # a next_url's cursor -> the script it continues
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

    def settings(self, base: Settings, **overrides: Any) -> Settings:
        """`base` pointed at this fake (no retries, no pacing to speak of), with `overrides`."""
        return base.model_copy(
            update={
                "market_data_provider": "polygon",
                "polygon_base_url": self.base_url,
                "polygon_api_key": API_KEY,
                "polygon_max_retries": 0,
                "polygon_requests_per_minute": 60000,
                **overrides,
            }
        )

    def script(self, ticker: str, *replies: Reply) -> None:
        self.scripts[ticker].extend(replies)

    def replace_script(self, ticker: str, *replies: Reply) -> None:
        """From now on the ticker gets these replies, from the first (a vendor that recovers)."""
        with self._lock:
            self.scripts[ticker] = list(replies)
            self._served[ticker] = 0

    def script_splits(self, ticker: str, *replies: Reply) -> None:
        self.scripts[f"splits:{ticker}"].extend(replies)

    def script_dividends(self, ticker: str, *replies: Reply) -> None:
        self.scripts[f"dividends:{ticker}"].extend(replies)

    def requests_for(self, ticker: str) -> list[Seen]:
        """Aggregates requests for the ticker."""
        return [r for r in self.requests if r.ticker == ticker and not r.path.startswith(REFERENCE)]

    def reference_requests(self, endpoint: str, ticker: str | None = None) -> list[Seen]:
        """Requests to /v3/reference/{endpoint}, for one ticker or all."""
        path = f"{REFERENCE}{endpoint}"
        return [r for r in self.requests if r.path == path and ticker in (None, r.ticker)]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        segments = parts.path.split("/")
        authorization = request.headers.get("Authorization")
        with self._lock:
            if parts.path.startswith(REFERENCE):
                endpoint = segments[3]
                key = self._cursors.get(query.get("cursor", "")) or (
                    f"{endpoint}:{query.get('ticker', '')}"
                )
                ticker = key.partition(":")[2]
                default = Reply(body=reference_page(endpoint, []))
            else:
                key = ticker = unquote(segments[4]) if len(segments) > 4 else ""
                default = Reply(404, {"status": "NOT_FOUND"})
            seen = Seen(ticker, parts.path, query, authorization, time.monotonic())
            self.requests.append(seen)
            script = self.scripts.get(key) or [default]
            index = min(self._served[key], len(script) - 1)
            self._served[key] += 1
            reply = script[index]
            if isinstance(reply.body, dict) and reply.body.get("next_url"):
                cursor = parse_qs(urlsplit(reply.body["next_url"]).query).get("cursor")
                if cursor:
                    self._cursors[cursor[-1]] = key
        if any(name.lower() == "apikey" for name in query):
            error = "apiKey in the query string: send the key in the Authorization header"
            reply = Reply(400, {"status": "ERROR", "error": error})
        elif authorization != AUTHORIZATION:
            reply = Reply(401, {"status": "ERROR", "error": "Unknown API Key"})
        elif (
            parts.path.startswith("/v2/aggs/")
            and "adjusted" in query
            and (query["adjusted"] != "false")
        ):
            # The warehouse stores what traded: a split-adjusted request is a regression.
            error = "this fake serves raw aggregates only: ask with adjusted=false"
            reply = Reply(400, {"status": "ERROR", "error": error})
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

"""The first-response floor: a bare FastAPI + Mangum app answering the same request.

Run as a script in a fresh interpreter by bench.firstresponse: it imports only
FastAPI, Mangum, psycopg and orjson, runs the API's own page query with one
psycopg connection and returns the rows with orjson, through Mangum with the
same API Gateway event. Prints "ok" when the first response is back.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import orjson
import psycopg
from fastapi import FastAPI
from fastapi.responses import Response
from mangum import Mangum

app = FastAPI()
_conn: list[Any] = []

SQL = (
    "SELECT symbol, timeframe, time, open, high, low, close, volume, vwap, trades, source, "
    "validated, quality_score, validation_notes, gap_detected, volume_anomaly, fetched_at "
    "FROM bars WHERE symbol = %s AND timeframe = %s AND time >= %s AND time < %s "
    "AND validated AND quality_score >= 0.85 ORDER BY time LIMIT %s"
)


@app.get("/api/v1/historical/{symbol}")
def historical(symbol: str, timeframe: str, start: str, end: str, limit: int) -> Response:
    if not _conn:
        _conn.append(psycopg.connect(os.environ["DATABASE_URL"], autocommit=True))
    rows = _conn[0].execute(SQL, (symbol, timeframe, start, end, limit + 1)).fetchall()
    return Response(orjson.dumps(rows[:limit], option=orjson.OPT_UTC_Z))


handler = Mangum(app, lifespan="off")

if __name__ == "__main__":
    event = json.loads(sys.argv[1])
    response = handler(event, None)  # type: ignore[arg-type]
    assert response["statusCode"] == 200, response
    sys.stdout.write("ok\n")
    sys.stdout.flush()

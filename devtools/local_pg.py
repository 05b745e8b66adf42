"""An embedded PostgreSQL 16 (the pgserver wheel): no system server, no Docker."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def start_postgres(data_dir: Path) -> tuple[str, Any]:
    """Start (or reuse) a server in data_dir; returns (DATABASE_URL, server handle).

    The server stops when the process that started it exits. DATABASE_URL in the
    environment wins, so CI or a developer can point everything at another server.
    """
    if url := os.environ.get("DATABASE_URL"):
        return url, None
    import pgserver  # the wheel is large; only local runs need it

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir, cleanup_mode="stop")  # type: ignore[attr-defined]
    server.psql("SELECT 1")
    return server.get_uri(), server

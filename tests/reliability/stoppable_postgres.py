"""A PostgreSQL of a test's own, which the test may stop and start again.

It runs pgserver's binaries (the same PostgreSQL 16 as the rest of the suite)
on a Unix socket in its own data directory, so stopping it hurts no other test.
The socket path depends only on the directory, so the URL survives a restart.
"""

from __future__ import annotations

import atexit
from pathlib import Path
from typing import Any

import pgserver
from pgserver._commands import pg_ctl
from pgserver.utils import PostmasterInfo


class StoppablePostgres:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self._server: Any = pgserver.get_server(data_dir, cleanup_mode="stop")  # type: ignore[attr-defined]
        self.url: str = self._server.get_uri()

    @property
    def running(self) -> bool:
        info = PostmasterInfo.read_from_pgdata(self.data_dir)
        return bool(info is not None and info.is_running())

    def stop(self) -> None:
        """Stop at once, as a crash or a failover would: open connections just break."""
        pg_ctl(
            ["-w", "-m", "immediate", "stop"], pgdata=self.data_dir, user=self._server.system_user
        )

    def start(self) -> None:
        self._server.ensure_postgres_running()
        assert self._server.get_uri() == self.url, "the server came back somewhere else"

    def close(self) -> None:
        atexit.unregister(self._server._cleanup)  # stopped here, not again at exit
        if self.running:
            pg_ctl(
                ["-w", "-m", "fast", "stop"], pgdata=self.data_dir, user=self._server.system_user
            )

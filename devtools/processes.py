"""Stopping the child processes the dev tools and the tests start (uvicorn serving the API)."""

from __future__ import annotations

import subprocess
from typing import Any

STOP_TIMEOUT_S = 10.0


def stop_process(process: subprocess.Popen[Any], timeout_s: float = STOP_TIMEOUT_S) -> None:
    """Ask the process to exit (SIGTERM), kill it if it is still running after `timeout_s`.

    Either way it is waited for, so no zombie is left behind; a process that has
    already exited is only reaped.
    """
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
            return
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait()

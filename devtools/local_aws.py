"""Emulated DynamoDB and SQS (moto's server) on loopback."""

from __future__ import annotations

import os
import socket

from moto.server import ThreadedMotoServer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_aws(port: int | None = None) -> tuple[str, ThreadedMotoServer]:
    """Start moto in this process; returns (AWS_ENDPOINT_URL, server)."""
    port = port or free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    # Credentials moto accepts; never real ones.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return f"http://127.0.0.1:{port}", server

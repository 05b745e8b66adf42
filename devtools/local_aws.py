"""Emulated DynamoDB and SQS (moto's server) on loopback."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from typing import Any, Protocol

from moto.server import ThreadedMotoServer

from devtools.processes import stop_process
from market_data.keys.aws import new_dynamodb_client
from market_data.keys.store import BY_ID_INDEX
from market_data.settings import Settings

# moto runs in this process and shares the interpreter with the API it serves: its
# first DynamoDB call imports the backend (about 0.6 s), and any call may wait for
# the GIL behind a busy worker. The production timeouts are DynamoDB's, not moto's.
EMULATOR_TIMEOUTS = {"DYNAMODB_CONNECT_TIMEOUT_S": "5", "DYNAMODB_READ_TIMEOUT_S": "10"}


def use_emulator_timeouts() -> None:
    """DynamoDB timeouts for moto, unless the environment chose its own."""
    for name, value in EMULATOR_TIMEOUTS.items():
        os.environ.setdefault(name, value)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Emulator(Protocol):
    def stop(self) -> None: ...


class _EmulatorProcess:
    """moto's server as a child process: its request handling (SQS keeps every
    message in a list and rescans it on each call) runs beside this interpreter
    instead of queueing for its GIL behind the worker."""

    READY_TIMEOUT_S = 30.0

    def __init__(self, port: int) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + self.READY_TIMEOUT_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return
            except OSError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"moto's server did not start on port {port}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        stop_process(self._process)


def start_aws(port: int | None = None, *, own_process: bool = False) -> tuple[str, Emulator]:
    """Start moto (in this process, or in a child with `own_process`); returns
    (AWS_ENDPOINT_URL, the emulator to stop)."""
    port = port or free_port()
    server: Emulator
    if own_process:
        server = _EmulatorProcess(port)
    else:
        # moto's werkzeug server logs every request at INFO; with a key check and a
        # rate-limit counter behind each keyed API call that drowns the dev console.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        threaded = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        threaded.start()
        server = threaded
    # Credentials moto accepts; never real ones.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    use_emulator_timeouts()
    return f"http://127.0.0.1:{port}", server


def create_key_tables(settings: Settings) -> list[str]:
    """Create the API-key, audit and rate-limit tables if missing; returns those created.

    The same keys, index and TTL attributes as the CDK key-store stack, so code
    that works against moto works against AWS.
    """
    client = new_dynamodb_client(settings)
    existing = set(client.list_tables().get("TableNames", []))
    specs: dict[str, dict[str, Any]] = {
        settings.api_keys_table: {
            "AttributeDefinitions": [
                {"AttributeName": "key_hash", "AttributeType": "S"},
                {"AttributeName": "key_id", "AttributeType": "S"},
            ],
            "KeySchema": [{"AttributeName": "key_hash", "KeyType": "HASH"}],
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": BY_ID_INDEX,
                    "KeySchema": [{"AttributeName": "key_id", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            ],
        },
        settings.api_audit_table: {
            "AttributeDefinitions": [
                {"AttributeName": "key_id", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            "KeySchema": [
                {"AttributeName": "key_id", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
        },
        settings.rate_limit_table: {
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        },
    }
    created = []
    for name, spec in specs.items():
        if name in existing:
            continue
        client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **spec)
        client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
        client.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}
        )
        created.append(name)
    return created

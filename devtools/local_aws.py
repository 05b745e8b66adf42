"""Emulated DynamoDB and SQS (moto's server) on loopback."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from moto.server import ThreadedMotoServer

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


def start_aws(port: int | None = None) -> tuple[str, ThreadedMotoServer]:
    """Start moto in this process; returns (AWS_ENDPOINT_URL, server)."""
    port = port or free_port()
    # moto's werkzeug server logs every request at INFO; with a key check and a
    # rate-limit counter behind each keyed API call that drowns the dev console.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
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

"""The DynamoDB client and the pepper: created or read once per process, lazily.

Lambda reuses the process between invocations, so the client (and its
connection pool) and the pepper outlive a request. Nothing here runs at import.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from market_data.errors import KeyStoreUnavailable
from market_data.keys.format import MIN_PEPPER_BYTES
from market_data.settings import Settings

# Short timeouts: the key check sits in front of every keyed request, and
# failing closed quickly (503) beats holding the caller for API Gateway's 29 s.
CLIENT_CONFIG = Config(
    connect_timeout=2,
    read_timeout=3,
    retries={"mode": "standard", "max_attempts": 3},
)
# The pepper never rotates in place (every stored hash depends on it), so one
# read per process is enough; Powertools keeps it cached for this long.
PEPPER_MAX_AGE_S = 24 * 3600

_clients: dict[tuple[str, str | None], Any] = {}
_clients_lock = threading.Lock()


def dynamodb_client(settings: Settings) -> Any:
    """The process-wide DynamoDB client for the settings' region and endpoint.

    boto3 clients are thread-safe (resources are not, so they are not used);
    creating one through the default session is not, hence the lock.
    """
    key = (settings.aws_region, settings.aws_endpoint_url)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = new_dynamodb_client(settings)
            _clients[key] = client
        return client


def new_dynamodb_client(settings: Settings) -> Any:
    return boto3.session.Session().client(
        "dynamodb",
        region_name=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        config=CLIENT_CONFIG,
    )


def is_conditional_check_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


@contextmanager
def dynamo_errors(what: str) -> Iterator[None]:
    """Turn any DynamoDB failure (throttling, timeout, missing table) into KeyStoreUnavailable."""
    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "ClientError")
        raise KeyStoreUnavailable(f"{what}: {code}") from exc
    except BotoCoreError as exc:
        raise KeyStoreUnavailable(f"{what}: {type(exc).__name__}") from exc


def load_pepper(settings: Settings) -> bytes:
    """The pepper from API_KEY_PEPPER, or from the secret API_KEY_PEPPER_SECRET_ARN names."""
    if settings.api_key_pepper is not None:
        pepper = settings.api_key_pepper.get_secret_value().encode("utf-8")
        source = "API_KEY_PEPPER"
    elif settings.api_key_pepper_secret_arn:
        # Imported here: only the AWS path needs it.
        from aws_lambda_powertools.utilities.parameters import get_secret

        try:
            value = get_secret(settings.api_key_pepper_secret_arn, max_age=PEPPER_MAX_AGE_S)
        except Exception as exc:  # Powertools wraps every failure in its own error types
            raise KeyStoreUnavailable(
                f"cannot read API_KEY_PEPPER_SECRET_ARN ({type(exc).__name__})"
            ) from exc
        pepper = value if isinstance(value, bytes) else str(value).encode("utf-8")
        source = "the secret API_KEY_PEPPER_SECRET_ARN names"
    else:
        raise KeyStoreUnavailable("set API_KEY_PEPPER or API_KEY_PEPPER_SECRET_ARN")
    if len(pepper) < MIN_PEPPER_BYTES:
        raise KeyStoreUnavailable(f"{source} must hold at least {MIN_PEPPER_BYTES} bytes")
    return pepper

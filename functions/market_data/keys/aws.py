"""The DynamoDB client, its retries and the pepper: created or read once per process, lazily.

Lambda reuses the process between invocations, so the client (and its
connection pool) and the pepper outlive a request. Nothing here runs at import.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from market_data.errors import KeyStoreUnavailable
from market_data.keys.format import MIN_PEPPER_BYTES
from market_data.settings import Settings

if TYPE_CHECKING:
    from botocore.config import Config

logger = logging.getLogger(__name__)

T = TypeVar("T")

# The pepper never rotates in place (every stored hash depends on it), so one
# read per process is enough; Powertools keeps it cached for this long.
PEPPER_MAX_AGE_S = 24 * 3600
# The first retry waits up to this long (full jitter), each further one up to twice as long.
RETRY_BASE_DELAY_S = 0.025

# What DynamoDB answers while it throttles or briefly fails: worth another attempt
# (botocore's standard retry mode retries these too).
_THROTTLED_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)
_TRANSIENT_CODES = frozenset(
    {"InternalServerError", "ServiceUnavailable", "RequestTimeout", "RequestTimeoutException"}
)
_TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})

_clients: dict[tuple[str, str | None, float, float], Any] = {}
_clients_lock = threading.Lock()


def client_config(settings: Settings) -> Config:
    """Short timeouts and no SDK retries: the retries are RetryPolicy's, bounded in time.

    botocore's standard mode backs off up to 1 s before its second attempt and 2 s
    before its third, which alone would hold a refused request for seconds.
    """
    from botocore.config import Config

    return Config(
        connect_timeout=settings.dynamodb_connect_timeout_s,
        read_timeout=settings.dynamodb_read_timeout_s,
        # total_max_attempts counts the first attempt; max_attempts would not.
        retries={"mode": "standard", "total_max_attempts": 1},
    )


def dynamodb_client(settings: Settings) -> Any:
    """The process-wide DynamoDB client for the settings' region, endpoint and timeouts.

    boto3 clients are thread-safe (resources are not, so they are not used);
    creating one through the default session is not, hence the lock.
    """
    key = (
        settings.aws_region,
        settings.aws_endpoint_url,
        settings.dynamodb_connect_timeout_s,
        settings.dynamodb_read_timeout_s,
    )
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = new_dynamodb_client(settings)
            _clients[key] = client
        return client


def new_dynamodb_client(settings: Settings) -> Any:
    # Imported on the first key check, not at start: boto3 costs ~90 ms to import
    # and an anonymous read never needs it.
    import boto3.session

    return boto3.session.Session().client(
        "dynamodb",
        region_name=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        config=client_config(settings),
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


def is_retryable(error: BaseException | None) -> bool:
    """Throttling, a 5xx, a timeout or a dropped connection: another attempt may succeed."""
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return code in _THROTTLED_CODES or code in _TRANSIENT_CODES or status in _TRANSIENT_STATUSES
    return isinstance(error, BotoConnectionError | HTTPClientError)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard one DynamoDB operation tries before it is KeyStoreUnavailable.

    Only retryable failures are tried again, after a full-jitter backoff from
    RETRY_BASE_DELAY_S, doubling. No retry starts once `budget_s` has passed
    since the first attempt (or its backoff would pass it), so an operation
    takes at most the budget plus one attempt, which the client's connect and
    read timeouts bound.
    """

    max_attempts: int = 1
    budget_s: float = 0.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def of(cls, settings: Settings) -> RetryPolicy:
        return cls(settings.dynamodb_max_attempts, settings.dynamodb_retry_budget_s)

    def run(self, what: str, operation: Callable[[], T]) -> T:
        """`operation`'s result; KeyStoreUnavailable once the attempts or the budget are spent.

        Exceptions other than DynamoDB's (a failed condition the operation turned
        into a domain error, say) pass through at once.
        """
        started = self.clock()
        attempt = 1
        while True:
            try:
                with dynamo_errors(what):
                    return operation()
            except KeyStoreUnavailable as exc:
                if attempt >= self.max_attempts or not is_retryable(exc.__cause__):
                    raise
                # Jitter spreads the retries of concurrent callers; nothing secret in it.
                delay = random.uniform(0, RETRY_BASE_DELAY_S * 2 ** (attempt - 1))  # noqa: S311
                if self.clock() - started + delay >= self.budget_s:
                    raise
                logger.debug("retrying %s in %.3f s: %s", what, delay, exc)
                self.sleep(delay)
                attempt += 1


# For writes that are best effort (a key's last use, the audit event of a refusal):
# a retry would only hold the response longer.
SINGLE_ATTEMPT = RetryPolicy()


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

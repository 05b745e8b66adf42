"""A stand-in for the context object the Lambda runtime passes to handlers, and the sample events.

For invoking the handlers in-process outside Lambda: the tests, `make bench`
and the README's one-liner use them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[1] / "events"


@dataclass
class FakeLambdaContext:
    function_name: str = "market-data-test"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:market-data-test"
    aws_request_id: str = "00000000-0000-0000-0000-000000000001"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def load_event(name: str) -> dict[str, Any]:
    """A sample event from events/, by file name without `.json`."""
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event

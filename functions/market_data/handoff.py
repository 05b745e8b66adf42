"""Handing a recorded run's planning over (market_data.runs.PlanningHandoff).

Deployed, the admin API invokes the fan-out function asynchronously (Lambda
queues the event and retries it; the API waits for nothing but the 202 of the
Invoke call). Without a fan-out function (make dev, tests), the same planning
runs in a background thread of the process that answered.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from market_data.runs import PlanRequest

logger = logging.getLogger(__name__)


class Invoker(Protocol):
    """The one Lambda call needed (a boto3 Lambda client satisfies it)."""

    def invoke(self, **kwargs: Any) -> Any: ...


class LambdaPlanningHandoff:
    def __init__(self, client: Invoker, function_name: str) -> None:
        self.client, self.function_name = client, function_name

    def hand_off(self, request: PlanRequest) -> None:
        self.client.invoke(
            FunctionName=self.function_name,
            InvocationType="Event",
            Payload=json.dumps(request.to_event()).encode(),
        )


class ThreadPlanningHandoff:
    def __init__(self, plan: Callable[[PlanRequest], object]) -> None:
        self._plan = plan

    def hand_off(self, request: PlanRequest) -> None:
        threading.Thread(
            target=self._run, args=(request,), name=f"plan-{request.run_id}", daemon=True
        ).start()

    def _run(self, request: PlanRequest) -> None:
        try:
            self._plan(request)
        except Exception:
            # The run stays unplanned; the stuck-job check ends it with a reason.
            logger.exception("planning failed", extra={"run_id": str(request.run_id)})

"""Lambda entry for the HTTP API: API Gateway (REST) -> Mangum -> FastAPI."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum.adapter import DEFAULT_TEXT_MIME_TYPES

from api.app import create_app
from api.runner import LambdaAdapter
from market_data import metric_names, snapstart, tracing
from market_data.settings import Settings

logger = Logger()
# The namespace the stacks set (POWERTOOLS_METRICS_NAMESPACE), also when the handler is
# run by hand (README: "Invoking the handlers"), where the cold-start metric needs one.
metrics = Metrics(namespace=metric_names.NAMESPACE)

# Built once per execution environment; lifespan is off because Mangum would
# otherwise run startup/shutdown on every invocation.
app = create_app(Settings())
asgi_handler = LambdaAdapter(
    app,
    # Problem documents are text; without this Mangum would base64 them.
    text_mime_types=[*DEFAULT_TEXT_MIME_TYPES, "application/problem+json"],
)

# SnapStart (the API's published versions): no connection, client or secret in the
# snapshot; fresh random state and credentials after each restore; the routers left
# for first use (api.app.App) imported into the snapshot.
snapstart.register(warm_up=app.load_routers)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
# One trace per request (market_data.tracing); no request or response body goes into
# it: a response can hold a freshly issued API key.
@tracing.lambda_handler("api")
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return asgi_handler(event, context)  # type: ignore[arg-type]

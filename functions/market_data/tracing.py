"""Traces: OpenTelemetry spans exported to AWS X-Ray, or nothing at all when off.

One trace per Lambda invocation: the handler span (child of the segment Lambda's
active tracing opens, read from `_X_AMZN_TRACE_ID`), with the SQL statements,
the AWS calls (botocore: DynamoDB, SQS, Secrets Manager) and the vendor's HTTP
requests as its children. Each handler span carries the invocation's
correlation id, the one the JSON logs carry.

Off costs nothing: this module imports only the standard library, and
OpenTelemetry is imported on the first traced invocation. The switch is the
one the functions always had, `POWERTOOLS_TRACE_DISABLED`, plus where spans
go: tracing is on, in Lambda and locally alike, when
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (or `OTEL_EXPORTER_OTLP_ENDPOINT`) names
X-Ray's OTLP endpoint or a collector, unless POWERTOOLS_TRACE_DISABLED is true.

What goes into a span is chosen here, never captured wholesale: SQL text with
its placeholders (never the parameters), AWS service and operation names, the
vendor's host and path (the API key travels in a header no span records), and
no request or response body.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_TRUE = {"1", "true", "yes", "on"}
# Lambda's per-invocation trace header (Root, Parent, Sampled) in the environment.
LAMBDA_TRACE_ENV = "_X_AMZN_TRACE_ID"
SERVICE_ENV = "POWERTOOLS_SERVICE_NAME"
MAX_STATEMENT_CHARS = 2048


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.enabled: bool | None = None  # None: decided from the environment on first use
        self.tracer: Any = None
        self.provider: Any = None
        self.signed_session: Any = None  # the SigV4 session exporting to X-Ray, if any


_state = _State()


def enabled() -> bool:
    """Whether this process traces (decided once, from the environment)."""
    if _state.enabled is None:
        _state.enabled = _enabled_by_environment(os.environ)
    return _state.enabled


def _enabled_by_environment(env: os._Environ[str] | dict[str, str]) -> bool:
    if env.get("POWERTOOLS_TRACE_DISABLED", "").strip().lower() in _TRUE:
        return False
    if env.get("AWS_SAM_LOCAL"):
        return False
    # Spans need somewhere to go: X-Ray's OTLP endpoint (which needs CloudWatch
    # Transaction Search on in the account, and a route out of the VPC) or a collector.
    # Without one, Lambda's active tracing still records each invocation's segment.
    return bool(
        env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def install(exporter: Any = None, *, batch: bool | None = None) -> Any:
    """Turn tracing on with this span exporter (tests: an InMemorySpanExporter).

    Without one, spans go over OTLP/HTTP to the configured endpoint: X-Ray's own
    (`https://xray.<region>.amazonaws.com/v1/traces`, requests signed with the
    function's credentials), or a collector's (ADOT, a local one).
    Returns the tracer provider.
    """
    with _state.lock:
        _state.enabled = True
        return _build_provider(exporter, batch)


def uninstall() -> None:
    """Back to "decide from the environment", dropping the provider (tests)."""
    with _state.lock:
        if _state.provider is not None:
            _state.provider.shutdown()
        _state.provider = _state.tracer = None
        _state.enabled = None


def forget_credentials() -> None:
    """After a SnapStart restore: the exporter signs with credentials read again."""
    if _state.signed_session is not None:
        _state.signed_session.forget_credentials()


def _tracer() -> Any:
    if _state.tracer is None:
        with _state.lock:
            if _state.tracer is None:
                _build_provider(None, None)
    return _state.tracer


def _build_provider(exporter: Any, batch: bool | None) -> Any:
    from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    resource = Resource.create(
        {
            "service.name": os.environ.get(SERVICE_ENV)
            or os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
            or "market-data",
            "cloud.provider": "aws",
            "cloud.region": os.environ.get("AWS_REGION", ""),
            "faas.name": os.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""),
        }
    )
    # X-Ray ids carry their start time, which X-Ray needs to accept a trace.
    provider = TracerProvider(resource=resource, id_generator=AwsXRayIdGenerator())
    if exporter is None:
        exporter = _otlp_exporter()
        batch = True if batch is None else batch
    processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    _instrument_botocore(provider)
    _state.provider = provider
    _state.tracer = provider.get_tracer("market_data")
    return provider


def _otlp_exporter() -> Any:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if not endpoint and not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        endpoint = f"https://xray.{region}.amazonaws.com/v1/traces"
    if endpoint and ".amazonaws.com" in endpoint:
        from market_data.tracing_sigv4 import SigV4Session

        _state.signed_session = SigV4Session("xray")
        return OTLPSpanExporter(endpoint=endpoint, session=_state.signed_session)
    return OTLPSpanExporter(endpoint=endpoint) if endpoint else OTLPSpanExporter()


def _instrument_botocore(provider: Any) -> None:
    """DynamoDB, SQS, Secrets Manager and RDS calls as client spans (no payloads)."""
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

    instrumentor = BotocoreInstrumentor()  # type: ignore[no-untyped-call]
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    instrumentor.instrument(tracer_provider=provider)


def span(
    name: str, attributes: dict[str, Any] | None = None, *, client: bool = False
) -> AbstractContextManager[Any]:
    """A child span of whatever is current (`client`: a call to another system), or a
    no-op yielding None when tracing is off."""
    if not enabled():
        return nullcontext()
    from opentelemetry.trace import SpanKind

    kind = SpanKind.CLIENT if client else SpanKind.INTERNAL
    started: AbstractContextManager[Any] = _tracer().start_as_current_span(
        name, kind=kind, attributes=attributes or {}
    )
    return started


def _remote_parent() -> Any:
    header = os.environ.get(LAMBDA_TRACE_ENV)
    if not header:
        return None
    from opentelemetry.propagators.aws import AwsXRayPropagator

    return AwsXRayPropagator().extract({"X-Amzn-Trace-Id": header})


def _correlation_id(event: Any, context: Any) -> str | None:
    if isinstance(event, dict):
        request = event.get("requestContext")
        if isinstance(request, dict) and request.get("requestId"):
            return str(request["requestId"])[:128]
    return getattr(context, "aws_request_id", None)


@contextmanager
def invocation(name: str, event: Any, context: Any) -> Iterator[Any]:
    """The handler span of one invocation, flushed before Lambda freezes the process."""
    from opentelemetry.trace import SpanKind, Status, StatusCode

    tracer = _tracer()
    attributes = {"faas.trigger": name, "cloud.resource_id": getattr(context, "function_name", "")}
    request_id = getattr(context, "aws_request_id", None)
    if request_id:
        attributes["faas.invocation_id"] = request_id
    correlation = _correlation_id(event, context)
    if correlation:
        attributes["correlation_id"] = correlation
    try:
        with tracer.start_as_current_span(
            name,
            context=_remote_parent(),
            kind=SpanKind.SERVER,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as current:
            try:
                yield current
            except BaseException as exc:
                # The type only: an exception's message can quote a request.
                current.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                current.set_attribute("error.type", type(exc).__name__)
                raise
    finally:
        if _state.provider is not None:
            _state.provider.force_flush(timeout_millis=2000)


def lambda_handler(name: str) -> Callable[[F], F]:
    """Decorate a Lambda handler: one trace per invocation when tracing is on."""

    def decorate(handler: F) -> F:
        @functools.wraps(handler)
        def traced(event: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
            if not enabled():
                return handler(event, context, *args, **kwargs)
            with invocation(name, event, context):
                return handler(event, context, *args, **kwargs)

        return traced  # type: ignore[return-value]

    return decorate


def statement_span(statement: Any) -> AbstractContextManager[Any]:
    """A client span for one SQL statement: its text with placeholders, no parameters."""
    if not enabled():
        return nullcontext()
    text = statement if isinstance(statement, str) else _sql_text(statement)
    text = " ".join(text.split())[:MAX_STATEMENT_CHARS]
    verb = text.split(" ", 1)[0].upper() if text else "SQL"
    from opentelemetry.trace import SpanKind

    started: AbstractContextManager[Any] = _tracer().start_as_current_span(
        f"postgresql {verb}",
        kind=SpanKind.CLIENT,
        attributes={"db.system.name": "postgresql", "db.query.text": text},
    )
    return started


def _sql_text(statement: Any) -> str:
    # psycopg.sql.Composed: its string form without a connection, placeholders kept.
    if isinstance(statement, bytes):
        return statement.decode(errors="replace")
    for attr in ("as_string",):
        method = getattr(statement, attr, None)
        if method is not None:
            try:
                return str(method(None))
            except Exception:  # needs a connection for identifiers: name the type only
                break
    return type(statement).__name__

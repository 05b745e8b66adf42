"""What every function shares: code asset, dependency layer, runtime settings, logs.

All functions: Python 3.12 on arm64 (Graviton: ~20 % cheaper per GB-second and
the layer's wheels are built for it), X-Ray active tracing plus our OpenTelemetry
spans sent to X-Ray's OTLP endpoint, JSON logs (Lambda's
advanced logging controls; Powertools writes structured JSON into them) to an
explicit log group with a retention, and the Powertools environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aws_cdk import Aws, Duration, Size
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.bundling import dependency_layer_code, function_code
from infra.config import StageConfig
from infra.constants import DEPENDENCY_LAYER_ID
from market_data import metric_names

RUNTIME = lambda_.Runtime.PYTHON_3_12
# X-Ray's OTLP endpoint for traces (market_data.tracing signs its requests with SigV4).
XRAY_OTLP_TRACES_ENDPOINT = f"https://xray.{Aws.REGION}.amazonaws.com/v1/traces"
# What sending spans there needs: PutSpans for every span, PutSpansForIndexing for the
# share Transaction Search indexes as trace summaries. Neither has a resource type.
XRAY_SPAN_ACTIONS = ("xray:PutSpans", "xray:PutSpansForIndexing")
LIVE_ALIAS = "live"
ARCHITECTURE = lambda_.Architecture.ARM_64

_APPLICATION_LOG_LEVELS = {
    "DEBUG": lambda_.ApplicationLogLevel.DEBUG,
    "INFO": lambda_.ApplicationLogLevel.INFO,
    "WARNING": lambda_.ApplicationLogLevel.WARN,
    "ERROR": lambda_.ApplicationLogLevel.ERROR,
    "CRITICAL": lambda_.ApplicationLogLevel.FATAL,
}


# `-c sam_local=true` declares these too, with local defaults: `sam local --env-vars`
# only overrides variables the template declares, and these are what point a function
# at a local PostgreSQL and AWS emulator. Such a template is for `sam local` only.
SAM_LOCAL_ENVIRONMENT = {
    "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/marketdata",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
    "API_KEY_PEPPER": "local-development-pepper-not-a-secret",
    "MARKET_DATA_PROVIDER": "synthetic",
}


@dataclass(frozen=True)
class FunctionSpec:
    construct_id: str
    handler: str
    service: str
    description: str
    memory_mb: int
    timeout: Duration
    subnets: ec2.SubnetSelection
    security_group: ec2.ISecurityGroup
    environment: dict[str, str] = field(default_factory=dict)
    reserved_concurrency: int | None = None
    # Lambda SnapStart: each published version is initialised once and snapshotted;
    # callers invoke the live alias (LambdaRuntime.live_alias), never $LATEST.
    snap_start: bool = False
    # Layers beyond the shared dependency layer (the export function's Parquet library).
    extra_layers: tuple[lambda_.ILayerVersion, ...] = ()
    # /tmp beyond Lambda's 512 MB (the export function spools Parquet files there).
    tmp_mb: int | None = None


class LambdaRuntime(Construct):
    """Holds the shared code asset and layer; builds functions with the common settings."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        vpc: ec2.IVpc,
        common_environment: dict[str, str],
        skip_bundling: bool,
        sam_local: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._sam_local = sam_local
        self._vpc = vpc
        self._common_environment = common_environment
        self.code = function_code()
        self.layer = lambda_.LayerVersion(
            self,
            DEPENDENCY_LAYER_ID,
            code=dependency_layer_code(skip_bundling=skip_bundling),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="Third-party packages from requirements.txt (cp312, aarch64)",
        )
        self.functions: list[lambda_.Function] = []

    def add_function(self, scope: Construct, spec: FunctionSpec) -> lambda_.Function:
        config = self._config
        log_group = logs.LogGroup(
            scope,
            f"{spec.construct_id}Logs",
            retention=config.log_retention,
            removal_policy=config.removal_policy,
        )
        function = lambda_.Function(
            scope,
            spec.construct_id,
            description=spec.description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            code=self.code,
            handler=spec.handler,
            layers=[self.layer, *spec.extra_layers],
            memory_size=spec.memory_mb,
            timeout=spec.timeout,
            ephemeral_storage_size=Size.mebibytes(spec.tmp_mb) if spec.tmp_mb else None,
            reserved_concurrent_executions=spec.reserved_concurrency,
            tracing=lambda_.Tracing.ACTIVE,
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if spec.snap_start else None,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=_APPLICATION_LOG_LEVELS[config.log_level],
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            log_group=log_group,
            vpc=self._vpc,
            vpc_subnets=spec.subnets,
            security_groups=[spec.security_group],
            environment={
                **self._common_environment,
                "POWERTOOLS_SERVICE_NAME": spec.service,
                "POWERTOOLS_METRICS_NAMESPACE": metric_names.NAMESPACE,
                # Responses can hold a freshly issued API key: never copy them into traces.
                "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
                "POWERTOOLS_LOGGER_LOG_EVENT": "false",
                "LOG_LEVEL": config.log_level,
                **self._tracing_environment(),
                **spec.environment,
                **(SAM_LOCAL_ENVIRONMENT if self._sam_local else {}),
            },
        )
        if config.xray_endpoint:
            function.add_to_role_policy(
                iam.PolicyStatement(actions=list(XRAY_SPAN_ACTIONS), resources=["*"])
            )
        self.functions.append(function)
        return function

    def _tracing_environment(self) -> dict[str, str]:
        # Naming the endpoint is what turns our spans on (market_data.tracing); without
        # the X-Ray interface endpoint an isolated function could not reach it.
        if not self._config.xray_endpoint:
            return {}
        return {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": XRAY_OTLP_TRACES_ENDPOINT}

    def live_alias(self, scope: Construct, function: lambda_.Function) -> lambda_.Alias:
        """The alias callers invoke: the function's current published version.

        SnapStart applies to published versions only; a new version (and so a new
        snapshot) is published whenever the code, layer or configuration changes.
        """
        return lambda_.Alias(
            scope,
            f"{function.node.id}Live",
            alias_name=LIVE_ALIAS,
            version=function.current_version,
        )

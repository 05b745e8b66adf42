"""REST API (regional) → the FastAPI/Mangum Lambda, behind a WAF web ACL.

REST rather than HTTP API: response compression, WAF, stage throttling and
gateway responses exist only there. Every path (`/` and `{proxy+}`, any method)
goes to the one function; the app routes, validates and answers problems as
`application/problem+json`. The dashboard is served by the same function at
`/dashboard` (same origin, so it needs no CORS).
"""

from __future__ import annotations

import json

from aws_cdk import Duration, Fn, RemovalPolicy, Size
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra.config import StageConfig
from infra.constants import (
    APP_NAME,
    OUTPUT_API_URL,
    OUTPUT_DASHBOARD_URL,
    REST_API_ID,
    WEB_ACL_ID,
)
from infra.outputs import add_outputs

# Bodies of this API are small JSON documents (admin requests); anything larger is
# refused by WAF before it costs a Lambda invocation.
MAX_BODY_BYTES = 8 * 1024
MAX_QUERY_STRING_BYTES = 2048

ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "requestTime": "$context.requestTime",
    "ip": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "httpMethod": "$context.httpMethod",
    "path": "$context.path",
    "resourcePath": "$context.resourcePath",
    "protocol": "$context.protocol",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integration.latency",
    "integrationStatus": "$context.integration.status",
    "errorMessage": "$context.error.message",
    "wafStatus": "$context.waf.status",
    "xrayTraceId": "$context.xrayTraceId",
}

# Errors raised by API Gateway itself (throttling, WAF, oversize...) use the same
# RFC 9457 problem shape as the app's own errors.
_GATEWAY_PROBLEMS: dict[str, tuple[apigw.ResponseType, str, int | None]] = {
    "Throttled": (apigw.ResponseType.THROTTLED, "Too Many Requests", 429),
    "WafFiltered": (apigw.ResponseType.WAF_FILTERED, "Forbidden", 403),
    "RequestTooLarge": (apigw.ResponseType.REQUEST_TOO_LARGE, "Content Too Large", 413),
    "IntegrationTimeout": (apigw.ResponseType.INTEGRATION_TIMEOUT, "Gateway Timeout", 504),
    "Default4xx": (apigw.ResponseType.DEFAULT_4_XX, "Bad Request", None),
    "Default5xx": (apigw.ResponseType.DEFAULT_5_XX, "Internal Server Error", None),
}


def _problem_template(title: str, status: int | None) -> str:
    status_field = f', "status": {status}' if status is not None else ""
    return (
        '{"type": "about:blank", "title": "'
        + title
        + '"'
        + status_field
        + ', "detail": $context.error.messageString, "instance": "$context.requestId"}'
    )


class Api(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        handler: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)

        access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=config.log_retention,
            removal_policy=config.removal_policy,
        )
        cors = (
            apigw.CorsOptions(
                allow_origins=list(config.cors_allow_origins),
                allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
                allow_headers=["Content-Type", "X-API-Key", "Authorization"],
                max_age=Duration.hours(1),
            )
            if config.cors_allow_origins
            else None
        )
        self.rest_api = apigw.LambdaRestApi(
            self,
            REST_API_ID,
            rest_api_name=f"{APP_NAME}-{config.stage}",
            description="Market Data Warehouse API (FastAPI on Lambda)",
            handler=handler,
            proxy=True,  # ANY / and ANY /{proxy+}
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # REST API logging (access logs included) needs the account-level API Gateway
            # CloudWatch role. It is an account singleton: kept on teardown, and setting it
            # again from another stage or app only points it at an equivalent role.
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            min_compression_size=Size.bytes(1024),
            binary_media_types=["image/*", "font/*"],
            default_cors_preflight_options=cors,
            deploy_options=apigw.StageOptions(
                stage_name=config.api_stage_name,
                throttling_rate_limit=config.throttling_rate_limit,
                throttling_burst_limit=config.throttling_burst_limit,
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # would log request bodies and X-API-Key headers
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS)),
            ),
        )
        self.stage = self.rest_api.deployment_stage
        # API Gateway would create the execution log group itself, without a retention.
        execution_logs = logs.LogGroup(
            self,
            "ExecutionLogs",
            log_group_name=Fn.join(
                "",
                [
                    "API-Gateway-Execution-Logs_",
                    self.rest_api.rest_api_id,
                    f"/{config.api_stage_name}",
                ],
            ),
            retention=config.log_retention,
            removal_policy=config.removal_policy,
        )
        self.stage.node.add_dependency(execution_logs)

        for name, (response_type, title, status) in _GATEWAY_PROBLEMS.items():
            self.rest_api.add_gateway_response(
                name,
                type=response_type,
                status_code=str(status) if status is not None else None,
                response_headers={"Content-Type": "'application/problem+json'"},
                templates={"application/json": _problem_template(title, status)},
            )

        self.web_acl = self._web_acl(config)
        wafv2.CfnWebACLAssociation(
            self,
            "WebAclAssociation",
            resource_arn=self.stage.stage_arn,
            web_acl_arn=self.web_acl.attr_arn,
        )

        self.url = self.rest_api.url
        add_outputs(
            self,
            {
                OUTPUT_API_URL: self.url,
                OUTPUT_DASHBOARD_URL: Fn.join("", [self.url, "dashboard"]),
            },
            descriptions={
                OUTPUT_API_URL: "Base URL of the API (stage prefix included)",
                OUTPUT_DASHBOARD_URL: "The web dashboard (served by the API function)",
            },
        )

    def _web_acl(self, config: StageConfig) -> wafv2.CfnWebACL:
        prefix = f"{APP_NAME}-{config.stage}"

        def visibility(metric: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
            return wafv2.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True,
                metric_name=f"{prefix}-{metric}",
                sampled_requests_enabled=True,
            )

        def managed(name: str, priority: int) -> wafv2.CfnWebACL.RuleProperty:
            return wafv2.CfnWebACL.RuleProperty(
                name=name,
                priority=priority,
                override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS", name=name
                    )
                ),
                visibility_config=visibility(name),
            )

        def too_large(
            field: wafv2.CfnWebACL.FieldToMatchProperty, limit: int
        ) -> wafv2.CfnWebACL.StatementProperty:
            return wafv2.CfnWebACL.StatementProperty(
                size_constraint_statement=wafv2.CfnWebACL.SizeConstraintStatementProperty(
                    field_to_match=field,
                    comparison_operator="GT",
                    size=limit,
                    text_transformations=[
                        wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")
                    ],
                )
            )

        block = wafv2.CfnWebACL.RuleActionProperty(block={})
        rules = [
            managed("AWSManagedRulesAmazonIpReputationList", 0),
            wafv2.CfnWebACL.RuleProperty(
                name="RateLimitPerIp",
                priority=1,
                action=block,
                statement=wafv2.CfnWebACL.StatementProperty(
                    rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                        aggregate_key_type="IP",
                        limit=config.waf_rate_limit_per_5min,
                        evaluation_window_sec=300,
                    )
                ),
                visibility_config=visibility("RateLimitPerIp"),
            ),
            wafv2.CfnWebACL.RuleProperty(
                name="RequestSizeLimit",
                priority=2,
                action=block,
                statement=wafv2.CfnWebACL.StatementProperty(
                    or_statement=wafv2.CfnWebACL.OrStatementProperty(
                        statements=[
                            # Bodies past WAF's inspection limit count as too large (MATCH).
                            too_large(
                                wafv2.CfnWebACL.FieldToMatchProperty(
                                    body=wafv2.CfnWebACL.BodyProperty(oversize_handling="MATCH")
                                ),
                                MAX_BODY_BYTES,
                            ),
                            too_large(
                                wafv2.CfnWebACL.FieldToMatchProperty(query_string={}),
                                MAX_QUERY_STRING_BYTES,
                            ),
                        ]
                    )
                ),
                visibility_config=visibility("RequestSizeLimit"),
            ),
            managed("AWSManagedRulesCommonRuleSet", 3),
            managed("AWSManagedRulesKnownBadInputsRuleSet", 4),
        ]
        return wafv2.CfnWebACL(
            self,
            WEB_ACL_ID,
            name=f"{prefix}-api",
            description="Managed rule sets, per-IP rate limit and request size limits",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=visibility("WebAcl"),
            rules=rules,
        )

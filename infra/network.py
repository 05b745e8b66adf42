"""VPC, subnets, endpoints and the security groups every other construct uses.

Subnets (two AZs):
- public: only the NAT gateway(s) live here; nothing is addressable from the internet.
- egress (private with egress): the backfill worker, which calls Polygon through NAT.
- app (isolated): the API, fan-out and migrate functions and the interface endpoints.
- data (isolated): Aurora.

Isolated subnets reach AWS through endpoints: a DynamoDB gateway endpoint (free)
and interface endpoints for Secrets Manager (DB, pepper and Polygon secrets), SQS
(the API and fan-out enqueue backfill jobs) and X-Ray. The functions' own
OpenTelemetry spans go to X-Ray's OTLP endpoint (`xray.<region>.amazonaws.com`,
HTTPS from the function), which isolated subnets can reach only through that
interface endpoint; its private DNS answers for the whole VPC, so the worker's
spans take it too rather than the NAT (`xray_endpoint=False` drops it, and the
functions then export no spans). CloudWatch Logs, the Powertools metrics (EMF,
written to stdout) and Lambda's own active-tracing segments (the X-Ray daemon
address, 169.254.79.129, is Lambda's) do not go through the VPC.

VPC flow logs record rejected traffic (CloudWatch Logs, stage retention).

Security groups never accept traffic from the internet: the database accepts 5432
only from the function groups, the endpoints 443 only from the function groups.
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import StageConfig
from infra.constants import DATABASE_PORT, VPC_ID

PUBLIC_SUBNETS = "public"
EGRESS_SUBNETS = "egress"
APP_SUBNETS = "app"
DATA_SUBNETS = "data"


class Network(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)

        self.vpc = ec2.Vpc(
            self,
            VPC_ID,
            ip_addresses=ec2.IpAddresses.cidr("10.40.0.0/16"),
            max_azs=2,
            nat_gateways=config.nat_gateways,
            nat_gateway_subnets=ec2.SubnetSelection(subnet_group_name=PUBLIC_SUBNETS),
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name=PUBLIC_SUBNETS,
                    subnet_type=ec2.SubnetType.PUBLIC,
                    cidr_mask=24,
                    map_public_ip_on_launch=False,
                ),
                ec2.SubnetConfiguration(
                    name=EGRESS_SUBNETS,
                    subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS,
                    cidr_mask=22,
                ),
                ec2.SubnetConfiguration(
                    name=APP_SUBNETS, subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=22
                ),
                ec2.SubnetConfiguration(
                    name=DATA_SUBNETS, subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                ),
            ],
            gateway_endpoints={
                "DynamoDb": ec2.GatewayVpcEndpointOptions(
                    service=ec2.GatewayVpcEndpointAwsService.DYNAMODB,
                    subnets=[
                        ec2.SubnetSelection(subnet_group_name=APP_SUBNETS),
                        ec2.SubnetSelection(subnet_group_name=EGRESS_SUBNETS),
                    ],
                ),
                # The lake and the exports (functions in isolated subnets reach S3 here).
                "S3": ec2.GatewayVpcEndpointOptions(
                    service=ec2.GatewayVpcEndpointAwsService.S3,
                    subnets=[
                        ec2.SubnetSelection(subnet_group_name=APP_SUBNETS),
                        ec2.SubnetSelection(subnet_group_name=EGRESS_SUBNETS),
                    ],
                ),
            },
            restrict_default_security_group=True,
        )

        flow_log_group = logs.LogGroup(
            self,
            "FlowLogGroup",
            retention=config.log_retention,
            removal_policy=config.removal_policy,
        )
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )

        # --- security groups (no rule allows anything from 0.0.0.0/0) -----------------
        self.app_functions_sg = self._security_group(
            "AppFunctionsSecurityGroup", "API, fan-out and migrate functions (isolated subnets)"
        )
        self.worker_sg = self._security_group(
            "BackfillWorkerSecurityGroup", "Backfill worker (egress subnets, Polygon via NAT)"
        )
        self.database_sg = self._security_group(
            "DatabaseSecurityGroup", "Aurora PostgreSQL: 5432 from the functions only"
        )
        self.endpoint_sg = self._security_group(
            "EndpointSecurityGroup", "Interface endpoints: 443 from the functions only"
        )
        for function_sg in (self.app_functions_sg, self.worker_sg):
            self.database_sg.add_ingress_rule(
                function_sg, ec2.Port.tcp(DATABASE_PORT), "PostgreSQL from Lambda"
            )
            self.endpoint_sg.add_ingress_rule(
                function_sg, ec2.Port.tcp(443), "AWS APIs from Lambda"
            )
            function_sg.add_egress_rule(
                self.database_sg, ec2.Port.tcp(DATABASE_PORT), "PostgreSQL to Aurora"
            )
            # HTTPS: interface endpoints and the DynamoDB gateway endpoint (whose
            # prefix list has no stable id in an environment-agnostic template); for
            # the worker also Polygon through NAT. Isolated subnets have no route out.
            function_sg.add_egress_rule(
                ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to AWS endpoints / Polygon"
            )

        self.endpoints: dict[str, ec2.InterfaceVpcEndpoint] = {}
        services = {
            "SecretsManager": ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
            "Sqs": ec2.InterfaceVpcEndpointAwsService.SQS,
        }
        if config.xray_endpoint:
            services["XRay"] = ec2.InterfaceVpcEndpointAwsService.XRAY
        for name, service in services.items():
            self.endpoints[name] = self.vpc.add_interface_endpoint(
                f"{name}Endpoint",
                service=service,
                subnets=ec2.SubnetSelection(subnet_group_name=APP_SUBNETS),
                security_groups=[self.endpoint_sg],
                open=False,
                private_dns_enabled=True,
            )

    def _security_group(self, construct_id: str, description: str) -> ec2.SecurityGroup:
        return ec2.SecurityGroup(
            self, construct_id, vpc=self.vpc, description=description, allow_all_outbound=False
        )

    @property
    def app_subnets(self) -> ec2.SubnetSelection:
        return ec2.SubnetSelection(subnet_group_name=APP_SUBNETS)

    @property
    def egress_subnets(self) -> ec2.SubnetSelection:
        return ec2.SubnetSelection(subnet_group_name=EGRESS_SUBNETS)

    @property
    def data_subnets(self) -> ec2.SubnetSelection:
        return ec2.SubnetSelection(subnet_group_name=DATA_SUBNETS)

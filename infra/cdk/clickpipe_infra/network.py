"""The VPC. RDS, Glue Job 2 and QuickSight live in private *isolated* subnets ("data": no route to
the internet); Dagster's webserver, daemon and runs (ECS Fargate) live in private subnets
("orchestration") whose only way out is one NAT gateway, for the AWS APIs that have no VPC
endpoint (QuickSight's among them). Nothing is reachable from the internet: the public subnets hold
the NAT gateway only.

AWS APIs are reached through VPC endpoints where they exist: S3 as a gateway endpoint, the rest as
interface endpoints. Security groups:
  glue       self-referencing (Glue's workers talk to each other), egress HTTPS (endpoints, S3) and 5432 to RDS
  dagster    no ingress at all (the UI is reached through ECS Exec port forwarding); egress HTTPS and 5432 to RDS
  rds        ingress 5432 only from glue, dagster and quicksight
  quicksight QuickSight's network interfaces are not stateful, so they accept return traffic from rds
  endpoints  ingress HTTPS only from glue and dagster
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_s3 as s3
from constructs import Construct


PG_PORT = 5432

INTERFACE_ENDPOINTS = {
    "SecretsManager": ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
    "Glue": ec2.InterfaceVpcEndpointAwsService.GLUE,
    "Kms": ec2.InterfaceVpcEndpointAwsService.KMS,
    "Logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
    "Monitoring": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING,
    "Sts": ec2.InterfaceVpcEndpointAwsService.STS,
}


class Network(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, flow_logs_bucket: s3.IBucket) -> None:
        super().__init__(scope, construct_id)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr("10.42.0.0/16"),
            max_azs=2,
            nat_gateways=1,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=22),
                ec2.SubnetConfiguration(name="orchestration", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=24),
                ec2.SubnetConfiguration(name="egress", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=26, map_public_ip_on_launch=False),
            ],
            restrict_default_security_group=False,
            flow_logs={
                "ToS3": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_s3(flow_logs_bucket, "vpc-flow-logs/"),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )
        self.subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        self.orchestration_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)

        self.glue_sg = ec2.SecurityGroup(
            self, "GlueSg", vpc=self.vpc, allow_all_outbound=False, description="Glue jobs on the clickpipe VPC connection"
        )
        self.rds_sg = ec2.SecurityGroup(
            self, "RdsSg", vpc=self.vpc, allow_all_outbound=False, description="clickpipe RDS PostgreSQL: reachable from Glue and QuickSight only"
        )
        self.quicksight_sg = ec2.SecurityGroup(
            self, "QuickSightSg", vpc=self.vpc, allow_all_outbound=False, description="QuickSight VPC connection network interfaces"
        )
        self.dagster_sg = ec2.SecurityGroup(
            self, "DagsterSg", vpc=self.vpc, allow_all_outbound=False, description="Dagster webserver, daemon and runs (ECS): no ingress"
        )
        self.endpoints_sg = ec2.SecurityGroup(
            self, "EndpointsSg", vpc=self.vpc, allow_all_outbound=False, description="Interface VPC endpoints: HTTPS from Glue only"
        )

        # Glue requires a self-referencing rule on all TCP ports for its workers.
        self.glue_sg.add_ingress_rule(self.glue_sg, ec2.Port.all_tcp(), "Glue workers talk to each other (Glue requirement)")
        self.glue_sg.add_egress_rule(self.glue_sg, ec2.Port.all_tcp(), "Glue workers talk to each other (Glue requirement)")
        # The subnets have no route to the internet: HTTPS can only reach the S3 gateway endpoint and
        # the interface endpoints, so 0.0.0.0/0 here means "AWS APIs inside the VPC".
        self.glue_sg.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to VPC endpoints and the S3 gateway endpoint")
        self.glue_sg.add_egress_rule(self.rds_sg, ec2.Port.tcp(PG_PORT), "Glue Job 2 loads marts into RDS")

        self.dagster_sg.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to AWS APIs (endpoints, or the NAT gateway)")
        self.dagster_sg.add_egress_rule(self.rds_sg, ec2.Port.tcp(PG_PORT), "Dagster's run storage and the marts' checks")

        self.rds_sg.add_ingress_rule(self.glue_sg, ec2.Port.tcp(PG_PORT), "PostgreSQL from Glue")
        self.rds_sg.add_ingress_rule(self.dagster_sg, ec2.Port.tcp(PG_PORT), "PostgreSQL from Dagster (run storage, reconciliation)")
        self.rds_sg.add_ingress_rule(self.quicksight_sg, ec2.Port.tcp(PG_PORT), "PostgreSQL from QuickSight")
        self.rds_sg.add_egress_rule(self.quicksight_sg, ec2.Port.all_tcp(), "Replies to QuickSight (its interfaces are not stateful)")

        self.quicksight_sg.add_egress_rule(self.rds_sg, ec2.Port.tcp(PG_PORT), "QuickSight queries RDS")
        self.quicksight_sg.add_ingress_rule(self.rds_sg, ec2.Port.all_tcp(), "Return traffic from RDS (QuickSight interfaces are not stateful)")

        self.endpoints_sg.add_ingress_rule(self.glue_sg, ec2.Port.tcp(443), "AWS API calls from Glue")
        self.endpoints_sg.add_ingress_rule(self.dagster_sg, ec2.Port.tcp(443), "AWS API calls from Dagster")

        self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[self.subnets, self.orchestration_subnets])
        for name, service in INTERFACE_ENDPOINTS.items():
            self.vpc.add_interface_endpoint(
                name, service=service, subnets=self.subnets, security_groups=[self.endpoints_sg], open=False, private_dns_enabled=True
            )


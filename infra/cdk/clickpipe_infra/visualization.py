"""QuickSight's way into the VPC: a VPC connection (L1) and the IAM role QuickSight assumes to create
its network interfaces in the isolated subnets with the quicksight security group."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_quicksight as quicksight
from constructs import Construct

from clickpipe_infra.nag import acknowledge
from clickpipe_infra.network import Network


class Visualization(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, network: Network) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        subnets = network.vpc.isolated_subnets

        self.role = iam.Role(
            self,
            "VpcConnectionRole",
            assumed_by=iam.ServicePrincipal("quicksight.amazonaws.com"),
            description="QuickSight VPC connection: manage its network interfaces in the clickpipe subnets",
        )
        arn = f"arn:{stack.partition}:ec2:{stack.region}:{stack.account}"
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="NetworkInterfacesInClickpipeSubnets",
                actions=["ec2:CreateNetworkInterface", "ec2:ModifyNetworkInterfaceAttribute", "ec2:DeleteNetworkInterface"],
                resources=[
                    f"{arn}:network-interface/*",
                    *[f"{arn}:subnet/{s.subnet_id}" for s in subnets],
                    f"{arn}:security-group/{network.quicksight_sg.security_group_id}",
                ],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(sid="DescribeNetwork", actions=["ec2:DescribeSubnets", "ec2:DescribeSecurityGroups"], resources=["*"])
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5",
            "QuickSight creates its network interfaces at run time, so their ids are unknown; scoped to network interfaces of this account and region (subnets and security group are named).",
            applies_to=["Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:network-interface/*"],
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5",
            "QuickSight validates the connection with ec2:DescribeSubnets and ec2:DescribeSecurityGroups, which support no resource-level permissions (read-only).",
            applies_to=["Resource::*"],
        )

        self.vpc_connection = quicksight.CfnVPCConnection(
            self,
            "VpcConnection",
            aws_account_id=stack.account,
            vpc_connection_id=f"{stack.stack_name.lower()}-vpc",
            name=f"{stack.stack_name} VPC",
            role_arn=self.role.role_arn,
            subnet_ids=[s.subnet_id for s in subnets],
            security_group_ids=[network.quicksight_sg.security_group_id],
            availability_status="AVAILABLE",
        )
        self.vpc_connection.node.add_dependency(self.role)

    @property
    def vpc_connection_arn(self) -> str:
        return self.vpc_connection.attr_arn

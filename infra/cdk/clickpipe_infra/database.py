"""RDS PostgreSQL for the marts: encrypted, isolated subnets, IAM auth, RDS-managed secret with rotation.

``manage_master_user_password`` lets RDS keep the master credentials in Secrets Manager (encrypted with
the data key) and rotate them itself: no rotation Lambda, so nothing but Glue and QuickSight needs a
path to the database.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from constructs import Construct

from clickpipe_infra.nag import acknowledge
from clickpipe_infra.network import PG_PORT, Network
from clickpipe_infra.processing import RdsTarget
from clickpipe_infra.settings import Settings

DATABASE_NAME = "clickpipe"
MASTER_USERNAME = "clickpipe_admin"
ENGINE_VERSION = rds.PostgresEngineVersion.VER_17_6


class Database(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, key: kms.IKey, network: Network, settings: Settings, log_retention: logs.RetentionDays
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        identifier = f"{stack.stack_name.lower()}-pg"

        parameters = rds.ParameterGroup(
            self,
            "Parameters",
            engine=rds.DatabaseInstanceEngine.postgres(version=ENGINE_VERSION),
            description="clickpipe PostgreSQL: TLS only, connection logging",
            parameters={"rds.force_ssl": "1", "log_connections": "1", "log_disconnections": "1"},
        )
        # Pre-create the export log group so it is encrypted and expires (RDS would create it unencrypted
        # and forever; cloudwatch_logs_retention would add a custom-resource Lambda).
        export_logs = logs.LogGroup(
            self,
            "PostgresqlLogs",
            log_group_name=f"/aws/rds/instance/{identifier}/postgresql",
            retention=log_retention,
            encryption_key=key,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )

        self.instance = rds.DatabaseInstance(
            self,
            "Postgres",
            instance_identifier=identifier,
            engine=rds.DatabaseInstanceEngine.postgres(version=ENGINE_VERSION),
            instance_type=ec2.InstanceType(settings.rds_instance_type),
            vpc=network.vpc,
            vpc_subnets=network.subnets,
            security_groups=[network.rds_sg],
            port=PG_PORT,
            database_name=DATABASE_NAME,
            credentials=rds.Credentials.from_username(MASTER_USERNAME),
            manage_master_user_password=True,
            storage_encrypted=True,
            storage_encryption_key=key,
            allocated_storage=settings.rds_allocated_storage_gib,
            max_allocated_storage=settings.rds_max_allocated_storage_gib,
            storage_type=rds.StorageType.GP3,
            multi_az=settings.multi_az,
            iam_authentication=True,
            deletion_protection=True,
            removal_policy=cdk.RemovalPolicy.SNAPSHOT,
            backup_retention=cdk.Duration.days(settings.rds_backup_retention_days),
            copy_tags_to_snapshot=True,
            delete_automated_backups=False,
            enable_performance_insights=True,
            performance_insight_encryption_key=key,
            performance_insight_retention=rds.PerformanceInsightRetention.DEFAULT,
            cloudwatch_logs_exports=["postgresql"],
            parameter_group=parameters,
            publicly_accessible=False,
            auto_minor_version_upgrade=True,
        )
        self.instance.node.add_dependency(export_logs)
        # The RDS-managed secret is encrypted with the data key too (default would be aws/secretsmanager).
        cfn = self.instance.node.default_child
        cfn.master_user_secret = rds.CfnDBInstance.MasterUserSecretProperty(kms_key_id=key.key_arn)

        acknowledge(
            self.instance,
            "AwsSolutions-RDS11",
            "PostgreSQL keeps port 5432 because the Dagster aws resources and the QuickSight data source take only a host (CLICKPIPE_RDS_HOST); access is limited by isolated subnets and the RDS security group, not by port obscurity.",
        )
        if not settings.multi_az:
            acknowledge(
                self.instance,
                "AwsSolutions-RDS3",
                "Single-AZ was chosen explicitly with the CDK context multi_az=false (development or cost-limited deploy); the default deploy is Multi-AZ.",
            )

    @property
    def secret_arn(self) -> str:
        return self.instance.secret.secret_arn

    @property
    def target(self) -> RdsTarget:
        return RdsTarget(
            secret_arn=self.secret_arn,
            host=self.instance.db_instance_endpoint_address,
            port=self.instance.db_instance_endpoint_port,
            database=DATABASE_NAME,
        )

"""The whole AWS side of clickpipe in one stack (one deploy, no cross-stack exports), one construct per concern."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from constructs import Construct

from clickpipe_infra.database import Database
from clickpipe_infra.encryption import DataKey
from clickpipe_infra.layout import LakeLayout
from clickpipe_infra.monitoring import Monitoring
from clickpipe_infra.network import Network
from clickpipe_infra.orchestration import Orchestration
from clickpipe_infra.outputs import add_env_outputs
from clickpipe_infra.processing import Processing
from clickpipe_infra.query import Query
from clickpipe_infra.repo import REPO_ROOT, catalog
from clickpipe_infra.settings import Settings
from clickpipe_infra.storage import Storage
from clickpipe_infra.streaming import Streaming
from clickpipe_infra.visualization import Visualization


class ClickpipeStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings | None = None, repo_root: Path = REPO_ROOT, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings = settings or Settings.from_context(self)
        layout = LakeLayout(settings.lake_prefix)
        log_retention = logs.RetentionDays(_retention_name(settings.log_retention_days))

        self.data_key = DataKey(self, "DataKey")
        key = self.data_key.key
        self.storage = Storage(self, "Storage", key=key, layout=layout, settings=settings)
        self.network = Network(self, "Network", flow_logs_bucket=self.storage.access_logs)
        self.streaming = Streaming(self, "Streaming", key=key, lake=self.storage.lake, layout=layout, settings=settings, log_retention=log_retention)
        self.database = Database(self, "Database", key=key, network=self.network, settings=settings, log_retention=log_retention)
        self.processing = Processing(
            self, "Processing", key=key, storage=self.storage, network=self.network, rds=self.database.target, log_retention=log_retention, repo_root=repo_root
        )
        self.query = Query(self, "Query", key=key, storage=self.storage, settings=settings)
        self.visualization = Visualization(self, "Visualization", network=self.network) if settings.quicksight else None
        jobs = {"Job1": self.processing.job1}
        if self.processing.job2 is not None:
            jobs["Job2"] = self.processing.job2
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            key=key,
            settings=settings,
            jobs=jobs,
            stream=self.streaming.stream,
            delivery_stream=self.streaming.delivery_stream,
            generator=self.streaming.generator,
            database=self.database.instance,
            quicksight=settings.quicksight,
        )

        env = {
            "CLICKPIPE_LAKE_BUCKET": self.storage.lake.bucket_name,
            "CLICKPIPE_GLUE_JOB1": self.processing.job1.job_name,
            "CLICKPIPE_PIPES_BUCKET": self.storage.pipes.bucket_name,
            "AWS_REGION": self.region,
            "CLICKPIPE_KINESIS_STREAM": self.streaming.stream.stream_name,
            "CLICKPIPE_ATHENA_WORKGROUP": self.query.workgroup_name,
            "CLICKPIPE_GLUE_DATABASE": catalog.GLUE_DATABASE,
            "CLICKPIPE_RDS_SECRET_ARN": self.database.secret_arn,
            "CLICKPIPE_RDS_HOST": self.database.instance.db_instance_endpoint_address,
        }
        if settings.lake_prefix:
            env["CLICKPIPE_LAKE_PREFIX"] = settings.lake_prefix
        if self.processing.job2 is not None:
            env["CLICKPIPE_GLUE_JOB2"] = self.processing.job2.job_name
        if self.visualization is not None:
            env["CLICKPIPE_QUICKSIGHT_VPC_CONNECTION_ARN"] = self.visualization.vpc_connection_arn
        self.env_outputs = add_env_outputs(self, env)

        dagster_env = dict(env)
        if settings.quicksight_principal_arn:
            dagster_env["CLICKPIPE_QUICKSIGHT_PRINCIPAL_ARN"] = settings.quicksight_principal_arn
        self.orchestration = Orchestration(
            self,
            "Orchestration",
            key=key,
            storage=self.storage,
            processing=self.processing,
            query=self.query,
            stream=self.streaming.stream,
            rds_secret_arn=self.database.secret_arn,
            network=self.network,
            rds_secret=self.database.instance.secret,
            rds_host=self.database.instance.db_instance_endpoint_address,
            environment=dagster_env,
            log_retention=log_retention,
            repo_root=repo_root,
        )

        # CDK's built-in template validation (feature flag validateAgainstDefaultRules) warns about a
        # mapping the Firehose L2 always adds.
        cdk.Validations.of(self).acknowledge(
            cdk.Acknowledgment(
                id="CloudFormation-Validate::W7001",
                reason="The aws_kinesisfirehose L2 adds its per-region Firehose CIDR mapping to every stack; it is only read for Redshift/Splunk/HTTP destinations, which this stack does not use.",
            )
        )


def _retention_name(days: int) -> str:
    by_days = {
        1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS", 30: "ONE_MONTH",
        60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS", 150: "FIVE_MONTHS", 180: "SIX_MONTHS",
        365: "ONE_YEAR", 400: "THIRTEEN_MONTHS", 545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS",
    }
    if days not in by_days:
        raise ValueError(f"log_retention_days must be one of {sorted(by_days)}")
    return by_days[days]

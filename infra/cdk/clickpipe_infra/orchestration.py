"""Where Dagster runs on AWS: the role its processes act with (webserver, daemon, sensors, runs).

Every AWS call the Dagster code location makes goes through this role, scoped to this stack's
objects: the lake (upload raw files, list them for the sensors, read the processed zone for
Athena), the Pipes context under ``dagster-pipes/``, the two Glue jobs and their output log group
(Pipes messages), Athena in the stack's workgroup over the stack's tables (read only: the stack
owns them), the click stream (``clickpipe simulate``), the RDS secret, and QuickSight objects named
``clickpipe-*``. The rehearsal (``make aws-rehearsal``) runs the Dagster process with exactly this
role's policy.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from constructs import Construct

from clickpipe_infra.nag import acknowledge
from clickpipe_infra.processing import Processing
from clickpipe_infra.query import Query
from clickpipe_infra.repo import catalog, contracts
from clickpipe_infra.storage import PIPES_PREFIX, Storage

QUICKSIGHT_ID_PREFIX = "clickpipe-"  # QuickSightResource.id_prefix + "-"


class Orchestration(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        storage: Storage,
        processing: Processing,
        query: Query,
        stream: kinesis.IStream,
        rds_secret_arn: str,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        layout, lake, pipes = storage.layout, storage.lake, storage.pipes
        arn = f"arn:{stack.partition}"
        region_account = f"{stack.region}:{stack.account}"

        self.role = role = iam.Role(
            self,
            "DagsterRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="clickpipe Dagster (webserver, daemon, runs): starts the Glue jobs, queries Athena, publishes QuickSight",
        )
        raw_batch = [layout.key("raw", d) for d in contracts.BATCH_DATASETS]
        read_zones = [layout.raw, layout.processed, layout.quarantine]
        lake_id = stack.get_logical_id(lake.node.default_child)
        pipes_id = stack.get_logical_id(pipes.node.default_child)

        def allow(sid: str, actions: list[str], resources: list[str], conditions: dict | None = None) -> None:
            role.add_to_policy(iam.PolicyStatement(sid=sid, actions=actions, resources=resources, conditions=conditions))

        # The lake: sensors list raw/, `clickpipe upload` writes raw batch files, Athena reads processed/
        # as the caller, the dashboards' summaries read quarantine/.
        allow("ListLakeZones", ["s3:ListBucket"], [lake.bucket_arn], {"StringLike": {"s3:prefix": [p + "*" for p in read_zones]}})
        allow("ReadLakeZones", ["s3:GetObject"], [lake.arn_for_objects(p + "*") for p in read_zones])
        allow("UploadRawBatchFiles", ["s3:PutObject"], [lake.arn_for_objects(p + "*") for p in raw_batch])
        allow("LakeLocation", ["s3:GetBucketLocation"], [lake.bucket_arn])
        # The Pipes context of each Glue run (PipesS3ContextInjector writes it, deletes it after).
        allow("PipesContext", ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"], [pipes.arn_for_objects(PIPES_PREFIX + "*")])
        # The Glue jobs, and the output group their Pipes messages come back in.
        allow("RunGlueJobs", ["glue:StartJobRun", "glue:GetJobRun", "glue:BatchStopJobRun"], [j.job_arn for j in processing.jobs])
        output = f"{processing.log_group_prefix}/output"
        allow("ReadJobOutput", ["logs:GetLogEvents"], [f"{arn}:logs:{region_account}:log-group:{output}:log-stream:*"])
        # Athena in the stack's workgroup over the stack's tables: read the catalog, write results.
        allow(
            "QueryAthena",
            ["athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults", "athena:StopQueryExecution", "athena:GetWorkGroup"],
            [f"{arn}:athena:{region_account}:workgroup/{query.workgroup_name}"],
        )
        tables = [f"{arn}:glue:{region_account}:table/{catalog.GLUE_DATABASE}/{catalog.table_name(ds)}" for ds in catalog.processed_tables()]
        allow(
            "ReadCatalog",
            ["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartitions"],
            [f"{arn}:glue:{region_account}:catalog", f"{arn}:glue:{region_account}:database/{catalog.GLUE_DATABASE}", *tables],
        )
        results = storage.athena_results
        allow("AthenaResults", ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"], [results.arn_for_objects("results/*")])
        allow("AthenaResultsBucket", ["s3:GetBucketLocation", "s3:ListBucket"], [results.bucket_arn], None)
        # The click stream (`clickpipe simulate` on AWS) and the data key for every encrypted object.
        allow("PutClicks", ["kinesis:PutRecords", "kinesis:DescribeStreamSummary"], [stream.stream_arn])
        allow("DataKey", ["kms:Decrypt", "kms:GenerateDataKey"], [key.key_arn])
        # The RDS credentials (the warehouse resource; QuickSight reads the secret with its own role).
        allow("ReadRdsSecret", ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"], [rds_secret_arn])
        # QuickSight: the data source, one data set per mart with its SPICE ingestions, the dashboard.
        qs = f"{arn}:quicksight:{region_account}"
        allow(
            "PublishDashboards",
            [
                "quicksight:CreateDataSource", "quicksight:DescribeDataSource", "quicksight:UpdateDataSource",
                "quicksight:DescribeDataSourcePermissions", "quicksight:UpdateDataSourcePermissions", "quicksight:PassDataSource",
                "quicksight:CreateDataSet", "quicksight:DescribeDataSet", "quicksight:UpdateDataSet",
                "quicksight:DescribeDataSetPermissions", "quicksight:UpdateDataSetPermissions", "quicksight:PassDataSet",
                "quicksight:CreateIngestion", "quicksight:DescribeIngestion",
                "quicksight:CreateDashboard", "quicksight:DescribeDashboard", "quicksight:UpdateDashboard",
                "quicksight:UpdateDashboardPublishedVersion", "quicksight:DescribeDashboardPermissions",
                "quicksight:UpdateDashboardPermissions", "quicksight:TagResource",
            ],
            [
                f"{qs}:datasource/{QUICKSIGHT_ID_PREFIX}*",
                f"{qs}:dataset/{QUICKSIGHT_ID_PREFIX}*",
                f"{qs}:dashboard/{QUICKSIGHT_ID_PREFIX}*",
            ],
        )  # fmt: skip

        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "Dagster lists, reads and uploads objects whose keys are made at run time (dataset, date, source file, Firehose hour); each statement is scoped to the zone prefixes it needs.",
            applies_to=[f"Resource::<{lake_id}.Arn>/{p}*" for p in sorted(set(read_zones) | set(raw_batch))],
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "Each Glue run's Pipes context is put at dagster-pipes/<30 random letters>/context.json and deleted after the run; scoped to that prefix of the Pipes bucket.",
            applies_to=[f"Resource::<{pipes_id}.Arn>/{PIPES_PREFIX}*"],
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "Athena names each result object after its query id under results/ of the results bucket; scoped to that prefix.",
            applies_to=[f"Resource::<{stack.get_logical_id(results.node.default_child)}.Arn>/results/*"],
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "Each Glue run writes its output to a log stream named after the run id; scoped to the streams of the jobs' output log group.",
            applies_to=[f"Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:{output}:log-stream:*"],
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "QuickSight ids are clickpipe-rds, clickpipe-<mart> and clickpipe-dashboard, and ingestions get run-time ids; scoped to ids with the clickpipe- prefix.",
            applies_to=[
                f"Resource::arn:<AWS::Partition>:quicksight:<AWS::Region>:<AWS::AccountId>:{kind}/{QUICKSIGHT_ID_PREFIX}*"
                for kind in ("datasource", "dataset", "dashboard")
            ],
        )

"""Where Dagster runs on AWS: in the VPC, on ECS Fargate, with the role its processes act with.

The webserver and the daemon (sensors, schedules, automation, the run queue) are two Fargate
services in the private "orchestration" subnets; each run is its own Fargate task started by
``dagster_aws.ecs.EcsRunLauncher`` (the daemon's QueuedRunCoordinator dequeues it). Run and event
storage is PostgreSQL (``dagster-postgres``) on the stack's RDS instance, with TLS, credentials
injected from the RDS secret. Because they run in the VPC, the ``marts/*`` assets' reconciliation
checks reach RDS the way Glue Job 2 does. The webserver has no load balancer and its security group
no ingress rule: the UI is reached with ECS Exec port forwarding (IAM-authenticated, audited in
CloudTrail), see DEPLOY.md. The image (Dockerfile written at synth from the project wheel) is built
and pushed by ``cdk deploy``.

Every AWS call the Dagster code location makes goes through this role, scoped to this stack's
objects: the lake (upload raw files, list them for the sensors, read the processed zone for
Athena), the Pipes context under ``dagster-pipes/``, the two Glue jobs and their output log group
(Pipes messages), Athena in the stack's workgroup over the stack's tables (read only: the stack
owns them), the click stream (``clickpipe simulate``), the RDS secret, and QuickSight objects named
``clickpipe-*``. The rehearsal (``make aws-rehearsal``) runs the Dagster process with exactly this
role's policy.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from clickpipe_infra.nag import acknowledge
from clickpipe_infra.network import PG_PORT, Network
from clickpipe_infra.processing import Processing
from clickpipe_infra.query import Query
from clickpipe_infra.repo import REPO_ROOT, catalog, contracts, write_dagster_image_context
from clickpipe_infra.storage import PIPES_PREFIX, Storage

QUICKSIGHT_ID_PREFIX = "clickpipe-"  # QuickSightResource.id_prefix + "-"
RUN_FAMILY = "clickpipe-dagster-run"  # the task definition EcsRunLauncher starts runs from


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
        network: Network | None = None,
        rds_secret: secretsmanager.ISecret | None = None,
        rds_host: str | None = None,
        environment: dict[str, str] | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.THREE_MONTHS,
        repo_root: Path = REPO_ROOT,
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
        # PipesCloudWatchMessageReader finds the run's stream (DescribeLogStreams), then reads it.
        allow("ReadJobOutput", ["logs:DescribeLogStreams", "logs:GetLogEvents"], [f"{arn}:logs:{region_account}:log-group:{output}:*"])
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
            applies_to=[f"Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:{output}:*"],
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

        if network is not None:
            self._services(key, network, rds_secret, rds_host, environment or {}, log_retention, repo_root)

    def _services(self, key, network: Network, rds_secret, rds_host: str, environment: dict, log_retention, repo_root: Path) -> None:
        """The ECS cluster, the webserver and daemon services and the run task definition."""
        stack = cdk.Stack.of(self)
        self.cluster = ecs.Cluster(self, "Cluster", vpc=network.vpc, container_insights_v2=ecs.ContainerInsights.ENABLED)
        self.log_group = logs.LogGroup(self, "Logs", retention=log_retention, encryption_key=key, removal_policy=cdk.RemovalPolicy.DESTROY)
        with tempfile.TemporaryDirectory(prefix="clickpipe-dagster-image-") as tmp:
            image = ecs.ContainerImage.from_asset(str(write_dagster_image_context(Path(tmp), repo_root)))
            # The run task definition by family (its latest revision): every Dagster process loads the
            # instance's EcsRunLauncher, the run tasks too, and a task cannot name its own ARN.
            env = {**environment, "DAGSTER_RUN_TASK_DEFINITION": RUN_FAMILY}
            self.run_task = self._task("Run", image, "run", [], rds_secret, rds_host, env, cpu=1024, memory=4096)
            self.webserver_task = self._task(
                "Webserver", image, "webserver", ["dagster-webserver", "-h", "0.0.0.0", "-p", "3000", "-w", "workspace.yaml"],
                rds_secret, rds_host, env, cpu=512, memory=1024, port=3000,
            )  # fmt: skip
            self.daemon_task = self._task("Daemon", image, "daemon", ["dagster-daemon", "run", "-w", "workspace.yaml"], rds_secret, rds_host, env, cpu=512, memory=1024)
        self.services = {}
        for name, task in (("Webserver", self.webserver_task), ("Daemon", self.daemon_task)):
            self.services[name] = ecs.FargateService(
                self,
                f"{name}Service",
                cluster=self.cluster,
                task_definition=task,
                desired_count=1,
                vpc_subnets=network.orchestration_subnets,
                security_groups=[network.dagster_sg],
                assign_public_ip=False,
                enable_execute_command=name == "Webserver",  # the UI's only way in: ECS Exec port forwarding
                min_healthy_percent=0,  # one of each: a deploy replaces it
                circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            )
        # EcsRunLauncher starts each run as a task of the run task definition, in the daemon's subnets
        # and security groups (read from the daemon's own task), with the same roles.
        cluster_arn = self.cluster.cluster_arn
        role = self.role
        role.add_to_policy(
            iam.PolicyStatement(
                sid="LaunchRuns",
                actions=["ecs:RunTask"],
                resources=[f"arn:{stack.partition}:ecs:{stack.region}:{stack.account}:task-definition/{self.run_task.family}:*"],
                conditions={"ArnEquals": {"ecs:cluster": cluster_arn}},
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="WatchRuns",
                actions=["ecs:DescribeTasks", "ecs:StopTask", "ecs:TagResource"],
                resources=[f"arn:{stack.partition}:ecs:{stack.region}:{stack.account}:task/{self.cluster.cluster_name}/*"],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadTaskDefinitions",
                actions=["ecs:DescribeTaskDefinition", "ec2:DescribeNetworkInterfaces"],
                resources=["*"],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="PassRunRoles",
                actions=["iam:PassRole"],
                resources=[role.role_arn, self.run_task.obtain_execution_role().role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            )
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "EcsRunLauncher reads task definitions and the daemon's network interface, and ECS Exec (the UI's way in) opens ssmmessages channels: none of these support resource-level permissions; runs start and stop only as tasks of this cluster.",
            applies_to=[
                "Resource::*",
                f"Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task-definition/{self.run_task.family}:*",
                f"Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task/<{stack.get_logical_id(self.cluster.node.default_child)}>/*",
            ],
        )
        for task in (self.run_task, self.webserver_task, self.daemon_task):
            acknowledge(
                task.obtain_execution_role(),
                "AwsSolutions-IAM5",
                "ECS pulls the image with ecr:GetAuthorizationToken, which supports no resource-level permissions; every other grant of the execution role names its repository, log group or secret.",
                applies_to=["Resource::*"],
            )
            acknowledge(
                task,
                "AwsSolutions-ECS2",
                "The environment holds names, ARNs and hosts of this stack's resources (the CLICKPIPE_* settings), no secret: the database credentials come from Secrets Manager as ECS secrets.",
            )

    def _task(self, cid, image, container, command, rds_secret, rds_host, environment, *, cpu, memory, port=None) -> ecs.FargateTaskDefinition:
        task = ecs.FargateTaskDefinition(self, f"{cid}Task", cpu=cpu, memory_limit_mib=memory, task_role=self.role, family=RUN_FAMILY if container == "run" else f"clickpipe-dagster-{container}")
        task.add_container(
            container,
            image=image,
            command=command or None,
            environment={
                **environment,
                "CLICKPIPE_ENV": "aws",
                "DAGSTER_PG_HOST": rds_host,
                "DAGSTER_PG_PORT": str(PG_PORT),
                "DAGSTER_PG_DB": "clickpipe",
            },
            secrets={
                "DAGSTER_PG_USERNAME": ecs.Secret.from_secrets_manager(rds_secret, "username"),
                "DAGSTER_PG_PASSWORD": ecs.Secret.from_secrets_manager(rds_secret, "password"),
            },
            logging=ecs.LogDrivers.aws_logs(stream_prefix=container, log_group=self.log_group),
            port_mappings=[ecs.PortMapping(container_port=port)] if port else None,
        )
        return task

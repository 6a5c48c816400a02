"""Glue jobs for glue_scripts/ on Glue 5.0 (Spark 3.5, Python 3.11), launched by Dagster Pipes.

Both jobs are PySpark ETL jobs that run the Spark engine (``--engine spark``: the same rules and mart
SQL as the DuckDB engine used locally; ``--engine duckdb`` per run still works, on the driver).
Job 1 (raw_to_processed.py) pip-installs its few extra modules from the package index. Job 2
(processed_to_rds.py) runs on a Glue NETWORK connection in the VPC, without an internet route: its
pure-Python dependencies travel in a vendor zip and its binary ones as wheels, installed from S3
with ``pip --no-index``. Synth builds that wheelhouse itself when it is missing or stale (or fails
saying how to provide it): a template never deploys a Job 2 that cannot import its loader.

Both jobs get ``--extra-py-files`` = the ``clickpipe_core`` and ``glue_scripts`` packages taken from
the project wheel (``repo.py``), an encrypting security configuration, and Glue 5.0's logging:
stdout/stderr (where Dagster Pipes reads its messages) go to ``<prefix>/output`` and Glue's own logs
to ``<prefix>/error``, with ``--custom-logGroup-prefix`` (Glue 4.0's ``--continuous-log-*`` flags do
not apply to 5.0); both groups are created here, KMS-encrypted, with the stack's retention.

No job bookmarks: each run reads exactly the partitions Dagster asks for (daily partitions, a sensor
cursor per raw prefix), which is the pipeline's incremental mechanism; a bookmark would only skip
input a re-run must read again (ARCHITECTURE.md, rule 2).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_s3_deployment as s3_deployment
from constructs import Construct

from clickpipe_infra.nag import acknowledge
from clickpipe_infra.network import Network
from clickpipe_infra.repo import (
    JOB1_SCRIPT,
    JOB2_SCRIPT,
    REPO_ROOT,
    WHEELHOUSE_DIR,
    ensure_job2_wheelhouse,
    write_glue_code_zip,
    write_vendor_zip,
)
from clickpipe_infra.storage import GLUE_PACKAGES_PREFIX, GLUE_TEMP_PREFIX, PIPES_PREFIX, Storage

# What the job scripts import beyond Glue 5.0's own modules (pinned like pyproject.toml). ua-parser
# (its rules and its Rust resolver, what the `regex` extra installs): Job 1's enrichment, which runs on
# the driver only (the distinct user agents of a run are parsed there, then joined by Spark).
GLUE_PYTHON_MODULES = ("dagster-pipes==1.13.27", "duckdb==2.0.0", "ua-parser==1.0.2", "ua-parser-builtins==202610", "ua-parser-rs==0.1.5")
ENGINE = "spark"  # the engine both jobs run on Glue (glue_scripts: --engine)


@dataclass(frozen=True)
class RdsTarget:
    """What Job 2 needs to reach PostgreSQL."""

    secret_arn: str
    host: str
    port: str
    database: str


def _code(asset: s3_assets.Asset) -> glue.Code:
    return glue.Code.from_bucket(asset.bucket, asset.s3_object_key)


class Processing(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        storage: Storage,
        network: Network,
        rds: RdsTarget,
        log_retention: logs.RetentionDays,
        repo_root: Path = REPO_ROOT,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self._key, self._storage = key, storage
        layout = storage.layout

        self.security_configuration = glue.SecurityConfiguration(
            self,
            "Encryption",
            s3_encryption=glue.S3Encryption.kms(key),
            cloud_watch_encryption=glue.CloudWatchEncryption.kms(key),
            job_bookmarks_encryption=glue.JobBookmarksEncryption.client_side_kms(key),
        )
        # Glue 5.0 writes the driver's stdout/stderr to <prefix>/output (stream = the run id; Dagster
        # Pipes reads its messages there) and its own logs to <prefix>/error.
        self.log_group_prefix = f"/aws-glue/{stack.stack_name.lower()}"
        self.log_groups = {
            name: logs.LogGroup(
                self,
                f"{name.title()}Logs",
                log_group_name=f"{self.log_group_prefix}/{name}",
                retention=log_retention,
                encryption_key=key,
                removal_policy=cdk.RemovalPolicy.DESTROY,
            )
            for name in ("output", "error")
        }

        # Synth-time bundles. Assets are staged (copied into the cloud assembly) when constructed, so
        # the temporary directory can go right after.
        with tempfile.TemporaryDirectory(prefix="clickpipe-glue-") as tmp:
            self.code_zip = s3_assets.Asset(self, "CodeZip", path=str(write_glue_code_zip(Path(tmp), repo_root)))
            self.vendor_zip = s3_assets.Asset(self, "VendorZip", path=str(write_vendor_zip(Path(tmp))))
        self.job1_script = s3_assets.Asset(self, "Job1Script", path=str(repo_root / JOB1_SCRIPT))
        job2_exists = (repo_root / JOB2_SCRIPT).is_file()
        self.job2_script = s3_assets.Asset(self, "Job2Script", path=str(repo_root / JOB2_SCRIPT)) if job2_exists else None
        # Glue installs wheels by file name, and an asset's object key is its hash: the wheelhouse is
        # copied into the Pipes bucket under glue-packages/ with its names (stale wheels pruned).
        self.job2_wheel_names = [w.name for w in ensure_job2_wheelhouse(repo_root)] if job2_exists else []
        self.job2_wheels = self._wheel_deployment(repo_root / WHEELHOUSE_DIR, log_retention) if self.job2_wheel_names else None

        common_args = {
            "--lake": storage.lake_uri,
            "--job-bookmark-option": "job-bookmark-disable",  # Dagster's partitions are the incremental mechanism
            "--TempDir": storage.pipes.s3_url_for_object(GLUE_TEMP_PREFIX),
            "--enable-job-insights": "true",
            "--custom-logGroup-prefix": self.log_group_prefix,
            "--engine": ENGINE,
        }

        # Job 1: raw -> processed + quarantine. No connection: Glue's own network reaches the package
        # index for --additional-python-modules.
        self.job1_role = self._role(
            "Job1Role", "Glue Job 1 (raw -> processed): reads raw/, writes processed/ and quarantine/", [self.job1_script, self.code_zip]
        )
        # On Glue, Spark's executors stage Job 1's output under _tmp/<run>/ in the lake; the driver
        # reads it back, checks it and publishes it, then deletes the staging. dedup/ holds the keys
        # each partition delivered; .locks/ the lease a run holds on its dataset's shared state.
        self._grant_lake(
            self.job1_role,
            read=[layout.raw, layout.processed, layout.quarantine, layout.dedup, layout.locks, layout.staging],
            write=[layout.processed, layout.quarantine, layout.dedup, layout.locks, layout.staging],
        )
        self.job1 = glue.PySparkEtlJob(
            self,
            "Job1",
            job_name=f"{stack.stack_name.lower()}-raw-to-processed",
            description="clickpipe Glue Job 1: raw zone -> processed zone (clean, dedup, quarantine)",
            role=self.job1_role.without_policy_updates(),
            script=_code(self.job1_script),
            extra_python_files=[_code(self.code_zip)],
            default_arguments={
                **common_args,
                "--additional-python-modules": ",".join(GLUE_PYTHON_MODULES),
            },
            **self._job_common(),
        )

        self.job1.node.add_dependency(self.job1_role)  # its policy exists before the job can run

        # Job 2: processed -> RDS, inside the VPC.
        self.connection = glue.Connection(
            self,
            "VpcConnection",
            type=glue.ConnectionType.NETWORK,
            description="clickpipe VPC (isolated subnet) for Glue jobs that reach RDS",
            network=glue.ConnectionNetwork.subnet(network.vpc.isolated_subnets[0]),
            security_groups=[network.glue_sg],
        )
        self.job2 = None
        self.job2_role = None
        if self.job2_script is not None:
            self.job2_role = self._role(
                "Job2Role",
                "Glue Job 2 (processed -> RDS): reads processed/, reads the RDS secret",
                [self.job2_script, self.code_zip, self.vendor_zip],
            )
            if self.job2_wheel_names:
                self.job2_role.add_to_policy(
                    iam.PolicyStatement(
                        sid="Job2Wheels",
                        actions=["s3:GetObject"],
                        resources=[storage.pipes.arn_for_objects(GLUE_PACKAGES_PREFIX + n) for n in self.job2_wheel_names],
                    )
                )
            self._grant_lake(self.job2_role, read=[layout.processed], write=[layout.processed_sessions])
            self.job2_role.add_to_policy(
                iam.PolicyStatement(sid="ReadRdsSecret", actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"], resources=[rds.secret_arn])
            )
            self._grant_vpc_access(self.job2_role, network)
            self.job2 = glue.PySparkEtlJob(
                self,
                "Job2",
                job_name=f"{stack.stack_name.lower()}-processed-to-rds",
                description="clickpipe Glue Job 2: processed zone -> marts in RDS PostgreSQL",
                role=self.job2_role.without_policy_updates(),
                script=_code(self.job2_script),
                connections=[self.connection],
                extra_python_files=[_code(self.code_zip), _code(self.vendor_zip)],
                default_arguments={
                    **common_args,
                    # the names glue_scripts/processed_to_rds.py reads
                    "--pg-secret-arn": rds.secret_arn,
                    "--pg-host": rds.host,
                    "--pg-port": rds.port,
                    "--pg-database": rds.database,
                    **self._wheel_arguments(),
                },
                **self._job_common(),
            )
            self.job2.node.add_dependency(self.job2_role)
            if self.job2_wheels is not None:
                self.job2.node.add_dependency(self.job2_wheels)  # the wheels are in place before a run

        self.jobs = [j for j in (self.job1, self.job2) if j is not None]

    # -- helpers ---------------------------------------------------------------------------------

    def _wheel_deployment(self, wheelhouse: Path, log_retention: logs.RetentionDays) -> s3_deployment.BucketDeployment:
        """CDK's BucketDeployment copies the wheelhouse to glue-packages/, with a role of our own that
        can touch only that prefix (its default role could read and write the whole bucket)."""
        stack, pipes, key = cdk.Stack.of(self), self._storage.pipes, self._key
        bundle = s3_assets.Asset(self, "Job2WheelsBundle", path=str(wheelhouse), exclude=["*", "!*.whl"])
        log_group = logs.LogGroup(
            self, "Job2WheelsLogs", retention=log_retention, encryption_key=key, removal_policy=cdk.RemovalPolicy.DESTROY
        )
        role = iam.Role(
            self,
            "Job2WheelsRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Copies Glue Job 2's wheels into the Pipes bucket's glue-packages/ (CDK BucketDeployment)",
        )
        role.add_to_policy(iam.PolicyStatement(sid="ReadTheBundle", actions=["s3:GetObject"], resources=[bundle.bucket.arn_for_objects(bundle.s3_object_key)]))
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ListThePackages",
                actions=["s3:ListBucket"],
                resources=[pipes.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [GLUE_PACKAGES_PREFIX + "*"]}},
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="SyncThePackages", actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], resources=[pipes.arn_for_objects(GLUE_PACKAGES_PREFIX + "*")]
            )
        )
        role.add_to_policy(iam.PolicyStatement(sid="DataKey", actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], resources=[key.key_arn]))
        role.add_to_policy(iam.PolicyStatement(sid="Logs", actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[log_group.log_group_arn]))
        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "The wheel file names change with every pinned version and stale ones are pruned; access is scoped to the glue-packages/ prefix of the Pipes bucket.",
            applies_to=[f"Resource::<{stack.get_logical_id(pipes.node.default_child)}.Arn>/{GLUE_PACKAGES_PREFIX}*"],
        )
        deployment = s3_deployment.BucketDeployment(
            self,
            "Job2Wheels",
            sources=[s3_deployment.Source.bucket(bundle.bucket, bundle.s3_object_key)],
            destination_bucket=pipes,
            destination_key_prefix=GLUE_PACKAGES_PREFIX,
            prune=True,
            memory_limit=512,  # pyarrow's wheel alone is ~55 MB
            role=role.without_policy_updates(),
            log_group=log_group,
        )
        deployment.node.add_dependency(role)
        for child in stack.node.children:  # the handler is a singleton function at the stack's root
            if child.node.id.startswith("Custom::CDKBucketDeployment"):
                acknowledge(
                    child,
                    "AwsSolutions-L1",
                    "The BucketDeployment handler is CDK's own singleton function; aws-cdk-lib chooses and upgrades its runtime.",
                )
        return deployment

    def _wheel_arguments(self) -> dict:
        """Glue installs S3 wheel paths given in --additional-python-modules; --no-index keeps pip
        off the package index it cannot reach (every dependency is in the wheelhouse)."""
        if not self.job2_wheel_names:
            return {}
        pipes = self._storage.pipes
        return {
            "--additional-python-modules": ",".join(pipes.s3_url_for_object(GLUE_PACKAGES_PREFIX + n) for n in self.job2_wheel_names),
            "--python-modules-installer-option": "--no-index",
        }

    def _job_common(self) -> dict:
        return dict(
            glue_version=glue.GlueVersion.V5_0,  # Spark 3.5, Python 3.11
            worker_configuration=glue.WorkerConfiguration(worker_type=glue.WorkerType.G_1X, number_of_workers=2),
            security_configuration=self.security_configuration,
            # Glue 4.0's flags (--enable-continuous-cloudwatch-log, --continuous-log-logGroup) are not
            # Glue 5.0's: logging is always on there, routed by --custom-logGroup-prefix (common_args).
            continuous_logging=glue.ContinuousLoggingProps(enabled=False),
            enable_metrics=True,
            enable_observability_metrics=True,
            max_concurrent_runs=10,  # one run per partition; a backfill is one run (BackfillPolicy.single_run)
            max_retries=0,  # Dagster owns retries
            timeout=cdk.Duration.hours(2),
        )

    def _role(self, cid: str, description: str, assets: list[s3_assets.Asset]) -> iam.Role:
        """The job's role, with every permission written here: the job construct gets the role through
        ``without_policy_updates()``, so the L2's broad grants (s3:GetObject*/List* on the whole asset
        bucket) never land on it."""
        stack = cdk.Stack.of(self)
        role = iam.Role(
            self,
            cid,
            assumed_by=iam.ServicePrincipal("glue.amazonaws.com"),
            description=description,
        )
        key, storage = self._key, self._storage
        # The job's script and zips: exactly these objects of the CDK asset bucket.
        role.add_to_policy(
            iam.PolicyStatement(sid="JobCode", actions=["s3:GetObject"], resources=[a.bucket.arn_for_objects(a.s3_object_key) for a in assets])
        )
        # The run's Dagster Pipes context (PipesS3ContextLoader reads it; Dagster writes and deletes
        # it) and Glue's temp dir.
        role.add_to_policy(
            iam.PolicyStatement(sid="ReadPipesContext", actions=["s3:GetObject"], resources=[storage.pipes.arn_for_objects(PIPES_PREFIX + "*")])
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="GlueTemp",
                actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                resources=[storage.pipes.arn_for_objects(GLUE_TEMP_PREFIX + "*")],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ListPipesAndGlueTemp",
                actions=["s3:ListBucket"],
                resources=[storage.pipes.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [PIPES_PREFIX + "*", GLUE_TEMP_PREFIX + "*"]}},
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(sid="DataKey", actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"], resources=[key.key_arn])
        )
        # The job's output/error groups; Glue may also derive group names at run time under /aws-glue/
        # (/aws-glue/jobs-<security configuration>-role/<role>/...).
        glue_logs = f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:/aws-glue/*"
        role.add_to_policy(
            iam.PolicyStatement(
                sid="GlueLogs",
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:AssociateKmsKey"],
                resources=[*(g.log_group_arn for g in self.log_groups.values()), glue_logs],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="GlueJobMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": "Glue"}},
            )
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "cloudwatch:PutMetricData supports no resource-level permissions; the statement is limited to the Glue metric namespace by condition.",
            applies_to=["Resource::*"],
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "Glue names its output/error log groups at run time after the security configuration and role (/aws-glue/jobs-<config>-role/<role>/...); scoped to /aws-glue/ in this account and region.",
            applies_to=["Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws-glue/*"],
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "Each run reads its Dagster Pipes context at dagster-pipes/<30 random letters>/context.json (read only) and Glue spills under glue-temp/ with run-generated keys; scoped to those prefixes of the Pipes bucket.",
            applies_to=[
                f"Resource::<{stack.get_logical_id(storage.pipes.node.default_child)}.Arn>/{PIPES_PREFIX}*",
                f"Resource::<{stack.get_logical_id(storage.pipes.node.default_child)}.Arn>/{GLUE_TEMP_PREFIX}*",
            ],
        )
        return role

    def _grant_lake(self, role: iam.Role, *, read: list[str], write: list[str]) -> None:
        stack = cdk.Stack.of(self)
        lake = self._storage.lake
        lake_id = stack.get_logical_id(lake.node.default_child)
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ListLakeZones",
                actions=["s3:ListBucket"],
                resources=[lake.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [p + "*" for p in read]}},
            )
        )
        role.add_to_policy(iam.PolicyStatement(sid="ReadLakeZones", actions=["s3:GetObject"], resources=[lake.arn_for_objects(p + "*") for p in read]))
        if write:
            role.add_to_policy(
                iam.PolicyStatement(
                    sid="PublishLakeZones",
                    actions=["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                    resources=[lake.arn_for_objects(p + "*") for p in write],
                )
            )
        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "Jobs read and publish partition files whose keys are derived from dataset, date and source file at run time; access is scoped to the zone prefixes this job uses.",
            applies_to=[f"Resource::<{lake_id}.Arn>/{p}*" for p in sorted(set(read) | set(write))],
        )

    def _grant_vpc_access(self, role: iam.Role, network: Network) -> None:
        stack = cdk.Stack.of(self)
        role.add_to_policy(
            iam.PolicyStatement(
                sid="DescribeVpcForConnection",
                actions=[
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeSubnets",
                    "ec2:DescribeSecurityGroups",
                    "ec2:DescribeVpcs",
                    "ec2:DescribeVpcAttribute",
                    "ec2:DescribeVpcEndpoints",
                    "ec2:DescribeRouteTables",
                ],
                resources=["*"],
            )
        )
        eni_arn = f"arn:{stack.partition}:ec2:{stack.region}:{stack.account}:network-interface/*"
        subnet = network.vpc.isolated_subnets[0]
        role.add_to_policy(
            iam.PolicyStatement(
                sid="NetworkInterfacesInTheConnectionSubnet",
                actions=["ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface", "ec2:CreateTags", "ec2:DeleteTags"],
                resources=[
                    eni_arn,
                    f"arn:{stack.partition}:ec2:{stack.region}:{stack.account}:subnet/{subnet.subnet_id}",
                    f"arn:{stack.partition}:ec2:{stack.region}:{stack.account}:security-group/{network.glue_sg.security_group_id}",
                ],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(sid="ReadTheConnection", actions=["glue:GetConnection"], resources=[self.connection.connection_arn])
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "Glue places the job on the VPC connection with EC2 Describe* calls (subnets, security groups, endpoints, route tables), which support no resource-level permissions (read-only).",
            applies_to=["Resource::*"],
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "Glue creates and deletes the job's network interfaces at run time, so their ids are unknown; scoped to network interfaces of this account and region.",
            applies_to=["Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:network-interface/*"],
        )

"""Click stream: generator Lambda (EventBridge schedule) -> Kinesis -> Firehose -> raw/clicks/YYYY/MM/DD/HH/."""

from __future__ import annotations

import tempfile
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from clickpipe_infra.layout import LakeLayout
from clickpipe_infra.nag import acknowledge
from clickpipe_infra.repo import LAMBDA_HANDLER, REPO_ROOT, write_lambda_bundle
from clickpipe_infra.settings import Settings

# Firehose's own UTC hour layout, written out so the error prefix can carry the error type.
CLICKS_HOUR_PATH = "!{timestamp:yyyy/MM/dd/HH}/"


class Streaming(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        lake: s3.IBucket,
        layout: LakeLayout,
        settings: Settings,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)

        self.stream = kinesis.Stream(
            self,
            "Clicks",
            stream_mode=kinesis.StreamMode.PROVISIONED if settings.kinesis_shards else kinesis.StreamMode.ON_DEMAND,
            shard_count=settings.kinesis_shards or None,
            encryption=kinesis.StreamEncryption.KMS,
            encryption_key=key,
            retention_period=cdk.Duration.hours(24),
        )

        firehose_logs = logs.LogGroup(self, "FirehoseLogs", retention=log_retention, encryption_key=key, removal_policy=cdk.RemovalPolicy.DESTROY)
        # Firehose's S3 role, written by hand: the L2's grantReadWrite would give s3:GetObject*/List*/
        # DeleteObject* on the whole lake. The construct gets a view of the role that ignores grants.
        self.firehose_s3_role = iam.Role(
            self,
            "FirehoseS3Role",
            # Firehose passes the account as external id (its documented confused-deputy guard).
            assumed_by=iam.ServicePrincipal("firehose.amazonaws.com", conditions={"StringEquals": {"sts:ExternalId": cdk.Stack.of(self).account}}),
            description="Firehose clicks delivery: write raw/clicks/ and the Firehose error prefix of the lake",
        )
        delivery_prefixes = [layout.clicks_raw, layout.firehose_errors]
        self.firehose_s3_role.add_to_policy(
            iam.PolicyStatement(
                sid="DeliverObjects",
                actions=["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"],
                resources=[lake.arn_for_objects(p + "*") for p in delivery_prefixes],
            )
        )
        self.firehose_s3_role.add_to_policy(
            iam.PolicyStatement(
                sid="LakeBucket", actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"], resources=[lake.bucket_arn]
            )
        )
        self.firehose_s3_role.add_to_policy(
            iam.PolicyStatement(sid="EncryptObjects", actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[key.key_arn])
        )
        self.firehose_s3_role.add_to_policy(
            iam.PolicyStatement(sid="DeliveryErrorLogs", actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[firehose_logs.log_group_arn])
        )
        acknowledge(
            self.firehose_s3_role,
            "AwsSolutions-IAM5",
            "Firehose names each object after the arrival hour and a UUID, so keys are unknown in advance; writes are scoped to raw/clicks/ and the Firehose error prefix.",
            applies_to=[f"Resource::<{cdk.Stack.of(self).get_logical_id(lake.node.default_child)}.Arn>/{p}*" for p in delivery_prefixes],
        )
        self.delivery_stream = firehose.DeliveryStream(
            self,
            "ClicksToLake",
            source=firehose.KinesisStreamSource(self.stream),
            destination=firehose.S3Bucket(
                lake,
                role=self.firehose_s3_role.without_policy_updates(),
                data_output_prefix=layout.clicks_raw + CLICKS_HOUR_PATH,
                error_output_prefix=layout.firehose_errors + "!{firehose:error-output-type}/" + CLICKS_HOUR_PATH,
                buffering_interval=cdk.Duration.seconds(settings.firehose_buffer_seconds),
                buffering_size=cdk.Size.mebibytes(settings.firehose_buffer_mib),
                compression=firehose.Compression.GZIP,
                encryption_key=key,
                logging_config=firehose.EnableLogging(firehose_logs),
            ),
        )
        self.delivery_stream.node.add_dependency(self.firehose_s3_role)
        acknowledge(
            self.delivery_stream,
            "AwsSolutions-KDF1",
            "Firehose offers no server-side encryption for a delivery stream whose source is a Kinesis data stream; records are KMS-encrypted in the stream and SSE-KMS in S3.",
        )
        acknowledge(
            self.stream,
            "AwsSolutions-KDS3",
            "The stream uses the project's customer-managed key on purpose: one rotated key and key policy covers the whole pipeline, and Lambda/Firehose get explicit, auditable grants on it.",
        )

        # The generator: least privilege by hand (no managed policy): PutRecords on this stream, the
        # key for the stream's encryption, and its own log group.
        fn_logs = logs.LogGroup(self, "GeneratorLogs", retention=log_retention, encryption_key=key, removal_policy=cdk.RemovalPolicy.DESTROY)
        role = iam.Role(
            self,
            "GeneratorRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="clickpipe click generator: PutRecords on the clicks stream only",
        )
        role.add_to_policy(
            iam.PolicyStatement(sid="PutClicks", actions=["kinesis:PutRecords"], resources=[self.stream.stream_arn])
        )
        role.add_to_policy(iam.PolicyStatement(sid="EncryptForTheStream", actions=["kms:GenerateDataKey"], resources=[key.key_arn]))
        role.add_to_policy(iam.PolicyStatement(sid="WriteOwnLogs", actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[fn_logs.log_group_arn]))

        # The bundle is staged into the cloud assembly when the function binds it; the directory can go then.
        with tempfile.TemporaryDirectory(prefix="clickpipe-lambda-") as tmp:
            code = lambda_.Code.from_asset(str(write_lambda_bundle(Path(tmp), REPO_ROOT)))
            self.generator = lambda_.Function(
                self,
                "Generator",
                description="clickpipe click event generator -> Kinesis PutRecords",
                runtime=lambda_.Runtime.PYTHON_3_11,
                architecture=lambda_.Architecture.ARM_64,
                handler=LAMBDA_HANDLER,
                code=code,
                role=role,
                log_group=fn_logs,
                memory_size=256,
                timeout=cdk.Duration.seconds(60),
                environment={"CLICKPIPE_KINESIS_STREAM": self.stream.stream_name, "CLICKPIPE_ENV": "aws"},
            )
        acknowledge(
            self.generator,
            "AwsSolutions-L1",
            "Pinned to Python 3.11 on purpose: the project declares requires-python >=3.11,<3.12 and the handler shares contracts.py with the Glue 5.0 (Python 3.11) jobs.",
        )

        self.schedule = events.Rule(
            self,
            "GeneratorSchedule",
            description="Run the click generator on a fixed rate",
            schedule=events.Schedule.rate(cdk.Duration.minutes(settings.generator_rate_minutes)),
            enabled=settings.generator_schedule_enabled,
            targets=[targets.LambdaFunction(self.generator, event=events.RuleTargetInput.from_object({"events": settings.generator_events_per_run}), retry_attempts=0)],
        )

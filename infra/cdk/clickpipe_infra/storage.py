"""S3: the lake (raw / processed / quarantine zones), Athena results, Dagster Pipes, access logs.

Every bucket blocks public access, refuses non-TLS requests, is versioned and logs its access.
Data buckets use SSE-KMS with the data key; the access-log bucket uses SSE-S3 because S3 server
access logging cannot deliver to an SSE-KMS bucket.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from clickpipe_infra.layout import LakeLayout
from clickpipe_infra.settings import Settings

# Key prefixes of the Pipes bucket.
PIPES_PREFIX = "dagster-pipes/"  # AwsGlueJobsResource.pipes_prefix default
GLUE_TEMP_PREFIX = "glue-temp/"  # the Glue jobs' --TempDir
GLUE_PACKAGES_PREFIX = "glue-packages/"  # Glue Job 2's wheels, under their own file names


def _abort_multipart() -> s3.LifecycleRule:
    return s3.LifecycleRule(id="abort-incomplete-multipart-uploads", abort_incomplete_multipart_upload_after=cdk.Duration.days(1))


class Storage(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, layout: LakeLayout, settings: Settings) -> None:
        super().__init__(scope, construct_id)
        self.layout = layout

        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=cdk.RemovalPolicy.RETAIN,
            lifecycle_rules=[
                _abort_multipart(),
                s3.LifecycleRule(id="expire-access-logs", expiration=cdk.Duration.days(365), noncurrent_version_expiration=cdk.Duration.days(30)),
            ],
        )
        def data_bucket(cid: str, log_prefix: str, rules: list[s3.LifecycleRule]) -> s3.Bucket:
            return s3.Bucket(
                self,
                cid,
                encryption=s3.BucketEncryption.KMS,
                encryption_key=key,
                bucket_key_enabled=True,
                block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
                enforce_ssl=True,
                versioned=True,
                object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
                server_access_logs_bucket=self.access_logs,
                server_access_logs_prefix=log_prefix,
                removal_policy=cdk.RemovalPolicy.RETAIN,
                lifecycle_rules=[_abort_multipart(), *rules],
            )

        self.lake = data_bucket(
            "Lake",
            "s3/lake/",
            [
                s3.LifecycleRule(
                    id="raw-to-infrequent-access-then-glacier",
                    prefix=layout.raw,
                    transitions=[
                        s3.Transition(storage_class=s3.StorageClass.INFREQUENT_ACCESS, transition_after=cdk.Duration.days(settings.raw_ia_days)),
                        s3.Transition(storage_class=s3.StorageClass.GLACIER, transition_after=cdk.Duration.days(settings.raw_glacier_days)),
                    ],
                ),
                s3.LifecycleRule(
                    id="expire-quarantine",
                    prefix=layout.quarantine,
                    expiration=cdk.Duration.days(settings.quarantine_expire_days),
                    noncurrent_version_expiration=cdk.Duration.days(7),
                ),
                # Job 1 on Spark stages each run under _tmp/<run>/ and deletes it when done; a run
                # killed mid-way leaves its staging here for a day.
                s3.LifecycleRule(id="expire-job-staging", prefix=layout.staging, expiration=cdk.Duration.days(1), noncurrent_version_expiration=cdk.Duration.days(1)),
                s3.LifecycleRule(
                    id="expire-firehose-errors",
                    prefix=layout.firehose_errors,
                    expiration=cdk.Duration.days(settings.quarantine_expire_days),
                ),
                # Re-runs replace processed files (ARCHITECTURE.md, rule 2): keep replaced versions only briefly.
                s3.LifecycleRule(id="expire-noncurrent-versions", noncurrent_version_expiration=cdk.Duration.days(30)),
            ],
        )
        self.athena_results = data_bucket(
            "AthenaResults",
            "s3/athena-results/",
            [
                s3.LifecycleRule(
                    id="expire-athena-results",
                    expiration=cdk.Duration.days(settings.athena_results_expire_days),
                    noncurrent_version_expiration=cdk.Duration.days(1),
                )
            ],
        )
        # The jobs' working bucket: Dagster Pipes run contexts (PipesS3ContextInjector) and Glue's temp
        # dir expire; the Glue Job 2 wheels (``make wheelhouse``) stay, only replaced versions go.
        self.pipes = data_bucket(
            "Pipes",
            "s3/pipes/",
            [
                s3.LifecycleRule(
                    id="expire-pipes-context-and-messages",
                    prefix=PIPES_PREFIX,
                    expiration=cdk.Duration.days(settings.pipes_expire_days),
                    noncurrent_version_expiration=cdk.Duration.days(1),
                ),
                s3.LifecycleRule(
                    id="expire-glue-temp",
                    prefix=GLUE_TEMP_PREFIX,
                    expiration=cdk.Duration.days(settings.pipes_expire_days),
                    noncurrent_version_expiration=cdk.Duration.days(1),
                ),
                s3.LifecycleRule(
                    id="expire-replaced-glue-packages",
                    prefix=GLUE_PACKAGES_PREFIX,
                    noncurrent_version_expiration=cdk.Duration.days(1),
                ),
            ],
        )

    @property
    def lake_uri(self) -> str:
        return self.layout.lake_uri(self.lake.bucket_name)

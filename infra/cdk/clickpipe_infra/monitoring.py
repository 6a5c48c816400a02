"""Alarms to one KMS-encrypted, TLS-only SNS topic, and a CloudWatch dashboard of the same metrics."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_glue as glue
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_rds as rds
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from constructs import Construct

from clickpipe_infra.repo import marts
from clickpipe_infra.settings import Settings

FIVE_MIN = cdk.Duration.minutes(5)


def dashboard_data_set_ids() -> list[str]:
    """The QuickSight data sets the dashboards assets create, one per mart (``clickpipe-<mart>``, no
    underscores: QuickSightResource.data_set_id); the rehearsal checks the two agree."""
    return [f"clickpipe-{name.replace('_', '-')}" for name in marts.MARTS]


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        settings: Settings,
        jobs: dict[str, glue.IJob],
        stream: kinesis.Stream,
        delivery_stream: firehose.DeliveryStream,
        generator: lambda_.Function,
        database: rds.DatabaseInstance,
        quicksight: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "Alarms", display_name="clickpipe alarms", master_key=key, enforce_ssl=True)
        if settings.alarm_email:
            self.topic.add_subscription(subs.EmailSubscription(settings.alarm_email))
        self.alarms: list[cw.Alarm] = []

        def alarm(cid: str, metric: cw.IMetric, threshold: float, description: str, *, op=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD, periods: int = 1, missing=cw.TreatMissingData.NOT_BREACHING) -> cw.Alarm:
            a = cw.Alarm(
                self,
                cid,
                metric=metric,
                threshold=threshold,
                evaluation_periods=periods,
                comparison_operator=op,
                treat_missing_data=missing,
                alarm_description=description,
            )
            a.add_alarm_action(cw_actions.SnsAction(self.topic))
            self.alarms.append(a)
            return a

        widgets: list[cw.IWidget] = []

        # Glue: a job run that ends FAILED or TIMEOUT (EventBridge "Glue Job State Change" rules of the L2).
        for name, job in jobs.items():
            failed = job.metric_failure(period=FIVE_MIN, statistic="Sum")
            timed_out = job.metric_timeout(period=FIVE_MIN, statistic="Sum")
            alarm(f"{name}Failed", failed, 1, f"Glue {name} ({job.job_name}): a run failed")
            alarm(f"{name}TimedOut", timed_out, 1, f"Glue {name} ({job.job_name}): a run timed out")
            # A run that takes far longer than usual (stuck on a lock, a skewed partition) long before it times out.
            elapsed = job.metric("glue.driver.aggregate.elapsedTime", glue.MetricType.COUNT, period=FIVE_MIN, statistic="Maximum")
            alarm(
                f"{name}RunDuration",
                elapsed,
                settings.glue_run_alarm_minutes * 60 * 1000,
                f"Glue {name} ({job.job_name}): a run has been going for more than {settings.glue_run_alarm_minutes} minutes",
                op=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            )
            widgets.append(cw.GraphWidget(width=12, title=f"Glue {name} runs", left=[job.metric_success(period=FIVE_MIN, statistic="Sum"), failed, timed_out], right=[elapsed]))

        # Firehose: age of the oldest record not yet in S3 (buffer interval plus slack).
        freshness = delivery_stream.metric("DeliveryToS3.DataFreshness", statistic="Maximum", period=FIVE_MIN)
        alarm(
            "FirehoseDataFreshness",
            freshness,
            settings.firehose_buffer_seconds + 600,
            "Firehose: records wait too long before landing in raw/clicks/",
            op=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            periods=2,
        )
        # Firehose: deliveries to S3 that failed (Success averages below 1); the records go to the error prefix.
        delivered = delivery_stream.metric("DeliveryToS3.Success", statistic="Minimum", period=FIVE_MIN)
        alarm("FirehoseDeliveryErrors", delivered, 1, "Firehose: a delivery to S3 failed (records went to errors/firehose/clicks/)", op=cw.ComparisonOperator.LESS_THAN_THRESHOLD)
        widgets.append(cw.GraphWidget(width=12, title="Firehose data freshness (s)", left=[freshness], right=[delivered]))

        # Kinesis: write throttling and consumer lag.
        throttled = stream.metric_write_provisioned_throughput_exceeded(period=FIVE_MIN, statistic="Sum")
        iterator_age = stream.metric_get_records_iterator_age_milliseconds(period=FIVE_MIN, statistic="Maximum")
        alarm("KinesisWriteThrottled", throttled, 1, "Kinesis: PutRecords throttled (WriteProvisionedThroughputExceeded)")
        alarm(
            "KinesisIteratorAge",
            iterator_age,
            15 * 60 * 1000,
            "Kinesis: consumer (Firehose) is more than 15 minutes behind",
            op=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            periods=2,
        )
        widgets.append(cw.GraphWidget(width=12, title="Kinesis", left=[stream.metric_incoming_records(period=FIVE_MIN, statistic="Sum"), throttled], right=[iterator_age]))

        # Lambda: generator errors.
        errors = generator.metric_errors(period=FIVE_MIN, statistic="Sum")
        alarm("GeneratorErrors", errors, 1, "Click generator Lambda: invocation errors")
        widgets.append(cw.GraphWidget(width=12, title="Generator", left=[generator.metric_invocations(period=FIVE_MIN, statistic="Sum"), errors]))

        # RDS: CPU and free storage.
        cpu = database.metric_cpu_utilization(period=FIVE_MIN, statistic="Average")
        free = database.metric_free_storage_space(period=FIVE_MIN, statistic="Minimum")
        alarm("RdsCpuHigh", cpu, 80, "RDS: CPU above 80% for 15 minutes", op=cw.ComparisonOperator.GREATER_THAN_THRESHOLD, periods=3)
        alarm(
            "RdsFreeStorageLow",
            free,
            2 * 1024**3,
            "RDS: less than 2 GiB free storage",
            op=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
            missing=cw.TreatMissingData.BREACHING,
        )
        widgets.append(cw.GraphWidget(width=12, title="RDS", left=[cpu], right=[free]))

        # QuickSight: a SPICE ingestion (refresh) of a dashboard data set that failed.
        if quicksight:
            errors_by_set = [
                cw.Metric(namespace="AWS/QuickSight", metric_name="IngestionErrorCount", dimensions_map={"DatasetId": ds}, period=FIVE_MIN, statistic="Sum")
                for ds in dashboard_data_set_ids()
            ]
            for ds, metric in zip(dashboard_data_set_ids(), errors_by_set):
                alarm(f"Spice{ds.title().replace('-', '')}IngestionErrors", metric, 1, f"QuickSight: a SPICE ingestion of data set {ds} failed")
            widgets.append(cw.GraphWidget(width=12, title="SPICE ingestion errors", left=errors_by_set))

        self.dashboard = cw.Dashboard(self, "Dashboard", dashboard_name=f"{cdk.Stack.of(self).stack_name}-pipeline")
        self.dashboard.add_widgets(cw.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24))
        for i in range(0, len(widgets), 2):
            self.dashboard.add_widgets(*[w for w in widgets[i : i + 2]])

"""The clickpipe code location: assets, checks, sensors, the automation sensor, the daily close, jobs.

Dagster loads ``defs`` (a ``@dg.definitions`` function) when the code location loads, not when
this module is imported; ``build_definitions`` is the same for tests and commands. Resources come
from ``environments.resources_for``: assets, sensors and job scripts never branch on the
environment.
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from clickpipe_core.contracts import BATCH_DATASETS
from clickpipe_core.marts import DAILY_MARTS, RETENTION_WEEKLY, SESSION_MARTS, USERS_DIM
from clickpipe_dagster import automation
from clickpipe_dagster.assets import keys
from clickpipe_dagster.assets.athena import athena_assets
from clickpipe_dagster.assets.dashboards import dashboard_assets
from clickpipe_dagster.assets.processed import processed_assets
from clickpipe_dagster.assets.raw import raw_assets
from clickpipe_dagster.assets.rds import rds_assets
from clickpipe_dagster.environments import executor_for, resources_for
from clickpipe_dagster.sensors import raw_sensors
from clickpipe_dagster.settings import Settings

clicks_job = dg.define_asset_job(
    "clicks_job",
    selection=dg.AssetSelection.assets(keys.processed("clicks")),
    description="Glue Job 1 for the click stream of one arrival day (or a range, in one run), read whole.",
)

batch_job = dg.define_asset_job(
    "batch_job",
    selection=dg.AssetSelection.assets(*(keys.processed(d) for d in BATCH_DATASETS)),
    description="Glue Job 1 for the batch files: the users snapshot, then the transactions of the ingest days asked for.",
)

serving_daily_job = dg.define_asset_job(
    "serving_daily_job",
    selection=dg.AssetSelection.assets(*(keys.mart(m) for m in DAILY_MARTS + SESSION_MARTS)),
    description="Glue Job 2 for one event day (or a range, in one run): daily and session marts into PostgreSQL, then checks.",
)

serving_refresh_job = dg.define_asset_job(
    "serving_refresh_job",
    selection=dg.AssetSelection.groups("athena") | dg.AssetSelection.assets(keys.mart(USERS_DIM), keys.mart(RETENTION_WEEKLY)),
    description="Create or update the Athena tables and bring the users dimension and weekly retention in PostgreSQL up to date.",
)

dashboards_job = dg.define_asset_job(
    "dashboards_job",
    selection=dg.AssetSelection.groups("dashboards"),
    description="Publish the dashboard: data source, one dataset per mart (SPICE refresh on AWS), the dashboard.",
)


@dg.schedule(
    name="clicks_daily_close",
    cron_schedule="30 0 * * *",
    execution_timezone="UTC",
    job=clicks_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=(
        "At 00:30 UTC, when Firehose can deliver nothing more for yesterday, reads yesterday's click stream whole: "
        "its increments become one file per dt x event_type (fewer, larger files for Athena), counted and checked "
        "as one day. The marts follow through automation."
    ),
)
def clicks_daily_close(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    day = (context.scheduled_execution_time - timedelta(days=1)).date().isoformat()
    return dg.RunRequest(partition_key=day, tags={automation.TRIGGER_TAG: automation.DAILY_CLOSE})


def build_definitions(settings: Settings | str | None = None) -> dg.Definitions:
    """The code location for ``settings`` (default: from the environment; or just ``"local"``/``"aws"``)."""
    settings = Settings.of(settings)
    return dg.Definitions(
        assets=[*raw_assets, *processed_assets, *athena_assets, *rds_assets, *dashboard_assets],
        sensors=[*raw_sensors(settings.sensor_seconds), automation.automation_sensor(settings.sensor_seconds)],
        schedules=[clicks_daily_close],
        jobs=[batch_job, clicks_job, serving_daily_job, serving_refresh_job, dashboards_job],
        resources=resources_for(settings),
        executor=executor_for(settings),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()

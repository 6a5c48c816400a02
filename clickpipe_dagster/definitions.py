"""The clickpipe code location: assets, checks, sensors and jobs, with resources per CLICKPIPE_ENV.

Assets, sensors and job scripts never branch on the environment; only ``resources_for`` does.
"""

from __future__ import annotations

import os

import dagster as dg
from dagster_aws.athena import AthenaClientResource
from dagster_aws.s3 import S3Resource

from clickpipe_dagster import settings
from clickpipe_core.catalog import GLUE_DATABASE
from clickpipe_core.marts import DAILY_MARTS, USERS_DIM
from clickpipe_dagster.assets import keys
from clickpipe_dagster.assets.athena import athena_assets
from clickpipe_dagster.assets.dashboards import dashboard_assets, dashboards_automation_sensor
from clickpipe_dagster.assets.processed import processed_assets
from clickpipe_dagster.assets.raw import raw_assets
from clickpipe_dagster.assets.rds import rds_assets
from clickpipe_core.contracts import BATCH_DATASETS
from clickpipe_dagster.partitions import daily_partitions
from clickpipe_dagster.resources.stream import KinesisStreamResource, LocalFirehoseResource
from clickpipe_dagster.resources.glue import AwsGlueJobsResource, LocalGlueJobsResource
from clickpipe_dagster.resources.athena import (
    AthenaQueryResource,
    DuckDBQueryResource,
    GlueCatalogResource,
    LocalCatalogResource,
)
from clickpipe_dagster.resources.dashboard import LocalDashboardResource
from clickpipe_dagster.resources.lake import LocalLakeResource, S3LakeResource
from clickpipe_dagster.resources.quicksight import QuickSightResource
from clickpipe_dagster.resources.warehouse import LocalWarehouseResource, RdsWarehouseResource
from clickpipe_dagster.sensors import sensors

clicks_job = dg.define_asset_job(
    "clicks_job",
    selection=dg.AssetSelection.assets(keys.raw("clicks"), keys.processed("clicks")),
    partitions_def=daily_partitions,
    description="Firehose objects of one arrival day (or a range, in one run) through Glue Job 1.",
)

batch_job = dg.define_asset_job(
    "batch_job",
    selection=dg.AssetSelection.assets(*(k for d in BATCH_DATASETS for k in (keys.raw(d), keys.processed(d)))),
    partitions_def=daily_partitions,
    description="Raw batch files of one ingest date through Glue Job 1 to the processed zone.",
)

serving_daily_job = dg.define_asset_job(
    "serving_daily_job",
    selection=dg.AssetSelection.assets(*(keys.mart(m) for m in DAILY_MARTS)),
    partitions_def=daily_partitions,
    description="Glue Job 2 for one event day (or a range, in one run): daily marts into PostgreSQL, then checks.",
)

serving_refresh_job = dg.define_asset_job(
    "serving_refresh_job",
    selection=dg.AssetSelection.groups("athena") | dg.AssetSelection.assets(keys.mart(USERS_DIM)),
    description="Create or update the Athena tables and rebuild the users dimension in PostgreSQL.",
)

dashboards_job = dg.define_asset_job(
    "dashboards_job",
    selection=dg.AssetSelection.groups("dashboards"),
    description="Publish the dashboard: data source, one dataset per mart (SPICE refresh on AWS), the dashboard.",
)


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ValueError(f"CLICKPIPE_ENV=aws needs {name} (see README, 'Deploy to AWS')")
    return value


def resources_for(env: str) -> dict:
    currency = os.environ.get("CLICKPIPE_DASHBOARD_CURRENCY", "USD")
    if env == "local":
        return {
            "stream": LocalFirehoseResource(lake=LocalLakeResource(root=str(settings.lake_dir()))),
            "lake": LocalLakeResource(root=str(settings.lake_dir())),
            # CLICKPIPE_GLUE_ENGINE=spark runs Glue Job 1 on a local Spark (needs Java 17 and the
            # spark extra), the engine Glue itself uses; the default is DuckDB.
            "glue": LocalGlueJobsResource(engine=settings.glue_engine()),
            "catalog_tables": LocalCatalogResource(duckdb_path=str(settings.athena_duckdb_path())),
            "query_engine": DuckDBQueryResource(lake_root=str(settings.lake_dir())),
            "warehouse": LocalWarehouseResource(
                pg_dir=str(settings.pg_dir()), pg_url=os.environ.get("CLICKPIPE_PG_URL") or None
            ),
            "dashboards": LocalDashboardResource(out_dir=str(settings.dashboard_dir()), default_currency=currency),
        }
    glue_database = os.environ.get("CLICKPIPE_GLUE_DATABASE", GLUE_DATABASE)
    s3 = S3Resource(endpoint_url=os.environ.get("AWS_ENDPOINT_URL_S3") or None, region_name=os.environ.get("AWS_REGION"))
    return {
        "stream": KinesisStreamResource(
            stream_name=_required("CLICKPIPE_KINESIS_STREAM"),
            region_name=os.environ.get("AWS_REGION"),
            endpoint_url=os.environ.get("AWS_ENDPOINT_URL_KINESIS") or None,
        ),
        "lake": S3LakeResource(s3=s3, bucket=_required("CLICKPIPE_LAKE_BUCKET"), prefix=os.environ.get("CLICKPIPE_LAKE_PREFIX", "")),
        "glue": AwsGlueJobsResource(
            job_names={
                "raw_to_processed.py": _required("CLICKPIPE_GLUE_JOB1"),
                "processed_to_rds.py": _required("CLICKPIPE_GLUE_JOB2"),
            },
            pipes_bucket=_required("CLICKPIPE_PIPES_BUCKET"),
            region_name=os.environ.get("AWS_REGION"),
        ),
        "catalog_tables": GlueCatalogResource(database=glue_database, region_name=os.environ.get("AWS_REGION")),
        "query_engine": AthenaQueryResource(
            athena=AthenaClientResource(workgroup=os.environ.get("CLICKPIPE_ATHENA_WORKGROUP", "primary"), polling_interval=2),
            database=glue_database,
            output_location=os.environ.get("CLICKPIPE_ATHENA_OUTPUT") or None,
            result_reuse_max_age_minutes=int(os.environ.get("CLICKPIPE_ATHENA_REUSE_MINUTES", "60")),
        ),
        "warehouse": RdsWarehouseResource(
            secret_arn=_required("CLICKPIPE_RDS_SECRET_ARN"),
            host=os.environ.get("CLICKPIPE_RDS_HOST") or None,
            port=int(os.environ.get("CLICKPIPE_RDS_PORT") or 5432),
            database=os.environ.get("CLICKPIPE_RDS_DATABASE", "clickpipe"),  # the CDK stack's database
            region_name=os.environ.get("AWS_REGION"),
        ),
        # QuickSight settings are checked when the dashboards assets run, not here: a stack deployed
        # with -c quicksight=false still loads (and runs everything else).
        "dashboards": QuickSightResource(
            region_name=os.environ.get("AWS_REGION"),
            aws_account_id=os.environ.get("CLICKPIPE_AWS_ACCOUNT_ID") or None,
            principal_arn=os.environ.get("CLICKPIPE_QUICKSIGHT_PRINCIPAL_ARN") or None,
            vpc_connection_arn=os.environ.get("CLICKPIPE_QUICKSIGHT_VPC_CONNECTION_ARN") or None,
            rds_secret_arn=os.environ.get("CLICKPIPE_RDS_SECRET_ARN") or None,
            rds_host=os.environ.get("CLICKPIPE_RDS_HOST") or None,
            rds_port=int(os.environ.get("CLICKPIPE_RDS_PORT") or 5432),
            import_mode=os.environ.get("CLICKPIPE_QUICKSIGHT_IMPORT_MODE", "SPICE").strip().upper(),
            default_currency=currency,
        ),
    }


def build_definitions(env: str | None = None) -> dg.Definitions:
    return dg.Definitions(
        assets=[*raw_assets, *processed_assets, *athena_assets, *rds_assets, *dashboard_assets],
        sensors=[*sensors, dashboards_automation_sensor],
        jobs=[batch_job, clicks_job, serving_daily_job, serving_refresh_job, dashboards_job],
        resources=resources_for(env or settings.environment()),
    )


defs = build_definitions()

"""The clickpipe code location: assets, checks, sensors and jobs, with resources per CLICKPIPE_ENV.

Assets, sensors and job scripts never branch on the environment; only ``resources_for`` does.
"""

from __future__ import annotations

import os

import dagster as dg
from dagster_aws.s3 import S3Resource

from clickpipe_dagster import settings
from clickpipe_dagster.assets.processed import processed_assets
from clickpipe_dagster.assets.raw import raw_assets
from clickpipe_dagster.contracts import BATCH_DATASETS
from clickpipe_dagster.partitions import daily_partitions
from clickpipe_dagster.resources.glue import AwsGlueJobsResource, LocalGlueJobsResource
from clickpipe_dagster.resources.lake import LocalLakeResource, S3LakeResource
from clickpipe_dagster.sensors import sensors

clicks_job = dg.define_asset_job(
    "clicks_job",
    selection=dg.AssetSelection.assets("raw_clicks", "processed_clicks"),
    partitions_def=daily_partitions,
    description="Firehose objects of one arrival day (or a range, in one run) through Glue Job 1.",
)

batch_job = dg.define_asset_job(
    "batch_job",
    selection=dg.AssetSelection.assets(*(f"{z}_{d}" for z in ("raw", "processed") for d in BATCH_DATASETS)),
    partitions_def=daily_partitions,
    description="Raw batch files of one ingest date through Glue Job 1 to the processed zone.",
)


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ValueError(f"CLICKPIPE_ENV=aws needs {name} (see README, 'Deploy to AWS')")
    return value


def resources_for(env: str) -> dict:
    if env == "local":
        return {
            "lake": LocalLakeResource(root=str(settings.lake_dir())),
            # CLICKPIPE_GLUE_ENGINE=spark runs Glue Job 1 on a local Spark (needs Java 17 and the
            # spark extra), the engine Glue itself uses; the default is DuckDB.
            "glue": LocalGlueJobsResource(engine=settings.glue_engine()),
        }
    s3 = S3Resource(endpoint_url=os.environ.get("AWS_ENDPOINT_URL_S3") or None, region_name=os.environ.get("AWS_REGION"))
    return {
        "lake": S3LakeResource(s3=s3, bucket=_required("CLICKPIPE_LAKE_BUCKET"), prefix=os.environ.get("CLICKPIPE_LAKE_PREFIX", "")),
        "glue": AwsGlueJobsResource(
            job_names={"raw_to_processed.py": _required("CLICKPIPE_GLUE_JOB1")},
            pipes_bucket=_required("CLICKPIPE_PIPES_BUCKET"),
            region_name=os.environ.get("AWS_REGION"),
        ),
    }


def build_definitions(env: str | None = None) -> dg.Definitions:
    return dg.Definitions(
        assets=[*raw_assets, *processed_assets],
        sensors=sensors,
        jobs=[batch_job, clicks_job],
        resources=resources_for(env or settings.environment()),
    )


defs = build_definitions()

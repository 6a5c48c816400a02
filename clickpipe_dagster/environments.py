"""Resources per deployment (``CLICKPIPE_ENV``): the one place that knows local from aws.

Assets, sensors and job scripts never branch on the environment; they ask a resource. What is
secret or deployment-specific (the PostgreSQL URL, bucket, stream and job names, ARNs, hosts) is
configured as ``dg.EnvVar``: the configuration holds the variable's *name* (that is what the UI
shows) and Dagster reads the value when a run uses the resource. Commands outside a run (the CLI,
the demo) resolve them the same way with ``resolved()``.

Building these imports the resources only, not the assets: a command that needs a resource
does not load the code location.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re

import dagster as dg

from clickpipe_core.catalog import GLUE_DATABASE
from clickpipe_dagster.settings import Settings

# What CLICKPIPE_ENV=aws cannot run without (infra/cdk/outputs_to_env.py exports them all).
AWS_REQUIRED = (
    "AWS_REGION",
    "CLICKPIPE_LAKE_BUCKET",
    "CLICKPIPE_KINESIS_STREAM",
    "CLICKPIPE_GLUE_JOB1",
    "CLICKPIPE_GLUE_JOB2",
    "CLICKPIPE_PIPES_BUCKET",
    "CLICKPIPE_RDS_SECRET_ARN",
)


def _optional(name: str, default=None):
    """``dg.EnvVar(name)`` when the variable is set, else ``default`` (the value is read at run time)."""
    return dg.EnvVar(name) if os.environ.get(name) else default


def _optional_port(name: str, default: int = 5432):
    return dg.EnvVar.int(name) if os.environ.get(name) else default


def _quicksight_import_mode() -> str:
    return os.environ.get("CLICKPIPE_QUICKSIGHT_IMPORT_MODE", "SPICE").strip().upper() or "SPICE"


def local_resources(settings: Settings) -> dict:
    from clickpipe_dagster.resources.athena import DuckDBQueryResource, LocalCatalogResource
    from clickpipe_dagster.resources.dashboard import LocalDashboardResource
    from clickpipe_dagster.resources.glue import LocalGlueJobsResource
    from clickpipe_dagster.resources.lake import LocalLakeResource
    from clickpipe_dagster.resources.stream import LocalFirehoseResource
    from clickpipe_dagster.resources.warehouse import LocalWarehouseResource

    lake = LocalLakeResource(root=str(settings.lake_dir))
    return {
        "lake": lake,
        "stream": LocalFirehoseResource(lake=lake),
        # CLICKPIPE_GLUE_ENGINE=spark runs the Glue jobs on a local Spark (needs Java 17 and the
        # spark extra), the engine Glue itself uses; the default is DuckDB.
        "glue": LocalGlueJobsResource(engine=settings.glue_engine),
        "catalog_tables": LocalCatalogResource(duckdb_path=str(settings.athena_duckdb_path)),
        "query_engine": DuckDBQueryResource(lake_root=str(settings.lake_dir)),
        # CLICKPIPE_PG_URL carries a password: only its name is configuration.
        "warehouse": LocalWarehouseResource(pg_dir=str(settings.pg_dir), pg_url=_optional("CLICKPIPE_PG_URL")),
        "dashboards": LocalDashboardResource(
            out_dir=str(settings.dashboard_dir),
            default_currency=os.environ.get("CLICKPIPE_DASHBOARD_CURRENCY", "USD"),
        ),
    }


def aws_resources(settings: Settings) -> dict:
    from dagster_aws.athena import AthenaClientResource
    from dagster_aws.s3 import S3Resource

    from clickpipe_dagster.resources.athena import GlueCatalogResource
    from clickpipe_dagster.resources.athena_query import AthenaQueryResource
    from clickpipe_dagster.resources.glue import AwsGlueJobsResource
    from clickpipe_dagster.resources.s3_lake import S3LakeResource
    from clickpipe_dagster.resources.quicksight import QuickSightResource
    from clickpipe_dagster.resources.stream import KinesisStreamResource
    from clickpipe_dagster.resources.warehouse import RdsWarehouseResource

    missing = [name for name in AWS_REQUIRED if not os.environ.get(name)]
    if missing:
        raise ValueError(f"CLICKPIPE_ENV=aws needs {', '.join(missing)} (see README, 'Deploy to AWS')")
    region = dg.EnvVar("AWS_REGION")
    glue_database = _optional("CLICKPIPE_GLUE_DATABASE", GLUE_DATABASE)
    secret = dg.EnvVar("CLICKPIPE_RDS_SECRET_ARN")
    rds_host = _optional("CLICKPIPE_RDS_HOST")
    return {
        "lake": S3LakeResource(
            s3=S3Resource(endpoint_url=_optional("AWS_ENDPOINT_URL_S3"), region_name=region),
            bucket=dg.EnvVar("CLICKPIPE_LAKE_BUCKET"),
            prefix=_optional("CLICKPIPE_LAKE_PREFIX", ""),
        ),
        "stream": KinesisStreamResource(
            stream_name=dg.EnvVar("CLICKPIPE_KINESIS_STREAM"),
            region_name=region,
            endpoint_url=_optional("AWS_ENDPOINT_URL_KINESIS"),
        ),
        "glue": AwsGlueJobsResource(
            job_names={"raw_to_processed.py": dg.EnvVar("CLICKPIPE_GLUE_JOB1"), "processed_to_rds.py": dg.EnvVar("CLICKPIPE_GLUE_JOB2")},
            pipes_bucket=dg.EnvVar("CLICKPIPE_PIPES_BUCKET"),
            region_name=region,
        ),
        "catalog_tables": GlueCatalogResource(database=glue_database, region_name=region),
        "query_engine": AthenaQueryResource(
            athena=AthenaClientResource(workgroup=_optional("CLICKPIPE_ATHENA_WORKGROUP", "primary"), polling_interval=2),
            database=glue_database,
            output_location=_optional("CLICKPIPE_ATHENA_OUTPUT"),
            result_reuse_max_age_minutes=int(os.environ.get("CLICKPIPE_ATHENA_REUSE_MINUTES", "60")),
        ),
        "warehouse": RdsWarehouseResource(
            secret_arn=secret,
            host=rds_host,
            port=_optional_port("CLICKPIPE_RDS_PORT"),
            database=_optional("CLICKPIPE_RDS_DATABASE", "clickpipe"),  # the CDK stack's database
            region_name=region,
        ),
        # QuickSight settings are checked when the dashboards assets run, not here: a stack deployed
        # with -c quicksight=false still loads (and runs everything else).
        "dashboards": QuickSightResource(
            region_name=region,
            aws_account_id=_optional("CLICKPIPE_AWS_ACCOUNT_ID"),
            principal_arn=_optional("CLICKPIPE_QUICKSIGHT_PRINCIPAL_ARN"),
            vpc_connection_arn=_optional("CLICKPIPE_QUICKSIGHT_VPC_CONNECTION_ARN"),
            rds_secret_arn=secret,
            rds_host=rds_host,
            rds_port=_optional_port("CLICKPIPE_RDS_PORT"),
            import_mode=_quicksight_import_mode(),
            default_currency=os.environ.get("CLICKPIPE_DASHBOARD_CURRENCY", "USD"),
        ),
    }


def resources_for(settings: Settings | str | None = None) -> dict:
    """The resources of a deployment: ``Settings``, an environment name, or the current environment."""
    settings = Settings.of(settings)
    return local_resources(settings) if settings.env == "local" else aws_resources(settings)


def executor_for(settings: Settings | str | None = None) -> dg.ExecutorDefinition:
    """How a run executes its steps. Locally, in the run's own process, one step after the other:
    a step's work is DuckDB's or PostgreSQL's (which use every core themselves), and a process per
    step would load the code location again for each (seconds of CPU every time). On AWS, a process
    per step, so that the steps of a run wait on their Glue and Athena work side by side."""
    settings = Settings.of(settings)
    return dg.in_process_executor if settings.env == "local" else dg.multiprocess_executor


_RESOLVED = contextlib.ExitStack()
atexit.register(_RESOLVED.close)


def resolved(resource: dg.ConfigurableResource) -> dg.ConfigurableResource:
    """The resource with its ``dg.EnvVar`` settings read now, for use outside a run (CLI, demo).
    A missing variable is one clear error naming it."""
    try:
        # The context-manager form handles nested resources too; what it sets up lasts as long as
        # the command (torn down at exit).
        return _RESOLVED.enter_context(resource.process_config_and_initialize_cm())
    except dg.DagsterInvalidConfigError as e:
        names = sorted(set(re.findall(r'environment variable "([^"]+)" which is not set', str(e))))
        if not names:
            raise
        raise ValueError(f"{', '.join(names)} must be set (see README, 'Deploy to AWS')") from None


def resource(key: str, settings: Settings | None = None) -> dg.ConfigurableResource:
    """One resource of the current deployment, resolved (for commands outside a run)."""
    return resolved(resources_for(settings)[key])

"""Reporting marts in PostgreSQL (RDS), built by Glue Job 2 from the processed zone.

Daily marts are partitioned like the processed assets. A mart partition is a UTC event day
(``dt``); the processed partition of ingest date D writes that day and, for late records, the day
before, so mart day D depends on processed days D and D+1. One run (or one single-run backfill)
replaces each day in one PostgreSQL transaction. The users dimension is rebuilt whole.
Reconciliation checks compare every loaded day with the processed zone through the query engine.
"""

import warnings

import dagster as dg

from clickpipe_dagster import reconcile
from clickpipe_dagster.assets import keys
from clickpipe_dagster.assets.common import OWNERS
from clickpipe_core.contracts import get_dataset
from clickpipe_dagster.partitions import daily_partitions
from clickpipe_dagster.resources.athena import QueryEngineResource
from clickpipe_dagster.resources.glue import GlueJobsResource
from clickpipe_dagster.resources.lake import LakeResource
from clickpipe_dagster.resources.warehouse import WarehouseResource
from clickpipe_core.marts import DAILY_MARTS, USERS_DIM, Mart
from clickpipe_core.errors import WarehouseError

JOB2 = "processed_to_rds.py"
KINDS = {"postgres", "duckdb", "glue"}
LATE_DAYS = 1  # processed day D may hold records of day D-1


def column_schema(mart: Mart) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(c.name, c.pg_type, description=c.description or None,
                           constraints=dg.TableColumnConstraints(nullable=c.nullable))  # fmt: skip
            for c in mart.columns
        ],
        constraints=dg.TableConstraints(other=[f"PRIMARY KEY ({', '.join(mart.key)})"]),
    )


def _deps(mart: Mart) -> list[dg.AssetDep]:
    deps = []
    for name in mart.sources:
        if get_dataset(name).partition_time_column and mart.daily:
            with warnings.catch_warnings():  # the parameter is beta in 1.13; the latest day has no D+1 yet
                warnings.simplefilter("ignore", dg.BetaWarning)
                mapping = dg.TimeWindowPartitionMapping(
                    start_offset=0, end_offset=LATE_DAYS, allow_nonexistent_upstream_partitions=True
                )
        else:
            mapping = dg.AllPartitionMapping()
        deps.append(dg.AssetDep(keys.processed(name), partition_mapping=mapping))
    return deps


def _spec(mart: Mart) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=keys.mart(mart),
        deps=_deps(mart),
        group_name="serving",
        kinds=KINDS,
        owners=OWNERS,
        partitions_def=daily_partitions if mart.daily else None,
        description=(
            f"`{mart.table}` in PostgreSQL. {mart.description} Built by Glue Job 2 (`glue_scripts/{JOB2}`) "
            f"with `clickpipe_core/sql/marts/{mart.name}.sql` and loaded with binary COPY (ADBC); "
            + ("each day is replaced in one transaction." if mart.daily else "replaced whole in one transaction.")
        ),
        metadata={
            "dagster/column_schema": column_schema(mart),
            "dagster/table_name": mart.table,
            "key": ", ".join(mart.key),
            "sql": f"clickpipe_core/sql/marts/{mart.name}.sql",
        },
    )


def run_job2(context, group: str, lake: LakeResource, glue: GlueJobsResource, warehouse: WarehouseResource):
    try:
        warehouse.check_connection()
        env = {**lake.job_env(), **warehouse.job_env()}
    except WarehouseError as e:
        raise dg.Failure(description=str(e), allow_retries=False) from None
    yield from glue.run_for_asset(
        context,
        script=JOB2,
        arguments={"--marts": group, "--lake": lake.job_uri, **warehouse.job_arguments()},
        env=env,
        extras={"run_id": context.run_id},
        row_count_key="rows_loaded",
    )


@dg.multi_asset(
    name="rds_daily_marts",
    specs=[_spec(m) for m in DAILY_MARTS],
    check_specs=[s for m in DAILY_MARTS for s in reconcile.check_specs(m)],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    description="Glue Job 2 for the daily marts: one transaction per day across all of them.",
)
def rds_daily_marts(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    glue: GlueJobsResource,
    warehouse: WarehouseResource,
    query_engine: QueryEngineResource,
):
    yield from run_job2(context, "daily", lake, glue, warehouse)
    days = (context.partition_key_range.start, context.partition_key_range.end)
    yield from reconcile.evaluate(DAILY_MARTS, query_engine, warehouse, days)


@dg.multi_asset(
    name="rds_users_dimension",
    specs=[_spec(USERS_DIM)],
    check_specs=reconcile.check_specs(USERS_DIM),
    description="Glue Job 2 for the users dimension, rebuilt whole from every processed day.",
)
def rds_users_dimension(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    glue: GlueJobsResource,
    warehouse: WarehouseResource,
    query_engine: QueryEngineResource,
):
    yield from run_job2(context, "users", lake, glue, warehouse)
    yield from reconcile.evaluate([USERS_DIM], query_engine, warehouse, None)


rds_assets = [rds_daily_marts, rds_users_dimension]

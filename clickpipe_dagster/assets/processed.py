"""The processed zone: clean, typed, deduplicated Parquet written by Glue Job 1."""

import dagster as dg

from clickpipe_dagster.assets import keys
from clickpipe_dagster.assets.common import OWNERS, table_schema
from clickpipe_dagster.checks import processed_check_specs
from clickpipe_core.contracts import DATASETS, get_dataset
from clickpipe_dagster.partitions import daily_partitions
from clickpipe_dagster.resources.glue import GlueJobsResource
from clickpipe_dagster.resources.lake import LakeResource
from clickpipe_core import layout

JOB1 = "raw_to_processed.py"


def run_job1(context: dg.AssetExecutionContext, dataset: str, lake: LakeResource, glue: GlueJobsResource):
    """Run Glue Job 1 for this asset's partition(s); yield its materialization and check results."""
    yield from glue.run_for_asset(
        context,
        script=JOB1,
        arguments={"--dataset": dataset, "--lake": lake.job_uri},
        env=lake.job_env(),
        row_count_key="rows_out",
        metadata={
            "location": dg.MetadataValue.url(lake.console_url(layout.processed_prefix(dataset))),
            "quarantine": dg.MetadataValue.url(lake.console_url(f"{layout.QUARANTINE}/{dataset}/")),
        },
    )


def processed_asset_for(dataset: str) -> dg.AssetsDefinition:
    ds = get_dataset(dataset)
    key = keys.processed(dataset)
    levels = "/".join(f"{c}=…" for c in ds.partition_columns)
    layout_note = (
        f"`processed/{dataset}/{levels}/part-ingest_date=…parquet`, by the UTC date of `{ds.partition_time_column}`"
        if ds.partition_time_column
        else f"`processed/{dataset}/{dataset}.parquet`, the current snapshot (per key, the newest ingest date wins)"
    )
    deps = [dg.AssetDep(keys.raw(dataset))]
    # A referenced dataset's snapshot merges all its partitions, so every one of them matters.
    deps += [
        dg.AssetDep(keys.processed(target), partition_mapping=dg.AllPartitionMapping())
        for target, _ in ds.references.values()
    ]

    @dg.asset(
        key=key,
        partitions_def=daily_partitions,
        deps=deps,
        check_specs=processed_check_specs(ds, key),
        group_name="processed",
        kinds={"glue", "duckdb", "parquet"},
        # A stream backfills a whole date range in one job run; batch partitions run one by one
        # because transactions need the users snapshot of their own day.
        backfill_policy=dg.BackfillPolicy.single_run() if ds.raw_format == "ndjson" else None,
        owners=OWNERS,
        code_version="job1-v1",
        description=(
            f"{ds.description} Cleaned by Glue Job 1 (`glue_scripts/{JOB1}`) from the raw partition of the "
            f"same ingest (arrival) date: validated against the contract, trimmed and normalized, deduplicated on "
            f"`{ds.key}`, bad rows sent to `quarantine/{dataset}/` with a reason. Layout: {layout_note}."
        ),
        metadata={"dagster/column_schema": table_schema(ds), "key": ds.key},
    )
    def processed_asset(context: dg.AssetExecutionContext, lake: LakeResource, glue: GlueJobsResource):
        yield from run_job1(context, dataset, lake, glue)

    return processed_asset


processed_assets = [processed_asset_for(d) for d in DATASETS]

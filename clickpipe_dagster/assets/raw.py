"""The raw zone: batch files as they arrived, one daily partition per ingest date."""

import dagster as dg

from clickpipe_dagster.assets import keys
from clickpipe_dagster.assets.common import OWNERS
from clickpipe_core.contracts import BATCH_DATASETS, CLICKS, get_dataset
from clickpipe_dagster.partitions import daily_partitions
from clickpipe_dagster.resources.lake import LakeResource
from clickpipe_core import layout


def raw_batch_asset(dataset: str) -> dg.AssetsDefinition:
    ds = get_dataset(dataset)

    @dg.asset(
        key=keys.raw(dataset),
        partitions_def=daily_partitions,
        group_name="raw",
        kinds={"s3", "csv"},
        owners=OWNERS,
        description=(
            f"Raw `{dataset}` CSV files in `raw/{dataset}/ingest_date=YYYY-MM-DD/`, exactly as delivered "
            f"(by `clickpipe upload` or by anyone writing to the raw zone). {ds.description} "
            "Materializing a partition takes stock of its files; it changes nothing."
        ),
    )
    def raw_asset(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
        prefix = layout.raw_partition_prefix(dataset, context.partition_key)
        objects = [o for o in lake.list(prefix) if layout.parse_raw_batch_key(o.key)]
        if not objects:
            raise dg.Failure(
                description=(
                    f"No raw {dataset} file for {context.partition_key} under {lake.console_url(prefix)}. "
                    f"Upload one with `clickpipe upload FILE --dataset {dataset} --date {context.partition_key}`."
                ),
                allow_retries=False,
            )
        return dg.MaterializeResult(
            metadata={
                "files": dg.MetadataValue.md("\n".join(f"- `{o.key}` ({o.size:,} bytes)" for o in objects)),
                "file_count": len(objects),
                "bytes": sum(o.size for o in objects),
                "location": dg.MetadataValue.url(lake.console_url(prefix)),
            }
        )

    return raw_asset


@dg.asset(
    key=keys.raw("clicks"),
    partitions_def=daily_partitions,
    group_name="raw",
    kinds={"s3", "firehose", "json"},
    owners=OWNERS,
    description=(
        f"The Firehose raw stream: gzip NDJSON objects under `raw/clicks/YYYY/MM/DD/HH/` by UTC arrival hour, "
        f"one partition per arrival day. {CLICKS.description} Materializing a partition takes stock of its "
        "objects; a day with none is empty, not an error."
    ),
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def raw_clicks(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    objects, per_day = [], {}
    for day in context.partition_keys:
        prefix = layout.raw_clicks_day_prefix(day)
        found = [o for o in lake.list(prefix) if layout.parse_raw_clicks_key(o.key) == day]
        if not found:
            context.log.warning(f"no click object arrived on {day} under {lake.console_url(prefix)}")
        per_day[day] = len(found)
        objects += found
    first = context.partition_keys[0]
    return dg.MaterializeResult(
        metadata={
            "object_count": len(objects),
            "bytes": sum(o.size for o in objects),
            "objects_per_day": per_day,
            "location": dg.MetadataValue.url(lake.console_url(layout.raw_clicks_day_prefix(first))),
        }
    )


raw_assets = [raw_batch_asset(d) for d in BATCH_DATASETS] + [raw_clicks]

"""The raw zone: batch files as they arrived, one daily partition per ingest date."""

import dagster as dg

from clickpipe_dagster.assets.common import OWNERS
from clickpipe_dagster.contracts import BATCH_DATASETS, get_dataset
from clickpipe_dagster.partitions import daily_partitions
from clickpipe_dagster.resources.lake import LakeResource
from glue_scripts import layout


def raw_batch_asset(dataset: str) -> dg.AssetsDefinition:
    ds = get_dataset(dataset)

    @dg.asset(
        name=f"raw_{dataset}",
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


raw_assets = [raw_batch_asset(d) for d in BATCH_DATASETS]

"""The raw zone: files and Firehose objects exactly as they were delivered.

External assets: nothing in Dagster writes them. The raw sensors (``sensors.py``) notice each new
or replaced object and report it as a materialization of its partition; that report is what the
automation downstream reacts to. A raw batch partition is an ingest day
(``raw/<dataset>/ingest_date=D/``); a raw click partition is a Firehose arrival hour
(``raw/clicks/YYYY/MM/DD/HH/``), Firehose's own layout.
"""

import dagster as dg

from clickpipe_core.contracts import BATCH_DATASETS, CLICKS, get_dataset
from clickpipe_dagster.assets import keys
from clickpipe_dagster.assets.common import OWNERS
from clickpipe_dagster.partitions import arrival_hours, ingest_days

WHAT = {
    "users": "User extracts exactly as the CRM delivered them, one folder per delivery day.",
    "transactions": "Payment extracts exactly as the payment system delivered them, one folder per delivery day.",
}


def raw_batch_spec(dataset: str) -> dg.AssetSpec:
    ds = get_dataset(dataset)
    return dg.AssetSpec(
        key=keys.raw(dataset),
        partitions_def=ingest_days,
        group_name="raw",
        kinds={"s3", "csv"},
        owners=OWNERS,
        description=(
            f"{WHAT[dataset]} CSV files in `raw/{dataset}/ingest_date=YYYY-MM-DD/`, put there by `clickpipe upload` "
            f"or by anyone writing to the raw zone; a partition is a delivery (ingest) day. {ds.description} "
            "Reported by `raw_batch_files_sensor` when a file appears or is replaced."
        ),
        metadata={"layout": f"raw/{dataset}/ingest_date=YYYY-MM-DD/<file>.csv", "columns": ", ".join(ds.column_names)},
    )


raw_clicks_spec = dg.AssetSpec(
    key=keys.raw("clicks"),
    partitions_def=arrival_hours,
    group_name="raw",
    kinds={"s3", "firehose", "json"},
    owners=OWNERS,
    description=(
        "Click events from the web and the apps as Firehose delivered them, one folder per arrival hour. "
        "Gzip NDJSON objects under `raw/clicks/YYYY/MM/DD/HH/`, named by Firehose "
        f"(`<stream>-1-YYYY-MM-DD-HH-MM-SS-<uuid>.gz`); a partition is a UTC arrival hour. {CLICKS.description} "
        "Reported by `raw_clicks_sensor` when an object appears."
    ),
    metadata={"layout": "raw/clicks/YYYY/MM/DD/HH/<stream>-1-YYYY-MM-DD-HH-MM-SS-<uuid>.gz"},
)

raw_assets = [raw_batch_spec(d) for d in BATCH_DATASETS] + [raw_clicks_spec]

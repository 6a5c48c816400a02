"""Table definitions of the processed zone, for Athena (Glue Data Catalog), DuckDB and the CDK app.

Pure Python (no Dagster, no boto3): the Dagster Athena assets, the local DuckDB views and the
CDK stack all build their tables from these functions, so there is one definition of each table.
"""

from __future__ import annotations

from clickpipe_dagster.contracts import DATASETS, LOGICAL_TYPES, Dataset

GLUE_DATABASE = "clickpipe"
PROJECTION_START = "2026-01-01"


def table_name(ds: Dataset) -> str:
    return ds.name


def file_columns(ds: Dataset) -> list[tuple[str, str]]:
    """(name, Athena type) of the columns stored in the Parquet files."""
    return [(n, LOGICAL_TYPES[t][2]) for n, t in ds.processed_columns]


def partition_keys(ds: Dataset) -> list[tuple[str, str]]:
    """(name, Athena type) of the directory-level columns (``dt=…/event_type=…``)."""
    return [(c, "string") for c in ds.partition_columns]


def location(ds: Dataset, lake_uri: str) -> str:
    return f"{lake_uri.rstrip('/')}/processed/{ds.name}/"


def projection_parameters(ds: Dataset, lake_uri: str) -> dict[str, str]:
    """Athena partition projection: no crawler, no MSCK REPAIR, new days queryable at once."""
    if not ds.partition_columns:
        return {}
    params = {"projection.enabled": "true"}
    template = location(ds, lake_uri)
    for col in ds.partition_columns:
        if col == "dt":
            params.update(
                {
                    "projection.dt.type": "date",
                    "projection.dt.format": "yyyy-MM-dd",
                    "projection.dt.range": f"{PROJECTION_START},NOW",
                    "projection.dt.interval": "1",
                    "projection.dt.interval.unit": "DAYS",
                }
            )
        else:
            allowed = ds.column(col).allowed
            params[f"projection.{col}.type"] = "enum"
            params[f"projection.{col}.values"] = ",".join(allowed)
        template += f"{col}=${{{col}}}/"
    params["storage.location.template"] = template
    return params


def glue_table_input(ds: Dataset, lake_uri: str) -> dict:
    """A Glue ``TableInput`` (boto3 ``create_table``/``update_table`` shape) for the dataset."""
    return {
        "Name": table_name(ds),
        "Description": ds.description,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "parquet.compression": "SNAPPY", **projection_parameters(ds, lake_uri)},
        "PartitionKeys": [{"Name": n, "Type": t} for n, t in partition_keys(ds)],
        "StorageDescriptor": {
            "Columns": [{"Name": n, "Type": t} for n, t in file_columns(ds)],
            "Location": location(ds, lake_uri),
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
        },
    }


def processed_tables() -> list[Dataset]:
    return list(DATASETS.values())

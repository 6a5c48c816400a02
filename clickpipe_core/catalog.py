"""Table definitions of the processed zone, for Athena (Glue Data Catalog), DuckDB and the CDK app.

Pure Python (no Dagster, no boto3): the Dagster Athena assets, the local DuckDB views and the
CDK stack all build their tables from these functions, so there is one definition of each table.
The tables are the raw datasets' processed zones (their contracts) and the tables Job 2 derives
into the processed zone (``DerivedTable``: the sessions).
"""

from __future__ import annotations

from dataclasses import dataclass

from clickpipe_core.contracts import DATASETS, Dataset
from clickpipe_core.dialect import DUCKDB
from clickpipe_core.marts import MART_TYPES, SESSIONS, Mart

# Every type a processed table holds: the contracts' logical types and the marts' (counts, sums).
LOGICAL_TYPES = MART_TYPES


@dataclass(frozen=True)
class DerivedTable:
    """A table of the processed zone that Glue Job 2 derives (not read from raw input): the rows of a
    daily mart, one Parquet file per day (``dt=YYYY-MM-DD/``, a directory level), replaced whole."""

    mart: Mart
    description: str
    derived_columns: tuple = ()  # every column is derived; none is missing from older files
    key = None

    @property
    def name(self) -> str:
        return self.mart.name

    @property
    def partition_columns(self) -> list[str]:
        return ["dt"]

    @property
    def processed_columns(self) -> list[tuple[str, str]]:
        return [(c.name, c.type) for c in self.mart.columns if c.name != "dt"]


SESSIONS_TABLE = DerivedTable(
    SESSIONS,
    "Sessions (visits) by the day they start, derived by Glue Job 2 on DuckDB from the processed clicks of the days "
    "around it (clickpipe_core/sessions.py): the rows of marts.sessions, bots flagged.",
)

GLUE_DATABASE = "clickpipe"
PROJECTION_START = "2026-01-01"


def table_name(ds: Dataset) -> str:
    return ds.name


def file_columns(ds: Dataset) -> list[tuple[str, str]]:
    """(name, Athena type) of the columns stored in the Parquet files."""
    return [(n, LOGICAL_TYPES[t].athena) for n, t in ds.processed_columns]


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


def processed_tables() -> list[Dataset | DerivedTable]:
    return [*DATASETS.values(), SESSIONS_TABLE]


# -- DuckDB: the same tables as views over the processed Parquet ------------------------------------


def duckdb_columns(ds: Dataset) -> list[tuple[str, str]]:
    """(name, DuckDB type) of the table, in Athena's order: file columns, then partition keys."""
    return [(n, LOGICAL_TYPES[t].duckdb) for n, t in ds.processed_columns] + [(c, "VARCHAR") for c in ds.partition_columns]


def duckdb_glob(ds: Dataset, lake_root: str) -> str:
    """The files of the dataset's processed zone in a local lake directory."""
    base = f"{str(lake_root).rstrip('/')}/processed/{ds.name}"
    if not ds.partition_columns:
        return f"{base}/{ds.name}.parquet"
    return base + "/" + "/".join(f"{c}=*" for c in ds.partition_columns) + "/*.parquet"


def empty_select(columns: list[tuple[str, str]]) -> str:
    """A relation with these (name, type) columns and no rows (a table with no data yet)."""
    return "SELECT " + ", ".join(f"CAST(NULL AS {t}) AS {n}" for n, t in columns) + " WHERE false"


def duckdb_select(ds: Dataset, files: list[str]) -> str:
    """A SELECT with the table's columns and types over ``files`` (paths or globs that match).

    With no files it is an empty relation with the same columns, so a view over a dataset that
    has no data yet still exists and answers queries (with no rows). A derived column a file lacks
    (written before it existed) reads as NULL.
    """
    columns = duckdb_columns(ds)
    if not files:
        return empty_select(columns)
    projection = ", ".join(f"CAST({n} AS {t}) AS {n}" for n, t in columns)
    options = ""
    if ds.partition_columns:
        types = ", ".join(f"{DUCKDB.literal(c)}: 'VARCHAR'" for c in ds.partition_columns)
        options = f", hive_partitioning = true, hive_types = {{{types}}}"
    else:
        options = ", hive_partitioning = false"
    paths = "[" + ", ".join(DUCKDB.literal(f) for f in files) + "]"
    if not ds.derived_columns:
        return f"SELECT {projection} FROM read_parquet({paths}{options})"
    # Files written before a derived column existed lack it: read by name, and a column no file
    # has yet comes from an empty relation that has every derived column, so it is NULL.
    types = dict(columns)
    empty = empty_select([(c, types[c]) for c in ds.derived_column_names])
    return f"SELECT {projection} FROM (SELECT * FROM read_parquet({paths}{options}, union_by_name = true) UNION ALL BY NAME {empty})"


def duckdb_view_sql(ds: Dataset, files: list[str]) -> str:
    return f"CREATE OR REPLACE VIEW {table_name(ds)} AS {duckdb_select(ds, files)}"


def local_files(ds: Dataset, lake_root: str) -> list[str]:
    """The glob of the dataset when it matches at least one file, else nothing (an empty view)."""
    import glob

    pattern = duckdb_glob(ds, lake_root)
    return [pattern] if glob.glob(pattern) else []


def create_duckdb_views(con, lake_root: str, datasets: list[Dataset] | None = None) -> dict[str, int]:
    """Create (or replace) one view per processed dataset on a DuckDB connection; returns the
    number of files each view reads now (0: an empty view, re-created when data arrives)."""
    import glob

    counts = {}
    for ds in datasets or processed_tables():
        files = local_files(ds, lake_root)
        con.execute(duckdb_view_sql(ds, files))
        counts[table_name(ds)] = len(glob.glob(files[0])) if files else 0
    return counts

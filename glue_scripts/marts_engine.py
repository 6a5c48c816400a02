"""Glue Job 2's DuckDB engine: the processed zone as the Athena tables, then the mart SQL over it.

The processed tables are created as views with the same names, columns and types as the Athena
tables (``clickpipe_dagster/catalog.py``), restricted to the days a run needs, so the mart SQL
files run unchanged here, on Athena and (later) on Spark.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pyarrow as pa

from clickpipe_dagster import catalog
from clickpipe_dagster.contracts import get_dataset
from glue_scripts import layout
from glue_scripts.lake_store import LocalStore, S3Store
from glue_scripts.marts import Mart


class DuckDBMartEngine:
    def __init__(self, store: LocalStore | S3Store, *, threads: int | None = None):
        self.store = store
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        self._staging: Path | None = None
        self.files_read: dict[str, int] = {}

    def close(self) -> None:
        self.con.close()
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _keys(self, dataset: str, days: list[str] | None) -> list[str]:
        ds = get_dataset(dataset)
        if not ds.partition_time_column:
            key = layout.snapshot_key(dataset)
            return [key] if self.store.exists(key) else []
        prefixes = [f"{layout.processed_prefix(dataset)}dt={d}/" for d in days] if days else [layout.processed_prefix(dataset)]
        keys = []
        for prefix in prefixes:
            keys += [o.key for o in self.store.list(prefix) if o.key.endswith(".parquet") and layout.parse_dt(o.key)]
        return sorted(keys)

    def _local_path(self, key: str) -> str:
        if isinstance(self.store, LocalStore):
            return str(self.store.path(key))
        if self._staging is None:
            self._staging = self.store.staging_dir()
        target = self._staging / key
        target.parent.mkdir(parents=True, exist_ok=True)
        with self.store.local_copy(key) as p:
            shutil.copyfile(p, target)
        return str(target)

    def register(self, datasets: list[str], days: list[str] | None = None) -> None:
        """Create the views ``users``, ``transactions``, ``clicks`` (those asked for), over the given
        days only (all days when ``days`` is None; snapshots are always whole)."""
        for name in datasets:
            ds = get_dataset(name)
            files = [self._local_path(k) for k in self._keys(name, days)]
            self.con.execute(catalog.duckdb_view_sql(ds, files))
            self.files_read[name] = len(files)

    def build(self, mart: Mart) -> pa.Table:
        return self.con.sql(mart.sql()).to_arrow_table()

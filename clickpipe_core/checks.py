"""The data checks of Glue Job 1, evaluated on the files a run is about to publish.

Dagster declares the same check names (``clickpipe_dagster/checks.py``) so that results reported
through Pipes show up as asset checks in the UI.

The checks read what the writer recorded in each Parquet footer (schema, row counts, per column
chunk null counts and minima), never the data again: the same numbers a query engine prunes by.
Key uniqueness is checked against the number of distinct keys the run's dedup found.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from clickpipe_core.contracts import LOGICAL_TYPES, Dataset

HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"  # how Spark names a NULL directory value (DuckDB: NULL)

CHECK_DESCRIPTIONS = {
    "conservation": "Every input record is accounted for: in = out + quarantined + duplicates dropped.",
    "key_unique": "The key is unique in what this run published.",
    "schema_matches_contract": "The Parquet schema equals the contract's processed schema (names, order, types).",
    "required_not_null": "Required columns hold no NULLs.",
    "amounts_non_negative": "Money columns are never negative.",
}


def check_names(ds: Dataset) -> list[str]:
    names = ["conservation", "key_unique", "schema_matches_contract", "required_not_null"]
    if ds.money_columns:
        names.append("amounts_non_negative")
    return names


def arrow_schema(ds: Dataset) -> pa.Schema:
    return pa.schema([pa.field(n, LOGICAL_TYPES[t].arrow) for n, t in ds.processed_columns])


def _columns(schema: pa.Schema) -> list[tuple[str, pa.DataType]]:
    """Names, order and types; nullability is the required_not_null check's business."""
    return [(f.name, f.type) for f in schema]


class Footers:
    """What the footers of a set of Parquet files say: rows, schemas, nulls and minima per column."""

    def __init__(self, files: list[Path]):
        self.files = files
        self.meta = [pq.ParquetFile(f).metadata for f in files]

    @property
    def rows(self) -> int:
        return sum(m.num_rows for m in self.meta)

    def schemas(self) -> list[pa.Schema]:
        return [m.schema.to_arrow_schema() for m in self.meta]

    def _chunks(self, column: str):
        for f, m in zip(self.files, self.meta):
            if column not in m.schema.names:
                continue
            j = m.schema.names.index(column)
            yield f, [m.row_group(i).column(j) for i in range(m.num_row_groups)]

    def nulls(self, column: str) -> int:
        total = 0
        for f, m in zip(self.files, self.meta):  # a directory-level column (event_type=X/): NULL only by name
            if column not in m.schema.names and any(p in (f"{column}=NULL", f"{column}={HIVE_NULL}") for p in f.parts):
                total += m.num_rows
        for f, chunks in self._chunks(column):
            if all(c.statistics is not None and c.statistics.has_null_count for c in chunks):
                total += sum(c.statistics.null_count for c in chunks)
            else:  # a writer that kept no statistics: count in the column itself
                total += pq.read_table(f, columns=[column]).column(0).null_count
        return total

    def minimum(self, column: str):
        found = []
        for f, chunks in self._chunks(column):
            stats = [c.statistics for c in chunks if c.num_values]
            if all(s is not None and s.has_min_max for s in stats):
                found += [s.min for s in stats if s.null_count != s.num_values]
            else:
                import pyarrow.compute as pc

                found.append(pc.min(pq.read_table(f, columns=[column]).column(0)).as_py())
        found = [v for v in found if v is not None]
        return min(found) if found else None


def check_output(ds: Dataset, data_files: list[Path], result, *, distinct_keys: int) -> list[dict]:
    """Evaluate the checks on the staged data files (processed files or the snapshot); each check
    returns name, passed, metadata. ``distinct_keys``: how many distinct keys the files should hold,
    as the run's dedup counted them."""
    footers = Footers(data_files)
    checks = []

    accounted = result.rows_out + result.quarantined + result.duplicates
    checks.append(
        {
            "name": "conservation",
            "passed": result.rows_in == accounted,
            "metadata": {
                "rows_in": result.rows_in,
                "rows_out": result.rows_out,
                "rows_quarantined": result.quarantined,
                "duplicates_dropped": result.duplicates,
                "unaccounted": result.rows_in - accounted,
            },
        }
    )
    rows = footers.rows
    checks.append({"name": "key_unique", "passed": rows == distinct_keys, "metadata": {"rows": rows, "distinct_keys": distinct_keys}})
    expected = arrow_schema(ds)
    schemas = footers.schemas() or [expected]
    checks.append(
        {
            "name": "schema_matches_contract",
            "passed": all(_columns(s) == _columns(expected) for s in schemas),
            # names and types only: nullability and writer metadata differ between engines
            "metadata": {"expected": str(expected), "found": str(pa.schema(_columns(schemas[0]))), "files_checked": len(data_files)},
        }
    )
    null_counts = {c: footers.nulls(c) for c in ds.required_columns}
    checks.append({"name": "required_not_null", "passed": not any(null_counts.values()), "metadata": {"null_counts": null_counts}})
    if ds.money_columns:
        minima = {c: footers.minimum(c) for c in ds.money_columns} if data_files else {}
        checks.append(
            {
                "name": "amounts_non_negative",
                "passed": all(v is None or v >= 0 for v in minima.values()),
                "metadata": {f"min_{k}": (None if v is None else float(v)) for k, v in minima.items()},
            }
        )
    return checks

"""The data checks of Glue Job 1, evaluated on the files a run is about to publish.

Dagster declares the same check names (``clickpipe_dagster/checks.py``) so that results reported
through Pipes show up as asset checks in the UI.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from clickpipe_core.contracts import LOGICAL_TYPES, Dataset
from clickpipe_core import layout

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


def check_output(con, ds: Dataset, staged: dict[str, Path], result) -> list[dict]:
    """Evaluate the checks on the staged output files; each returns name, passed, metadata."""
    data_files = [str(p) for k, p in staged.items() if k.startswith(layout.processed_prefix(ds.name))]
    # A snapshot holds other partitions' rows too: only this partition's rows are conserved.
    scan = f"read_parquet({data_files!r})" if data_files else None
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

    if scan:
        total, distinct = con.execute(f"SELECT count(*), count(DISTINCT {ds.key}) FROM {scan}").fetchone()
        nulls = con.execute(
            "SELECT " + ", ".join(f"count(*) - count({c})" for c in ds.required_columns) + f" FROM {scan}"
        ).fetchone()
        schema = pq.read_schema(data_files[0])
        schemas_equal = all(_columns(pq.read_schema(f)) == _columns(arrow_schema(ds)) for f in data_files)
    else:
        total = distinct = 0
        nulls = [0] * len(ds.required_columns)
        schema, schemas_equal = arrow_schema(ds), True
    checks.append(
        {"name": "key_unique", "passed": total == distinct, "metadata": {"rows": total, "distinct_keys": distinct}}
    )
    checks.append(
        {
            "name": "schema_matches_contract",
            "passed": schemas_equal,
            # names and types only: nullability and writer metadata differ between engines
            "metadata": {"expected": str(arrow_schema(ds)), "found": str(pa.schema(_columns(schema))), "files_checked": len(data_files)},
        }
    )
    null_counts = dict(zip(ds.required_columns, nulls))
    checks.append(
        {
            "name": "required_not_null",
            "passed": not any(null_counts.values()),
            "metadata": {"null_counts": null_counts},
        }
    )
    if ds.money_columns:
        minima = (
            dict(zip(ds.money_columns, con.execute(
                "SELECT " + ", ".join(f"min({c})" for c in ds.money_columns) + f" FROM {scan}"
            ).fetchone()))
            if scan
            else {}
        )
        checks.append(
            {
                "name": "amounts_non_negative",
                "passed": all(v is None or v >= 0 for v in minima.values()),
                "metadata": {f"min_{k}": (None if v is None else float(v)) for k, v in minima.items()},
            }
        )
    return checks

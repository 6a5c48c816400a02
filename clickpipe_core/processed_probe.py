"""Finding the processed file, and the record, behind a Glue Job 2 failure.

Job 2's engines read all the files of a day at once; when one of them cannot be read, or brings a
value PostgreSQL cannot store, the engine's error names neither the file nor the record. These
functions read the files one by one with pyarrow, on the failure path only, so the message can
name the dataset, the day, the file and the record, and say the same whichever engine ran.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from clickpipe_core import layout
from clickpipe_core.contracts import Dataset

# What PostgreSQL text cannot hold at all (Job 1 quarantines it; older files may still carry it).
UNSTORABLE = "\x00"
_LOCAL_PATH = re.compile(r"Could not open Parquet input source '[^']*': ")
_SOURCE = re.compile(r"part-ingest_date=(\d{4}-\d{2}-\d{2})(?:-\d+)?\.parquet$")


def describe(key: str) -> str:
    """A processed file in words: its key, its dataset and day, and the raw partition it came from."""
    parts = key.split("/")
    dataset = parts[1] if len(parts) > 2 else key
    what = [dataset]
    if day := layout.parse_dt(key):
        what.append(f"day {day}")
    if m := _SOURCE.search(key):
        what.append(f"from ingest date {m.group(1)}")
    elif key.endswith(f"{dataset}.parquet"):
        what.append("the current snapshot")
    return f"{key} ({', '.join(what)})"


def remedy(key: str) -> str:
    """What rewrites the file: Job 1 for its raw partition."""
    dataset = key.split("/")[1] if key.count("/") > 1 else key
    m = _SOURCE.search(key)
    if m:
        return f"re-materialize processed/{dataset} for ingest date {m.group(1)} (Job 1 rewrites the file)"
    return f"re-materialize processed/{dataset} (Job 1 rewrites the snapshot)"


def _read(store, key: str) -> pa.Table:
    with store.local_copy(key) as path:
        return pq.read_table(path)


def unreadable(store, ds: Dataset, keys: list[str], expected: pa.Schema) -> str | None:
    """Why the first of ``keys`` that cannot be read in full, or lacks a contract column (or holds
    it in a type that does not convert), is unusable; None when every file is sound."""
    for key in keys:
        try:
            table = _read(store, key)
            table.validate(full=True)  # e.g. strings that are not UTF-8
        except (OSError, pa.ArrowException) as e:
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            reason = _LOCAL_PATH.sub("", reason).rstrip(".")  # the key says where, not a local copy's path
            return f"cannot read {describe(key)}: {reason[:300]}; {remedy(key)}"
        for field in expected:
            if field.name not in table.column_names and field.name in ds.derived_column_names:
                continue  # written before Job 1 derived it: readers fill NULL
            if field.name not in table.column_names:
                return f"{describe(key)} has no column {field.name} ({ds.name} contract); {remedy(key)}"
            column = table.column(field.name)
            if column.type != field.type:
                try:
                    column.cast(field.type)
                except pa.ArrowException:
                    return (
                        f"{describe(key)} holds {field.name} as {column.type}, which does not convert to "
                        f"{field.type} ({ds.name} contract); {remedy(key)}"
                    )
    return None


def unstorable_rows(table: pa.Table) -> list[tuple[str, int]]:
    """(column, row index) of text values PostgreSQL cannot store, in a table about to be loaded."""
    found = []
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            hits = pc.fill_null(pc.match_substring(column, UNSTORABLE), False)
            found += [(name, int(i)) for i in pc.indices_nonzero(hits).to_pylist()]
    return found


def first_unstorable_record(store, keys: list[str]) -> tuple[str, int, str] | None:
    """(file, record number from 1, column) of the first text value among ``keys`` that
    PostgreSQL cannot store; None when there is none."""
    for key in keys:
        table = _read(store, key)
        for column, row in unstorable_rows(table):
            return key, row + 1, column
    return None

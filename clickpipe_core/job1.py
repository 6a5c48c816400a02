"""What every Glue Job 1 engine shares: the result it reports, input errors, the header check,
the wording of line-level quarantine rows, and the atomic publish of staged files.

Engine-neutral on purpose (no DuckDB, no Spark import): the DuckDB engine and the Spark engine
both use it, so a partition gives the same quarantine rows and the same published keys whichever
engine ran it.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from datetime import date, datetime, timedelta, timezone

from clickpipe_core.contracts import LATE_WINDOW_DAYS, Dataset
from clickpipe_core import layout
from clickpipe_core.errors import JobInputError

MAX_LINE_BYTES = 8 * 1024 * 1024  # a longer line is quarantined, not a crash
HEAD_BYTES = 64 * 1024
MAX_RECORD_CHARS = 65536  # the raw text kept for a line that never became a record


class Source(str):
    """An ingest day as the engines take it. Its value is the day (the lineage column, the
    quarantine folder); ``name`` is what its files are named after; ``objects`` are the raw objects
    to read. ``Source(day)`` is the whole day; ``Source.increment(day, obj)`` one raw object read on
    its own (the automation's new Firehose objects): its files are ``part-ingest_date=<day>_<object>``,
    replaced by a whole-day run of the day (ARCHITECTURE.md, rules 2 and 4)."""

    name: str
    objects: list | None

    def __new__(cls, day: str, name: str | None = None, objects: list | None = None):
        self = super().__new__(cls, day)
        self.name, self.objects = name or day, objects
        return self

    @classmethod
    def increment(cls, day: str, obj) -> "Source":
        return cls(day, layout.increment_source(day, obj.key), [obj])


def late_bound(ingest_date: str) -> str:
    """The earliest event time an ingest day takes (UTC, ISO-8601): the start of the day
    ``LATE_WINDOW_DAYS`` before it. An earlier record is quarantined (reason ``late_<column>``)."""
    day = date.fromisoformat(str.__str__(ingest_date)) - timedelta(days=LATE_WINDOW_DAYS)
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc).isoformat()


@dataclass
class PartitionResult:
    dataset: str
    ingest_date: str
    rows_in: int = 0
    rows_out: int = 0
    quarantined: int = 0
    duplicates: int = 0
    files_in: list[str] = field(default_factory=list)
    bytes_in: int = 0
    files_out: list[str] = field(default_factory=list)
    bytes_out: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    dt_partitions: list[str] = field(default_factory=list)
    snapshot_rows: int | None = None
    checks: list[dict] = field(default_factory=list)

    def metadata(self) -> dict:
        md = {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "rows_quarantined": self.quarantined,
            "duplicates_dropped": self.duplicates,
            "files_in": len(self.files_in),
            "bytes_in": self.bytes_in,
            "files_out": len(self.files_out),
            "bytes_out": self.bytes_out,
            "quarantine_reasons": dict(sorted(self.quarantine_reasons.items())),
            "dt_partitions": self.dt_partitions,
            "messages": self.messages,
        }
        if self.snapshot_rows is not None:
            md["snapshot_rows"] = self.snapshot_rows
        return md


# -- lines that never became records -------------------------------------------------------------
# Each engine's reader says why in its own words; the quarantine row says it in these, so both
# engines write the same rows (a shared rule: the readers' own messages differ).
def reject_detail(reason: str, *, expected: int | None = None, found: int | None = None) -> str:
    if reason in ("too_many_columns", "too_few_columns"):
        return f"expected {expected} fields, found {found}"
    return {
        "invalid_encoding": "the line is not valid UTF-8 text",
        "line_too_long": f"the line is longer than {MAX_LINE_BYTES} bytes",
        "malformed_csv": "a quoted value is not closed, or text follows its closing quote",
        "malformed_json": "not a JSON document",
    }[reason]


def reject_record(raw: bytes | str | None) -> str:
    """The raw text of a rejected line as quarantined: UTF-8 with U+FFFD for bad bytes, no line
    terminator, at most MAX_RECORD_CHARS characters."""
    if raw is None:
        return ""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return text.rstrip("\r\n")[:MAX_RECORD_CHARS]


LINE_END = re.compile(rb"\r\n|\r|\n")


def open_maybe_gzip(path: Path):
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        import gzip

        return gzip.open(path, "rb")
    return open(path, "rb")


def physical_lines(path: Path, wanted: set[int] | None = None, *, gunzip: bool = False) -> dict[int, bytes]:
    """Lines of a file by 1-based number, split on CR, LF or CRLF like the readers do.

    Only the ``wanted`` line numbers are kept (all when None). One streaming pass; with
    ``gunzip`` a gzip file is decompressed first.
    """
    out: dict[int, bytes] = {}
    n = 0
    with open_maybe_gzip(path) if gunzip else open(path, "rb") as f:
        for raw in f:  # splits after each LF
            body = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1] if raw.endswith(b"\n") else raw
            for part in LINE_END.split(body) if b"\r" in body else (body,):
                n += 1
                if wanted is None or n in wanted:
                    out[n] = part
            if wanted is not None and n >= max(wanted, default=0):
                break
    return out


def header_problem(ds: Dataset, head: bytes) -> tuple[list[str], str | None]:
    """The normalized header names and, when the header cannot be used, why."""
    first = LINE_END.split(head, maxsplit=1)[0]
    if first.startswith(b"\xef\xbb\xbf"):
        first = first[3:]
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError:
        return [], "the header line is not UTF-8 text"
    names = [n.strip().lower() for n in next(csv.reader([text]), [])]
    expected = ds.column_names
    missing = [c for c in ds.required_columns if c not in names]
    unknown = [n for n in names if n not in expected]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if missing or unknown or dupes:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing))
        if unknown:
            parts.append("unexpected " + ", ".join(repr(u) for u in unknown))
        if dupes:
            parts.append("repeated " + ", ".join(dupes))
        return names, f"header does not match the {ds.name} contract ({'; '.join(parts)}); expected {','.join(expected)}"
    return names, None


def is_empty_head(head: bytes) -> bool:
    return not head.strip(b"\xef\xbb\xbf\r\n \t")


def is_blank_line(raw: bytes) -> bool:
    """A line of a file with an unusable header that holds no record (Python's bytes.strip())."""
    return not raw.strip()


# -- publish ---------------------------------------------------------------------------------------
def publish(store, ds: Dataset, staged: dict[str, Path], ingest_date: str, result: PartitionResult) -> None:
    """Replace this source's output, file by file (each replace is atomic), then drop stale files.

    ``staged`` maps lake keys to finished local files. Stale files are this source's files that
    the run no longer produces (e.g. a day that lost all its rows); they go last, so a run killed
    mid-way leaves whole files only and a re-run repairs the partition.
    """
    own_name = layout.source_file_name(ingest_date).removesuffix(".parquet")
    stale = [
        o.key
        # the quarantine folder of the day, not just its own file: a whole-day run's stale files include
        # the day's increments (ARCHITECTURE.md, rule 4)
        for prefix in (layout.processed_prefix(ds.name), layout.quarantine_key(ds.name, ingest_date).rsplit("/", 1)[0] + "/")
        for o in store.list(prefix)
        if o.key.rsplit("/", 1)[-1].startswith(own_name) and o.key not in staged
    ]
    for key, path in sorted(staged.items()):
        result.bytes_out += os.path.getsize(path)
        store.put_file(path, key, move=True)
        result.files_out.append(key)
    for key in stale:
        store.delete(key)
    if stale:
        result.messages.append(f"removed {len(stale)} file(s) this partition no longer produces")


def name_staged_files(ds: Dataset, data: Path, ingest_date: str) -> dict[str, Path]:
    """Lake keys for the Parquet files an engine wrote under ``data`` (hive directories): each is
    named after its source partition; a second file in the same directory gets ``-1`` and so on."""
    staged = {}
    name = layout.source_file_name(ingest_date)
    files = [f for f in data.rglob("*.parquet") if not f.name.startswith((".", "_"))]
    for directory in sorted({f.parent for f in files}):
        rel = directory.relative_to(data).as_posix()
        for i, f in enumerate(sorted(p for p in files if p.parent == directory)):
            staged[f"{layout.processed_prefix(ds.name)}{rel}/" + (name if not i else name.replace(".parquet", f"-{i}.parquet"))] = f
    return staged


def raw_objects(store, ds: Dataset, ingest_date: str) -> list:
    """The raw objects of one partition (or those a ``Source`` names); a batch partition without a
    file is an error, a stream day without objects is empty."""
    if getattr(ingest_date, "objects", None) is not None:
        return list(ingest_date.objects)
    if ds.raw_format == "csv":
        prefix = layout.raw_partition_prefix(ds.name, ingest_date)
        objects = [o for o in store.list(prefix) if layout.parse_raw_batch_key(o.key)]
        if not objects:
            raise JobInputError(
                f"no raw {ds.name} file for {ingest_date}: nothing under {store.url(prefix)}. "
                f"Upload one with `clickpipe upload FILE --dataset {ds.name} --date {ingest_date}`."
            )
        return objects
    prefix = layout.raw_clicks_day_prefix(ingest_date)
    return [o for o in store.list(prefix) if layout.parse_raw_clicks_key(o.key) == ingest_date]


def reference_snapshots(store, ds: Dataset) -> list[tuple[str, str, str]]:
    """(column, referenced column, snapshot key) for each reference; a missing snapshot is an error."""
    found = []
    for column, (dataset, ref_column) in ds.references.items():
        key = layout.snapshot_key(dataset)
        if not store.exists(key):
            raise JobInputError(
                f"{ds.name}.{column} must exist in {dataset}.{ref_column}, but there is no {dataset} "
                f"snapshot at {store.url(key)}: materialize processed/{dataset} first"
            )
        found.append((column, ref_column, key))
    return found


def earlier_source_files(store, ds: Dataset, days: list[str], ingest_date: str) -> list[str]:
    """Processed files of the given days written by raw partitions older than ``ingest_date``."""
    own = layout.source_file_name(ingest_date)
    return [
        o.key
        for day in days
        for o in store.list(f"{layout.processed_prefix(ds.name)}dt={day}/")
        if o.key.rsplit("/", 1)[-1] < own and o.key.rsplit("/", 1)[-1].startswith("part-ingest_date=")
    ]

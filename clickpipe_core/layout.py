"""The lake's key layout: one place that knows where every zone keeps its objects.

The same keys are used in the local lake directory and in S3, so anything that can read one can
read the other.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone

RAW, PROCESSED, QUARANTINE, DEDUP = "raw", "processed", "quarantine", "dedup"

_INGEST_DATE = re.compile(r"^raw/(?P<dataset>[a-z_]+)/ingest_date=(?P<date>\d{4}-\d{2}-\d{2})/(?P<name>[^/]+)$")


def raw_partition_prefix(dataset: str, ingest_date: str) -> str:
    return f"{RAW}/{dataset}/ingest_date={ingest_date}/"


def raw_batch_key(dataset: str, ingest_date: str, filename: str) -> str:
    return raw_partition_prefix(dataset, ingest_date) + filename


def parse_raw_batch_key(key: str) -> tuple[str, str] | None:
    """(dataset, ingest_date) of a raw batch object, or None when the key is not in the layout. A file
    whose name starts with '.' or '_' is in its partition too: Job 1 quarantines its records whole
    (``raw_input.HIDDEN_FILE_NAME``) rather than leave them unaccounted for."""
    m = _INGEST_DATE.match(key)
    if not m:
        return None
    try:
        date.fromisoformat(m["date"])
    except ValueError:
        return None
    return m["dataset"], m["date"]


def processed_prefix(dataset: str) -> str:
    return f"{PROCESSED}/{dataset}/"


def sessions_key(day: str) -> str:
    """The processed sessions of day ``day`` (sessions starting on it), one file Job 2 replaces whole."""
    return f"{processed_prefix('sessions')}dt={day}/sessions.parquet"


def source_name(ingest_date: str) -> str:
    """What a run's files are named after: its ingest day, or that of one raw object it read on its
    own (a ``job1.Source`` increment)."""
    return getattr(ingest_date, "name", None) or str(ingest_date)


def source_file_name(ingest_date: str) -> str:
    """Processed files are named after the raw partition they came from (ARCHITECTURE.md, rule 2)."""
    return f"part-ingest_date={source_name(ingest_date)}.parquet"


def increment_source(ingest_date: str, object_key: str) -> str:
    """The source name of one raw object read on its own (an increment of its ingest day):
    ``2026-11-01_05-10-00-<uuid>`` for a Firehose object. Its files, ``part-ingest_date=<source>``,
    still start with the day's own name, so a whole-day run replaces them (rule 2), and they sort
    after the day's whole-day file and in arrival order (what "delivered earlier" means for dedup)."""
    name = object_key.rsplit("/", 1)[-1].split(".", 1)[0]
    m = re.search(r"\d{4}-\d{2}-\d{2}-(\d{2}-\d{2}-\d{2}-.+)$", name)
    return f"{ingest_date}_{m.group(1) if m else name}"


def processed_partition_key(dataset: str, dt: str, ingest_date: str) -> str:
    return f"{processed_prefix(dataset)}dt={dt}/{source_file_name(ingest_date)}"


def snapshot_key(dataset: str) -> str:
    return f"{processed_prefix(dataset)}{dataset}.parquet"


def quarantine_key(dataset: str, ingest_date: str) -> str:
    return f"{QUARANTINE}/{dataset}/ingest_date={str.__str__(ingest_date)}/{source_file_name(ingest_date)}"


def dedup_state_prefix(dataset: str, ingest_date: str) -> str:
    return f"{DEDUP}/{dataset}/ingest_date={str.__str__(ingest_date)}/"


def dedup_state_key(dataset: str, ingest_date: str) -> str:
    """The keys one source delivered (``job1`` dedup state), named like its processed files."""
    return dedup_state_prefix(dataset, ingest_date) + source_file_name(ingest_date)


def state_source(key: str) -> str:
    """The source name a dedup state object is named after."""
    return key.rsplit("/", 1)[-1].removeprefix("part-ingest_date=").removesuffix(".parquet")


def parse_dt(key: str) -> str | None:
    m = re.search(r"/dt=(\d{4}-\d{2}-\d{2})/", key)
    return m.group(1) if m else None


# -- the click stream: Firehose's own key layout, by UTC arrival hour ------------------------------
_RAW_CLICKS = re.compile(r"^raw/clicks/(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/(?P<h>\d{2})/(?P<name>[^/]+)$")


def raw_clicks_day_prefix(day: str) -> str:
    return f"{RAW}/clicks/{day[:4]}/{day[5:7]}/{day[8:10]}/"


def parse_raw_clicks_arrival(key: str) -> datetime | None:
    """The UTC arrival hour of a Firehose object, or None when the key is not in the layout."""
    m = _RAW_CLICKS.match(key)
    if not m or m["name"].startswith((".", "_")):
        return None
    try:
        return datetime(int(m["y"]), int(m["m"]), int(m["d"]), int(m["h"]), tzinfo=timezone.utc)
    except ValueError:
        return None


def parse_raw_clicks_key(key: str) -> str | None:
    """The arrival date (the raw/clicks partition) of a Firehose object."""
    arrival = parse_raw_clicks_arrival(key)
    return arrival.date().isoformat() if arrival else None


def raw_clicks_key(stream: str, arrival: datetime, object_uuid: str) -> str:
    """``raw/clicks/YYYY/MM/DD/HH/<stream>-1-YYYY-MM-DD-HH-MM-SS-<uuid>.gz`` (UTC)."""
    a = arrival.astimezone(timezone.utc)
    return f"{RAW}/clicks/{a:%Y/%m/%d/%H}/{stream}-1-{a:%Y-%m-%d-%H-%M-%S}-{object_uuid}.gz"

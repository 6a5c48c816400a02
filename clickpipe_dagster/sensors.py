"""Sensors on the raw zone: each new or replaced object is reported as a materialization of its
raw partition (the raw assets are external: nothing in Dagster writes them). The automation
condition sensor (``automation.py``) then decides what runs downstream; these sensors start no
run themselves.

The cursor remembers the newest modification time seen and the keys seen within a look-back
window before it, so it survives restarts (Dagster stores it), reports many objects per tick as
one event per touched partition, re-notices an overwritten object, and is not disturbed by deleted
ones (they simply stop being listed).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

import dagster as dg

from clickpipe_core import layout
from clickpipe_core.contracts import BATCH_DATASETS
from clickpipe_core.lake_store import ObjectInfo
from clickpipe_dagster import metadata
from clickpipe_dagster.assets import keys
from clickpipe_dagster.partitions import arrival_hours, ingest_days
from clickpipe_dagster.resources.lake import LakeResource
from clickpipe_dagster.settings import DEFAULT_SENSOR_SECONDS

# Objects may become visible a little out of modification-time order (clock skew, slow uploads):
# keys seen within this window before the newest one are remembered individually.
LOOKBACK_SECONDS = 15 * 60
# The new objects a report names, in its metadata (``new_objects``); the processed assets read them back.
_NAMED = re.compile(r"^- `([^`]+)`", re.MULTILINE)


@dataclass
class ObjectCursor:
    high_water: float = 0.0
    recent: dict[str, float] | None = None  # key -> mtime, for keys within the look-back window

    @classmethod
    def parse(cls, raw: str | None) -> "ObjectCursor":
        if not raw:
            return cls(0.0, {})
        data = json.loads(raw)
        return cls(float(data.get("high_water", 0.0)), dict(data.get("recent", {})))

    def dump(self) -> str:
        return json.dumps({"high_water": self.high_water, "recent": self.recent}, sort_keys=True)

    def new_objects(self, objects: Iterable[ObjectInfo]) -> tuple[list[ObjectInfo], "ObjectCursor"]:
        """Objects not seen before, and the cursor that remembers them too."""
        floor = self.high_water - LOOKBACK_SECONDS
        seen = self.recent or {}
        fresh, listed = [], []
        for o in objects:
            if o.mtime < floor:
                continue
            listed.append(o)
            if seen.get(o.key) != o.mtime:
                fresh.append(o)
        high = max([self.high_water, *(o.mtime for o in listed)])
        recent = {o.key: o.mtime for o in listed if o.mtime >= high - LOOKBACK_SECONDS}
        return fresh, ObjectCursor(high, recent)


def new_object_keys(event_metadata) -> list[str]:
    """The object keys a raw report named as new (its ``new_objects`` metadata)."""
    value = event_metadata.get("new_objects")
    return _NAMED.findall(getattr(value, "value", value) or "")


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def partition_report(
    lake: LakeResource, asset_key: dg.AssetKey, partition: str, folder: str, listed: list[ObjectInfo], new: list[ObjectInfo]
) -> dg.AssetMaterialization:
    """One raw partition as it is now: every object in it, and which ones this report is about."""
    names = [o.key.rsplit("/", 1)[-1] for o in listed]
    return dg.AssetMaterialization(
        asset_key=asset_key,
        partition=partition,
        description=f"{len(new)} new object(s) in {folder}",
        metadata={
            "objects": metadata.table(["object", "size", "modified (UTC)"], ((n, metadata.size(o.size), _utc(o.mtime)) for n, o in zip(names, listed))),
            "object_count": len(listed),
            "size": metadata.size(sum(o.size for o in listed)),
            "new_objects": metadata.bulleted(f"`{o.key}` ({metadata.size(o.size)})" for o in new),
            "location": dg.MetadataValue.url(lake.console_url(folder)),
        },
    )


@dataclass(frozen=True)
class RawArea:
    """Where a raw asset's objects live and how a key maps to its partition and folder."""

    asset_key: dg.AssetKey
    prefix: str
    partitions_def: dg.PartitionsDefinition
    locate: Callable[[str], tuple[str, str] | None]  # object key -> (partition key, folder prefix)


def _batch_area(dataset: str) -> RawArea:
    def locate(key: str):
        where = layout.parse_raw_batch_key(key)
        if where is None or where[0] != dataset:
            return None
        return where[1], layout.raw_partition_prefix(dataset, where[1])

    return RawArea(keys.raw(dataset), f"{layout.RAW}/{dataset}/", ingest_days, locate)


def _locate_click(key: str):
    arrival = layout.parse_raw_clicks_arrival(key)
    if arrival is None:
        return None
    return arrival.strftime("%Y-%m-%d-%H:00"), key.rsplit("/", 1)[0] + "/"


CLICKS_AREA = RawArea(keys.raw("clicks"), f"{layout.RAW}/clicks/", arrival_hours, _locate_click)
BATCH_AREAS = [_batch_area(d) for d in BATCH_DATASETS]


def report_new_objects(lake: LakeResource, areas: list[RawArea], cursor: ObjectCursor, log=None):
    """(materializations of the touched partitions, new cursor, objects listed)."""
    listed_by_area = {a.asset_key: list(lake.list(a.prefix)) for a in areas}
    fresh, new_cursor = cursor.new_objects(o for objs in listed_by_area.values() for o in objs)
    fresh_keys = {o.key for o in fresh}
    events, ignored, outside = [], [], []
    for area in areas:
        by_partition: dict[tuple[str, str], list[ObjectInfo]] = defaultdict(list)
        touched = set()
        for o in listed_by_area[area.asset_key]:
            where = area.locate(o.key)
            if where is None:
                if o.key in fresh_keys:
                    ignored.append(o.key)
                continue
            by_partition[where].append(o)
            if o.key in fresh_keys:
                touched.add(where)
        for partition, folder in sorted(touched):
            objs = by_partition[(partition, folder)]
            if not area.partitions_def.has_partition_key(partition):
                outside += [o.key for o in objs if o.key in fresh_keys]
                continue
            new = [o for o in objs if o.key in fresh_keys]
            events.append(partition_report(lake, area.asset_key, partition, folder, objs, new))
    if log is not None and ignored:
        log.warning(f"{len(ignored)} object(s) outside the raw layout were ignored, e.g. {ignored[:3]}")
    if log is not None and outside:
        log.warning(f"{len(outside)} object(s) are dated outside the partitions (before their first day or in the future), e.g. {outside[:3]}")
    return events, new_cursor, sum(len(v) for v in listed_by_area.values())


def raw_sensor(name: str, areas: list[RawArea], description: str, interval: int) -> dg.SensorDefinition:
    @dg.sensor(
        name=name,
        minimum_interval_seconds=interval,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=description,
    )
    def _sensor(context: dg.SensorEvaluationContext, lake: LakeResource) -> dg.SensorResult:
        events, new_cursor, listed = report_new_objects(lake, areas, ObjectCursor.parse(context.cursor), context.log)
        skip = None if events else f"nothing new ({listed} objects listed)"
        return dg.SensorResult(asset_events=events, cursor=new_cursor.dump(), skip_reason=skip)

    return _sensor


def raw_sensors(interval: int = DEFAULT_SENSOR_SECONDS) -> list[dg.SensorDefinition]:
    return [
        raw_sensor(
            "raw_batch_files_sensor",
            BATCH_AREAS,
            "Reports new or replaced files under raw/users/ and raw/transactions/ "
            "(raw/<dataset>/ingest_date=YYYY-MM-DD/<file>) as materializations of their ingest day.",
            interval,
        ),
        raw_sensor(
            "raw_clicks_sensor",
            [CLICKS_AREA],
            "Reports new Firehose objects under raw/clicks/YYYY/MM/DD/HH/ as materializations of their arrival hour.",
            interval,
        ),
    ]

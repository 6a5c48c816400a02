"""Sensors on the raw zone: new objects become runs for the partitions they touch.

The cursor remembers the newest modification time seen and the keys seen within a look-back
window before it, so it survives restarts (Dagster stores it), handles many objects per tick
(one run per touched partition, not per object), re-notices an overwritten object, and is not
disturbed by deleted ones (they simply stop being listed).
"""

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import dagster as dg

from clickpipe_core.contracts import BATCH_DATASETS
from clickpipe_dagster.assets import keys
from clickpipe_dagster.resources.lake import LakeResource
from clickpipe_core import layout
from clickpipe_core.lake_store import ObjectInfo

# Objects may become visible a little out of modification-time order (clock skew, slow uploads):
# keys seen within this window before the newest one are remembered individually.
LOOKBACK_SECONDS = 15 * 60


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


def partition_runs(
    fresh: list[ObjectInfo],
    locate: Callable[[str], tuple[str, str] | None],
    assets_for: Callable[[str], list[dg.AssetKey]],
) -> tuple[list[dg.RunRequest], list[str]]:
    """One run request per touched partition, selecting every asset the new objects feed."""
    by_partition: dict[str, set[dg.AssetKey]] = defaultdict(set)
    keys_by_partition: dict[str, list[str]] = defaultdict(list)
    ignored = []
    for o in fresh:
        where = locate(o.key)
        if where is None:
            ignored.append(o.key)
            continue
        dataset, partition = where
        by_partition[partition].update(assets_for(dataset))
        keys_by_partition[partition].append(f"{o.key}@{o.mtime}")
    requests = []
    for partition in sorted(by_partition):
        digest = hashlib.sha1("\n".join(sorted(keys_by_partition[partition])).encode()).hexdigest()[:12]
        requests.append(
            dg.RunRequest(
                run_key=f"{partition}:{digest}",
                partition_key=partition,
                asset_selection=sorted(by_partition[partition], key=dg.AssetKey.to_user_string),
                tags={"clickpipe/trigger": "raw-object", "clickpipe/new_objects": str(len(keys_by_partition[partition]))},
            )
        )
    return requests, ignored


def raw_object_sensor(
    name: str,
    prefixes: list[str],
    locate: Callable[[str], tuple[str, str] | None],
    assets_for: Callable[[str], list[dg.AssetKey]],
    description: str,
) -> dg.SensorDefinition:
    """A sensor over raw prefixes: new objects -> one run per touched partition."""
    targets = sorted({a for p in prefixes for a in assets_for(p.split("/")[1])}, key=dg.AssetKey.to_user_string)

    @dg.sensor(
        name=name,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        target=targets,
        description=description,
    )
    def _sensor(context: dg.SensorEvaluationContext, lake: LakeResource) -> dg.SensorResult:
        cursor = ObjectCursor.parse(context.cursor)
        objects = [o for prefix in prefixes for o in lake.list(prefix)]
        fresh, new_cursor = cursor.new_objects(objects)
        requests, ignored = partition_runs(fresh, locate, assets_for)
        if ignored:
            context.log.warning(f"{len(ignored)} object(s) outside the raw layout were ignored, e.g. {ignored[:3]}")
        skip = None if requests else f"nothing new ({len(objects)} objects listed)"
        return dg.SensorResult(run_requests=requests, cursor=new_cursor.dump(), skip_reason=skip)

    return _sensor


def _assets(dataset: str) -> list[dg.AssetKey]:
    return [keys.raw(dataset), keys.processed(dataset)]


def _locate_click(key: str) -> tuple[str, str] | None:
    day = layout.parse_raw_clicks_key(key)
    return ("clicks", day) if day else None


raw_batch_files_sensor = raw_object_sensor(
    "raw_batch_files_sensor",
    [f"{layout.RAW}/{d}/" for d in BATCH_DATASETS],
    layout.parse_raw_batch_key,
    _assets,
    "Notices new or replaced files under raw/users/ and raw/transactions/ and processes their partitions "
    "(raw/<dataset>/ingest_date=YYYY-MM-DD/<file>).",
)

raw_clicks_sensor = raw_object_sensor(
    "raw_clicks_sensor",
    [f"{layout.RAW}/clicks/"],
    _locate_click,
    _assets,
    "Notices new Firehose objects under raw/clicks/YYYY/MM/DD/HH/ and processes their arrival days.",
)

sensors = [raw_batch_files_sensor, raw_clicks_sensor]

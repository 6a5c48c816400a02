"""Clicks incrementally: under the automation, the open arrival day reads only the Firehose objects
it has not read yet, each once, into files named after the object; any other run reads the day
whole and replaces them. And the late window: a record later than the contract allows is
quarantined with a reason."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import dagster as dg
import pyarrow.parquet as pq

from clickpipe_core import layout
from clickpipe_core.contracts import LATE_WINDOW_DAYS
from clickpipe_dagster.automation import AUTOMATION, TRIGGER_TAG
from clickpipe_dagster.definitions import build_definitions
from clickpipe_dagster.resources.glue import LocalGlueJobsResource
from clickpipe_dagster.resources.lake import LocalLakeResource
from clickpipe_dagster.sensors import raw_sensors
from click_fixtures import event, put_object

_, CLICKS_SENSOR = raw_sensors()
AUTOMATION_TAGS = {TRIGGER_TAG: AUTOMATION}


def _sense(lake, instance, cursor):
    """One tick of the raw clicks sensor, its reports stored as the daemon stores them."""
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"lake": lake}, definitions=build_definitions("local"))
    result = CLICKS_SENSOR(ctx)
    for e in result.asset_events or []:
        instance.report_runless_asset_event(e)
    return result.cursor


def _run(lake, instance, day, tags=None):
    assets = [a for a in build_definitions("local").assets if isinstance(a, dg.AssetsDefinition) and a.keys == {dg.AssetKey(["processed", "clicks"])}]
    result = dg.materialize(assets, partition_key=day, instance=instance, tags=tags or {},
                            resources={"lake": lake, "glue": LocalGlueJobsResource()})  # fmt: skip
    assert result.success
    mats = [e.materialization for e in result.get_asset_materialization_events()]
    return mats[0].metadata if mats else None


def _files(lake, prefix):
    return sorted(o.key for o in lake.store().list(prefix) if o.key.endswith(".parquet"))


def test_the_open_day_reads_each_new_object_once_and_a_whole_day_run_replaces_the_increments(tmp_path):
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    day = now.date().isoformat()
    at = lambda minutes: now.replace(hour=0) + timedelta(minutes=minutes)  # noqa: E731
    ts = lambda minutes: (now.replace(hour=0) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    lake = LocalLakeResource(root=str(tmp_path / "lake"))
    store = lake.store()
    put_object(store, [event(i, ts=ts(1)) for i in range(5)], at(5), name="a")
    with dg.instance_for_test() as instance:
        cursor = _sense(lake, instance, None)
        first = _run(lake, instance, day, AUTOMATION_TAGS)  # nothing read before: the whole day
        assert first["read_mode"].value == "the whole day" and first["dagster/row_count"].value == 5

        # two new objects; one repeats an event of the first (at-least-once delivery)
        put_object(store, [event(i, ts=ts(6)) for i in range(5, 8)], at(10), name="b")
        put_object(store, [event(i, ts=ts(11)) for i in (8, 9, 0)], at(15), name="c")
        cursor = _sense(lake, instance, cursor)
        second = _run(lake, instance, day, AUTOMATION_TAGS)
        assert second["read_mode"].value == "new objects only: 2 Firehose object(s) not read before"
        assert second["read"].value.startswith("2 file(s)")  # each new object read once, not the day
        assert (second["rows_in"].value, second["rows_out"].value, second["duplicates_dropped"].value) == (6, 5, 1)
        assert second["dagster/row_count"].value == 10  # the day so far
        names = [k.rsplit("/", 1)[-1] for k in _files(lake, "processed/clicks/")]
        increments = [n for n in names if n.startswith(f"part-ingest_date={day}_")]
        assert increments and len(set(increments)) == len(increments)
        assert any(n.startswith(f"part-ingest_date={day}_") for n in (k.rsplit("/", 1)[-1] for k in _files(lake, "quarantine/clicks/")))

        # a run of the day from the UI (or a backfill, or the daily close) reads it whole and replaces the increments
        whole = _run(lake, instance, day)
        assert whole["read_mode"].value == "the whole day" and whole["dagster/row_count"].value == 10
        names = [k.rsplit("/", 1)[-1] for k in _files(lake, "processed/clicks/") + _files(lake, "quarantine/clicks/")]
        assert not [n for n in names if f"{day}_" in n]
        rows = sum(pq.read_metadata(store.path(k)).num_rows for k in _files(lake, "processed/clicks/"))
        assert rows == 10


def test_a_record_later_than_the_late_window_is_quarantined_with_a_reason(local_store):
    from glue_scripts.duckdb_engine import run_partition
    from clickpipe_core.contracts import CLICKS

    arrival = datetime(2026, 11, 10, 8, tzinfo=timezone.utc)
    in_window = (arrival - timedelta(days=LATE_WINDOW_DAYS)).replace(hour=0, minute=30).strftime("%Y-%m-%dT%H:%M:%SZ")
    too_late = (arrival - timedelta(days=LATE_WINDOW_DAYS + 1)).replace(hour=23).strftime("%Y-%m-%dT%H:%M:%SZ")
    put_object(local_store, [event(1, ts=in_window), event(2, ts=too_late)], arrival)
    r = run_partition(local_store, CLICKS, "2026-11-10")
    assert (r.rows_in, r.rows_out, r.quarantined) == (2, 1, 1) and r.quarantine_reasons == {"late_ts": 1}
    rows = pq.read_table(local_store.path(layout.quarantine_key("clicks", "2026-11-10"))).to_pylist()
    assert rows[0]["reason"] == "late_ts" and "before its ingest day (the late window)" in rows[0]["detail"]
    assert r.dt_partitions == [in_window[:10]]  # nothing lands outside the window

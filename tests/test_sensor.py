"""The raw sensors: new, repeated, replaced, deleted and many objects reported as materializations of
their raw partitions (no run of their own); the cursor across restarts."""

import os
import time
from datetime import datetime, timezone

import dagster as dg

from clickpipe_core import layout
from clickpipe_dagster.definitions import build_definitions
from clickpipe_dagster.resources.lake import LocalLakeResource
from clickpipe_dagster.sensors import new_object_keys, raw_sensors

BATCH, CLICKS = raw_sensors()


def tick(sensor, lake, instance, cursor=None):
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"lake": lake}, definitions=build_definitions("local"))
    result = sensor(ctx)
    assert not result.run_requests  # the sensors report; the automation decides what runs
    return result.asset_events or [], result.cursor


def reported(events):
    return {(e.asset_key.to_user_string(), e.partition): int(e.metadata["object_count"].value) for e in events}


def put(store, dataset, day, name, mtime=None):
    key = layout.raw_batch_key(dataset, day, name)
    store.put_bytes(b"user_id\n", key)
    if mtime is not None:
        os.utime(store.path(key), (mtime, mtime))
    return key


def test_new_files_are_reported_once_per_touched_partition(tmp_path):
    lake = LocalLakeResource(root=str(tmp_path / "lake"))
    store = lake.store()
    put(store, "users", "2026-11-01", "users.csv")
    put(store, "transactions", "2026-11-01", "a.csv")
    put(store, "transactions", "2026-11-01", "b.csv")
    put(store, "transactions", "2026-11-02", "a.csv")
    with dg.instance_for_test() as instance:
        events, cursor = tick(BATCH, lake, instance)
        assert reported(events) == {
            ("raw/users", "2026-11-01"): 1,
            ("raw/transactions", "2026-11-01"): 2,
            ("raw/transactions", "2026-11-02"): 1,
        }
        first = next(e for e in events if e.partition == "2026-11-01" and e.asset_key.path[-1] == "transactions")
        assert new_object_keys(first.metadata) == ["raw/transactions/ingest_date=2026-11-01/a.csv", "raw/transactions/ingest_date=2026-11-01/b.csv"]
        assert "ingest_date=2026-11-01" in first.metadata["location"].value and "%3D" not in first.metadata["location"].value
        # the same objects on the next tick (or after a restart, with the stored cursor): nothing new
        assert tick(BATCH, lake, instance, cursor)[0] == []


def test_replaced_object_is_reported_again_and_deleted_ones_do_no_harm(tmp_path):
    lake = LocalLakeResource(root=str(tmp_path / "lake"))
    store = lake.store()
    now = time.time()
    key = put(store, "transactions", "2026-11-01", "a.csv", mtime=now - 10)
    gone = put(store, "transactions", "2026-11-03", "b.csv", mtime=now - 5)
    with dg.instance_for_test() as instance:
        _, cursor = tick(BATCH, lake, instance)
        store.delete(gone)
        assert tick(BATCH, lake, instance, cursor)[0] == []
        os.utime(store.path(key), (now, now))  # overwritten: new modification time
        events, cursor = tick(BATCH, lake, instance, cursor)
        assert [(e.partition, new_object_keys(e.metadata)) for e in events] == [("2026-11-01", [key])]
        store.delete(key)  # the newest object deleted: the cursor still works
        put(store, "transactions", "2026-11-04", "c.csv", mtime=now + 1)
        assert [e.partition for e in tick(BATCH, lake, instance, cursor)[0]] == ["2026-11-04"]


def test_thousands_of_objects_in_one_tick(tmp_path):
    lake = LocalLakeResource(root=str(tmp_path / "lake"))
    store = lake.store()
    for i in range(3000):
        put(store, "transactions", f"2026-11-{1 + i % 5:02d}", f"part-{i:05d}.csv")
    with dg.instance_for_test() as instance:
        events, cursor = tick(BATCH, lake, instance)
        assert sorted(e.partition for e in events) == [f"2026-11-0{d}" for d in range(1, 6)]
        assert sum(len(new_object_keys(e.metadata)) for e in events) == 3000
        put(store, "transactions", "2026-11-05", "late.csv")
        again, _ = tick(BATCH, lake, instance, cursor)
        assert [(e.partition, len(new_object_keys(e.metadata)), int(e.metadata["object_count"].value)) for e in again] == [
            ("2026-11-05", 1, 601)
        ]


def test_objects_outside_the_layout_or_the_partitions_are_ignored_not_fatal(tmp_path):
    lake = LocalLakeResource(root=str(tmp_path / "lake"))
    store = lake.store()
    store.put_bytes(b"x", "raw/transactions/no-date/file.csv")
    store.put_bytes(b"x", "raw/transactions/ingest_date=2026-13-45/file.csv")
    put(store, "transactions", "2001-01-01", "before-the-first-day.csv")
    put(store, "users", "2026-11-01", "users.csv")
    # A hidden or underscored name is in its partition: Job 1 quarantines its records whole, so the
    # sensor reports it rather than leave it unseen.
    store.put_bytes(b"x", "raw/transactions/ingest_date=2026-11-02/_partial.csv")
    with dg.instance_for_test() as instance:
        events, _ = tick(BATCH, lake, instance)
        assert reported(events) == {("raw/users", "2026-11-01"): 1, ("raw/transactions", "2026-11-02"): 1}


def test_click_sensor_reports_arrival_hours(tmp_path):
    lake = LocalLakeResource(root=str(tmp_path / "lake"))
    store = lake.store()
    for day, hour, n in (("2026-11-01", 23, 1), ("2026-11-02", 0, 2), ("2026-11-02", 5, 1)):
        y, m, dd = map(int, day.split("-"))
        for i in range(n):
            store.put_bytes(b"x", layout.raw_clicks_key("s", datetime(y, m, dd, hour, i, tzinfo=timezone.utc), f"{day}-{hour}-{i}"))
    store.put_bytes(b"x", "raw/clicks/2026/11/02/not-an-hour/x.gz")
    with dg.instance_for_test() as instance:
        events, cursor = tick(CLICKS, lake, instance)
        assert reported(events) == {
            ("raw/clicks", "2026-11-01-23:00"): 1,
            ("raw/clicks", "2026-11-02-00:00"): 2,
            ("raw/clicks", "2026-11-02-05:00"): 1,
        }
        assert tick(CLICKS, lake, instance, cursor)[0] == []

"""The raw batch sensor: new, repeated, replaced, deleted and many objects; cursor across restarts."""

import os
import time

import dagster as dg

from clickpipe_dagster.definitions import build_definitions
from clickpipe_dagster.resources.lake import LocalLakeResource
from clickpipe_dagster.sensors import raw_batch_files_sensor
from clickpipe_core import layout


def tick(lake, instance, cursor=None):
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"lake": lake}, definitions=build_definitions("local"))
    result = raw_batch_files_sensor(ctx)
    return result.run_requests or [], result.cursor


def put(store, dataset, day, name, mtime=None):
    key = layout.raw_batch_key(dataset, day, name)
    store.put_bytes(b"user_id\n", key)
    if mtime is not None:
        os.utime(store.path(key), (mtime, mtime))
    return key


def test_new_files_start_one_run_per_touched_partition(tmp_path):
    lake = LocalLakeResource(root=str(tmp_path / "lake"))
    store = lake.store()
    put(store, "users", "2026-11-01", "users.csv")
    put(store, "transactions", "2026-11-01", "a.csv")
    put(store, "transactions", "2026-11-01", "b.csv")
    put(store, "transactions", "2026-11-02", "a.csv")
    with dg.instance_for_test() as instance:
        requests, cursor = tick(lake, instance)
        by_partition = {r.partition_key: sorted(k.to_user_string() for k in r.asset_selection) for r in requests}
        assert by_partition == {
            "2026-11-01": ["processed/transactions", "processed/users", "raw/transactions", "raw/users"],
            "2026-11-02": ["processed/transactions", "raw/transactions"],
        }
        # the same objects on the next tick (or after a restart, with the stored cursor): nothing new
        assert tick(lake, instance, cursor)[0] == []


def test_replaced_object_is_noticed_again_and_deleted_ones_do_no_harm(tmp_path):
    lake = LocalLakeResource(root=str(tmp_path / "lake"))
    store = lake.store()
    now = time.time()
    key = put(store, "transactions", "2026-11-01", "a.csv", mtime=now - 10)
    gone = put(store, "transactions", "2026-11-03", "b.csv", mtime=now - 5)
    with dg.instance_for_test() as instance:
        _, cursor = tick(lake, instance)
        store.delete(gone)
        assert tick(lake, instance, cursor)[0] == []
        os.utime(store.path(key), (now, now))  # overwritten: new modification time
        requests, cursor = tick(lake, instance, cursor)
        assert [r.partition_key for r in requests] == ["2026-11-01"]
        store.delete(key)  # the newest object deleted: the cursor still works
        put(store, "transactions", "2026-11-04", "c.csv", mtime=now + 1)
        assert [r.partition_key for r in tick(lake, instance, cursor)[0]] == ["2026-11-04"]


def test_thousands_of_objects_in_one_tick(tmp_path):
    lake = LocalLakeResource(root=str(tmp_path / "lake"))
    store = lake.store()
    for i in range(3000):
        put(store, "transactions", f"2026-11-{1 + i % 5:02d}", f"part-{i:05d}.csv")
    with dg.instance_for_test() as instance:
        requests, cursor = tick(lake, instance)
        assert sorted(r.partition_key for r in requests) == [f"2026-11-0{d}" for d in range(1, 6)]
        assert sum(int(r.tags["clickpipe/new_objects"]) for r in requests) == 3000
        assert len(set(r.run_key for r in requests)) == 5
        put(store, "transactions", "2026-11-05", "late.csv")
        again, _ = tick(lake, instance, cursor)
        assert [(r.partition_key, r.tags["clickpipe/new_objects"]) for r in again] == [("2026-11-05", "1")]


def test_objects_outside_the_layout_are_ignored_not_fatal(tmp_path):
    lake = LocalLakeResource(root=str(tmp_path / "lake"))
    store = lake.store()
    store.put_bytes(b"x", "raw/transactions/no-date/file.csv")
    store.put_bytes(b"x", "raw/transactions/ingest_date=2026-13-45/file.csv")
    put(store, "users", "2026-11-01", "users.csv")
    with dg.instance_for_test() as instance:
        requests, _ = tick(lake, instance)
        assert [r.partition_key for r in requests] == ["2026-11-01"]


def test_click_sensor_requests_arrival_days():
    import tempfile
    from datetime import datetime, timezone

    from clickpipe_dagster.sensors import raw_clicks_sensor

    with tempfile.TemporaryDirectory() as d, dg.instance_for_test() as instance:
        lake = LocalLakeResource(root=d)
        store = lake.store()
        for day, hour in (("2026-11-01", 23), ("2026-11-02", 0), ("2026-11-02", 5)):
            y, m, dd = map(int, day.split("-"))
            store.put_bytes(b"x", layout.raw_clicks_key("s", datetime(y, m, dd, hour, tzinfo=timezone.utc), f"{day}{hour}"))
        store.put_bytes(b"x", "raw/clicks/2026/11/02/not-an-hour/x.gz")
        ctx = dg.build_sensor_context(instance=instance, resources={"lake": lake}, definitions=build_definitions("local"))
        result = raw_clicks_sensor(ctx)
        assert {r.partition_key: r.tags["clickpipe/new_objects"] for r in result.run_requests} == {"2026-11-01": "1", "2026-11-02": "2"}
        assert {k.to_user_string() for k in result.run_requests[0].asset_selection} == {"raw/clicks", "processed/clicks"}
        ctx = dg.build_sensor_context(instance=instance, cursor=result.cursor, resources={"lake": lake}, definitions=build_definitions("local"))
        assert not raw_clicks_sensor(ctx).run_requests

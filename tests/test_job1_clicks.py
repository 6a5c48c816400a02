"""Glue Job 1 on the click stream: gzip NDJSON in, Parquet by dt x event_type out, bad lines quarantined."""

import gzip
import json

import dagster as dg
import pyarrow.parquet as pq

from click_fixtures import at, event, put_object
from clickpipe_core.contracts import CLICKS
from clickpipe_dagster.definitions import build_definitions
from clickpipe_dagster.resources.glue import LocalGlueJobsResource
from clickpipe_dagster.resources.lake import LocalLakeResource
from clickpipe_core import layout
from glue_scripts.duckdb_engine import run_partition

DAY = "2026-11-02"


def quarantine(store, day=DAY):
    return pq.read_table(store.path(layout.quarantine_key("clicks", day))).to_pylist()


def processed(store, prefix="processed/clicks/"):
    return [r for o in store.list(prefix) for r in pq.read_table(store.path(o.key)).to_pylist()]


def test_nasty_lines_are_quarantined_with_reasons(local_store):
    lines = [
        event(1),
        '{"broken": ',
        "[1, 2, 3]",
        json.dumps(event(2, user_id=42)),
        event(3, event_type="teleport"),
        event(4, ts="2026-11-02T10:00:00"),  # no zone
        event(5, ts="2026-11-09T10:00:00Z"),  # after it arrived
        event(6, page="/" + "p" * 2_000_000),  # a 2 MB record
        {k: v for k, v in event(7).items() if k != "session_id"},  # a missing field
        event(8, properties="not an object"),
        event(9, ts="yesterday"),
        event(10, user_id="Zoë-ユーザー"),  # unicode is fine
    ]
    put_object(local_store, lines, at(DAY))
    good = gzip.compress(b"".join(json.dumps(event(100 + i)).encode() + b"\n" for i in range(400)))
    put_object(local_store, [], at(DAY, 13), raw=good[: len(good) // 2])  # a truncated object
    put_object(local_store, [], at(DAY, 14), raw=b"plain text, not gzip\n")
    r = run_partition(local_store, CLICKS, DAY)
    assert r.quarantine_reasons == {
        "malformed_json": 1, "not_an_object": 1, "wrong_type_user_id": 1, "not_allowed_event_type": 1,
        "no_timezone_ts": 1, "future_ts": 1, "too_long_page": 1, "missing_session_id": 1,
        "wrong_type_properties": 1, "invalid_ts": 1, "corrupt_object": 2,
    }  # fmt: skip
    assert r.rows_in == r.rows_out + r.quarantined + r.duplicates
    out = {row["event_id"] for row in processed(local_store)}
    assert event(1)["event_id"] in out and event(10)["event_id"] in out
    truncated = [q for q in quarantine(local_store) if "truncated" in q["detail"]]
    kept = int(truncated[0]["detail"].split("the ")[1].split(" complete")[0])
    assert 0 < kept < 400 and r.rows_out == 2 + kept
    assert {q["record"] for q in quarantine(local_store) if q["reason"] == "not_an_object"} == {"[1, 2, 3]"}


def test_layout_by_event_date_and_type_with_late_events_in_their_own_day(local_store):
    put_object(local_store, [event(1), event(2, event_type="purchase"), event(3, ts="2026-11-01T22:00:00+01:00")], at(DAY))
    r = run_partition(local_store, CLICKS, DAY)
    keys = sorted(o.key for o in local_store.list("processed/clicks/"))
    assert keys == [
        "processed/clicks/dt=2026-11-01/event_type=page_view/part-ingest_date=2026-11-02.parquet",
        "processed/clicks/dt=2026-11-02/event_type=page_view/part-ingest_date=2026-11-02.parquet",
        "processed/clicks/dt=2026-11-02/event_type=purchase/part-ingest_date=2026-11-02.parquet",
    ]
    assert r.dt_partitions == ["2026-11-01", "2026-11-02"]
    row = pq.read_table(local_store.path(keys[0])).to_pylist()[0]
    assert row["ts"].isoformat() == "2026-11-01T21:00:00+00:00" and row["country"] == "US"
    assert json.loads(row["properties"]) == {"product_id": "P1"}
    assert "event_type" not in row  # a directory level, not a file column
    assert all(c["passed"] for c in r.checks)


def test_duplicates_within_a_day_and_across_arrival_days(local_store):
    early = "2026-11-01T10:00:00Z"
    put_object(local_store, [event(1, ts=early), event(2, ts=early), event(1, ts=early)], at("2026-11-01"))
    put_object(local_store, [event(2, ts=early)], at("2026-11-01", 13))
    put_object(local_store, [event(1, ts=early), event(3)], at(DAY))  # event 1 again, a day later (at-least-once)
    first = run_partition(local_store, CLICKS, "2026-11-01")
    second = run_partition(local_store, CLICKS, DAY)
    assert (first.rows_out, first.duplicates) == (2, 2)
    assert (second.rows_out, second.duplicates) == (1, 1)
    dupes = [q for q in quarantine(local_store, DAY) if q["reason"] == "duplicate_key"]
    assert "already delivered by ingest_date 2026-11-01" in dupes[0]["detail"]
    ids = [row["event_id"] for row in processed(local_store)]
    assert sorted(ids) == sorted({event(i)["event_id"] for i in (1, 2, 3)})


def test_rerun_is_idempotent_and_an_empty_day_is_empty(local_store):
    put_object(local_store, [event(i, event_type=t) for i, t in enumerate(["click", "search", "click"])], at(DAY))
    run_partition(local_store, CLICKS, DAY)

    def snapshot():
        return {o.key: pq.read_table(local_store.path(o.key)).sort_by("event_id") for o in local_store.list("processed/")}

    before = snapshot()
    run_partition(local_store, CLICKS, DAY)
    after = snapshot()
    assert after.keys() == before.keys() and all(after[k].equals(before[k]) for k in before)
    empty = run_partition(local_store, CLICKS, "2026-11-03")
    assert (empty.rows_in, empty.rows_out) == (0, 0) and "empty partition" in empty.messages[0]


def test_a_backfill_of_a_range_runs_as_one_run(tmp_path):
    lake = LocalLakeResource(root=str(tmp_path / "lake"))
    for i, day in enumerate(["2026-11-01", "2026-11-02", "2026-11-03"]):
        put_object(lake.store(), [event(10 * i + j, ts=f"{day}T0{j}:00:00Z") for j in range(3)], at(day))
    defs = build_definitions("local")
    job = defs.resolve_job_def("clicks_job")
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            instance=instance,
            resources={"lake": lake, "glue": LocalGlueJobsResource()},
            tags={"dagster/asset_partition_range_start": "2026-11-01", "dagster/asset_partition_range_end": "2026-11-03"},
        )
        assert result.success
        partitions = instance.get_materialized_partitions(dg.AssetKey(["processed", "clicks"]))
        assert partitions == {"2026-11-01", "2026-11-02", "2026-11-03"}
        mats = [e.materialization for e in result.get_asset_materialization_events() if e.asset_key.path == ["processed", "clicks"]]
        # each day records its own numbers, not the range's total
        assert {m.partition: (m.metadata["rows_out"].value, m.metadata["dagster/row_count"].value) for m in mats} == {
            d: (3, 3) for d in ("2026-11-01", "2026-11-02", "2026-11-03")
        }
    assert len(list(lake.store().list("processed/clicks/"))) == 3


def test_first_occurrence_is_by_object_order_then_line(local_store):
    """Objects of a day are read in key (arrival) order: the later copy is the duplicate."""
    for i in range(4):  # enough objects for a parallel reader to interleave them
        put_object(local_store, [event(10 * i + j) for j in range(3)] + [event(99)], at(DAY, 10 + i), name=f"o{i}")
    r = run_partition(local_store, CLICKS, DAY)
    assert r.duplicates == 3
    dupes = sorted((q["source_file"][-6:], q["source_line"]) for q in quarantine(local_store) if q["reason"] == "duplicate_key")
    assert dupes == [("-o1.gz", "record 4"), ("-o2.gz", "record 4"), ("-o3.gz", "record 4")]


def test_first_occurrence_holds_across_read_batches(local_store, monkeypatch):
    """Objects are read and classified a few at a time: input order still runs across batches."""
    from glue_scripts import duckdb_engine

    monkeypatch.setattr(duckdb_engine, "BATCH_OBJECTS", 2)
    for i in range(5):
        put_object(local_store, [event(10 * i + j) for j in range(2)] + [event(99)], at(DAY, 10 + i), name=f"o{i}")
    r = run_partition(local_store, CLICKS, DAY)
    assert (r.rows_in, r.rows_out, r.duplicates) == (15, 11, 4)
    dupes = sorted(q["source_file"][-6:] for q in quarantine(local_store) if q["reason"] == "duplicate_key")
    assert dupes == ["-o1.gz", "-o2.gz", "-o3.gz", "-o4.gz"]


def test_the_pipeline_processes_the_objects_it_is_given(local_store):
    """By default every object of the partition; a caller may pass fewer (e.g. only new ones)."""
    keys = [put_object(local_store, [event(10 * i + j) for j in range(3)], at(DAY, 10 + i), name=f"o{i}") for i in range(3)]
    objects = [o for o in local_store.list("raw/clicks/") if o.key in keys[:2]]
    r = run_partition(local_store, CLICKS, DAY, objects=objects)
    assert (r.rows_in, r.rows_out, r.files_in) == (6, 6, keys[:2])
    assert run_partition(local_store, CLICKS, DAY).rows_in == 9


def test_earlier_deliveries_are_other_sources_never_a_runs_own(local_store):
    """Dedup across partitions reads the dedup state of the other sources within the window (one
    state object per source, however many files the engine wrote per directory): never this
    source's own, and a whole-day run not its own day's increments (it replaces them)."""
    from clickpipe_core.job1 import Source, neighbor_states
    from clickpipe_core.lake_store import ObjectInfo

    increment = Source.increment("2026-11-02", ObjectInfo(layout.raw_clicks_key("s", at("2026-11-02"), "u1"), 1, 0))
    for source in ["2026-11-01", "2026-11-02", increment, "2026-11-03"]:
        local_store.put_bytes(b"", layout.dedup_state_key("clicks", source))

    def neighbours(source):
        return [name for _, name in neighbor_states(local_store, CLICKS, source)]

    assert neighbours("2026-11-02") == ["2026-11-01", "2026-11-03"]
    assert neighbours(increment) == ["2026-11-01", "2026-11-02", "2026-11-03"]
    assert neighbours("2026-11-01") == ["2026-11-02", increment.name, "2026-11-03"]

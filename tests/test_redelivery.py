"""Re-delivery, order and concurrency (ARCHITECTURE.md, rule 9): a key delivered by several raw
partitions ends once in the processed zone, by the dataset's rule (transactions: the newest delivery
wins; clicks: the first), whatever order or concurrency the partitions are processed in; writers of
shared state never lose an update. Every test checks the ledger of every partition: raw records =
processed + quarantined + counted duplicates."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pyarrow.parquet as pq

import nasty_corpus as corpus
from click_fixtures import at, event, put_object
from clickpipe_core import layout
from clickpipe_core.contracts import CLICKS, DEDUP_WINDOW_DAYS, TRANSACTIONS, USERS
from clickpipe_core.lake_store import LocalStore
from clickpipe_dagster.resources.glue import LocalGlueJobsResource
from glue_scripts.duckdb_engine import run_partition
from support import run_job2
from test_crash_hygiene import HERE, ROOT, frozen_run, wait_for

D1, D2, D3 = "2026-11-10", "2026-11-11", "2026-11-12"


def zone(store) -> dict:
    """Every processed, quarantine and dedup-state file with its rows (sorted): what must not
    depend on the order of processing."""
    found = {}
    for prefix in ("processed/", "quarantine/", "dedup/"):
        for o in store.list(prefix):
            rows = pq.read_table(store.path(o.key)).to_pylist()
            found[o.key] = sorted(rows, key=repr)
    return found


def in_order_and_not(tmp_path, fill, ds, days, *, before=None):
    """The processed zone after processing ``days`` in order, in reverse, concurrently and in order
    again (a re-run): each lake filled by ``fill``; returns the zones and the in-order lake."""
    zones = {}
    for how in ("in_order", "reversed", "concurrent", "rerun"):
        store = LocalStore(tmp_path / how)
        fill(store)
        if before:
            before(store)
        if how == "reversed":
            for day in reversed(days):
                run_partition(store, ds, day)
        elif how == "concurrent":
            errors = []

            def one(day):
                try:
                    run_partition(store, ds, day)
                except BaseException as e:  # noqa: BLE001 - reported by the assertion below
                    errors.append(e)

            threads = [threading.Thread(target=one, args=(d,)) for d in days]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert not errors
        else:
            for day in days * (2 if how == "rerun" else 1):
                run_partition(store, ds, day)
        zones[how] = zone(store)
        if how == "in_order":
            kept = store
    return zones, kept


def assert_ledgers(store, ds, raw: dict[str, dict[str, list]]) -> None:
    """Per partition, every raw record ends once: processed keys + quarantine rows = records."""
    for day, files in raw.items():
        found = corpus.ledger(store, ds, day)
        total = sum(len(f) for f in files.values())
        assert sum(found["processed"].values()) + len(found["quarantine"]) == total, day


def _users(store):
    store.put_bytes(
        (",".join(USERS.column_names) + "\nU1,Ann Lee,,US,2025-01-01,free\nU2,Bo,,DE,2025-01-01,pro\n").encode(),
        layout.raw_batch_key("users", D1, "users.csv"),
    )
    run_partition(store, USERS, D1)


def _transactions(rows: list[dict]) -> bytes:
    return corpus._csv(TRANSACTIONS.column_names, [{**corpus.TRANSACTION, **r} for r in rows])


TX_RAW = {
    D1: [
        {"transaction_id": "T1", "status": "pending", "transaction_ts": f"{D1}T10:00:00Z"},
        {"transaction_id": "T2", "amount": "5.00", "transaction_ts": f"{D1}T11:00:00Z"},
    ],
    D2: [
        {"transaction_id": "T1", "status": "completed", "transaction_ts": f"{D1}T10:00:00Z"},  # its new status
        {"transaction_id": "T3", "user_id": "U2", "amount": "7.00", "currency": "EUR", "transaction_ts": f"{D2}T09:00:00Z"},
        {"transaction_id": "T3", "user_id": "U2", "amount": "7.00", "currency": "EUR", "transaction_ts": f"{D2}T09:00:00Z"},
    ],
    D3: [
        {"transaction_id": "T1", "status": "refunded", "transaction_ts": f"{D1}T10:00:00Z"},  # late: beyond the late window
        {"transaction_id": "T3", "user_id": "U2", "amount": "7.00", "currency": "EUR", "status": "refunded", "transaction_ts": f"{D2}T09:00:00Z"},
    ],
}


def _fill_transactions(store):
    for day, rows in TX_RAW.items():
        store.put_bytes(_transactions(rows), layout.raw_batch_key("transactions", day, "extract.csv"))


def test_a_redelivered_transaction_is_kept_once_in_its_newest_version_in_any_order(tmp_path):
    zones, store = in_order_and_not(tmp_path, _fill_transactions, TRANSACTIONS, [D1, D2, D3], before=_users)
    assert zones["reversed"] == zones["in_order"] == zones["concurrent"] == zones["rerun"]
    rows = [r for o in store.list("processed/transactions/") for r in pq.read_table(store.path(o.key)).to_pylist()]
    by_id = {r["transaction_id"]: r for r in rows}
    assert sorted(r["transaction_id"] for r in rows) == ["T1", "T2", "T3"]  # each once
    assert (by_id["T1"]["status"], str(by_id["T1"]["ingest_date"])) == ("completed", D2)  # D3's version is late
    assert (by_id["T3"]["status"], str(by_id["T3"]["ingest_date"])) == ("refunded", D3)
    assert_ledgers(store, TRANSACTIONS, {day: {"extract.csv": rows} for day, rows in TX_RAW.items()})
    reasons = {
        (day, q["reason"], q["detail"])
        for day in TX_RAW
        for q in corpus.ledger(store, TRANSACTIONS, day)["quarantine"].values()
    }
    assert (D1, "duplicate_key", f"transaction_id T1 superseded by ingest_date {D2}") in reasons
    assert (D2, "duplicate_key", f"transaction_id T3 superseded by ingest_date {D3}") in reasons
    assert (D2, "duplicate_key", "transaction_id T3 seen before in this partition") in reasons
    assert any(day == D3 and reason == "late_transaction_ts" for day, reason, _ in reasons)


def test_the_marts_count_a_redelivered_transaction_once(tmp_path, pg_url, monkeypatch):
    store = LocalStore(tmp_path / "lake")
    _users(store)
    _fill_transactions(store)
    for day in (D2, D1):  # out of order
        run_partition(store, TRANSACTIONS, day)
    assert run_job2(monkeypatch, pg_url, store.root, "daily", [D1]) == 0
    with psycopg.connect(pg_url) as con:
        rows = con.execute("SELECT currency, transactions, orders, revenue FROM marts.revenue_daily WHERE dt = %s", (D1,)).fetchall()
    assert [(c, t, o, str(r)) for c, t, o, r in rows] == [("USD", 2, 2, "15.00")]  # T1 completed once, T2


def _fill_clicks(store):
    early = f"{D1}T10:00:00Z"
    put_object(store, [event(1, ts=early), event(2, ts=early)], at(D1), name="a")
    put_object(store, [event(1, ts=early), event(3, ts=f"{D2}T10:00:00Z"), event(2, ts=early)], at(D2), name="b")
    put_object(store, [event(3, ts=f"{D2}T10:00:00Z"), event(4, ts=f"{D3}T10:00:00Z")], at(D3), name="c")


def test_click_dedup_is_the_same_in_any_order_and_concurrently(tmp_path):
    zones, store = in_order_and_not(tmp_path, _fill_clicks, CLICKS, [D1, D2, D3])
    assert zones["reversed"] == zones["in_order"] == zones["concurrent"] == zones["rerun"]
    ids = [r["event_id"] for o in store.list("processed/clicks/") for r in pq.read_table(store.path(o.key)).to_pylist()]
    assert sorted(ids) == sorted(event(i)["event_id"] for i in (1, 2, 3, 4))
    rows = {day: [None] * n for day, n in ((D1, 2), (D2, 3), (D3, 2))}
    assert_ledgers(store, CLICKS, {day: {"o": r} for day, r in rows.items()})
    details = sorted(q["detail"] for day in (D2, D3) for q in corpus.ledger(store, CLICKS, day)["quarantine"].values())
    assert details == [
        f"event_id {event(1)['event_id']} already delivered by ingest_date {D1}",
        f"event_id {event(2)['event_id']} already delivered by ingest_date {D1}",
        f"event_id {event(3)['event_id']} already delivered by ingest_date {D2}",
    ]


def test_the_dedup_window_is_declared_and_bounds_the_lookup(local_store):
    """A delivery more than DEDUP_WINDOW_DAYS after another is not compared with it (both are kept);
    the state looked up is that of the days within the window only."""
    late = (D1[:8] + f"{int(D1[8:]) + DEDUP_WINDOW_DAYS + 1:02d}")
    put_object(local_store, [event(7, ts=f"{D1}T10:00:00Z")], at(D1), name="a")
    put_object(local_store, [event(7, ts=f"{late}T10:00:00Z")], at(late), name="b")
    run_partition(local_store, CLICKS, D1)
    result = run_partition(local_store, CLICKS, late)
    assert (result.rows_out, result.duplicates) == (1, 0)
    from clickpipe_core.job1 import neighbor_states

    assert neighbor_states(local_store, CLICKS, late) == []  # D1's state is outside the window
    assert [k for k, _ in neighbor_states(local_store, CLICKS, D2)] == [layout.dedup_state_key("clicks", d) for d in (D1, late)]


# -- writers of shared state -----------------------------------------------------------------------------
JOB1 = ROOT / "glue_scripts" / "raw_to_processed.py"


def _users_file(store, day, user):
    store.put_bytes(
        (",".join(USERS.column_names) + f"\n{user},Someone,,US,2025-01-01,free\n").encode(),
        layout.raw_batch_key("users", day, "users.csv"),
    )


def blocked_on_a_lock(pid: int) -> bool:
    """Whether process ``pid`` waits for an flock (the kernel lists waiters in /proc/locks with ``->``)."""
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if "->" in fields and fields[fields.index("->") + 1] == "FLOCK" and str(pid) in fields:
            return True
    return False


def test_two_concurrent_writers_of_the_users_snapshot_lose_no_update(local_store, tmp_path):
    """Both writers are held just before they publish their snapshot (after reading and merging the
    previous one). The first gets there; the second starts and either gets there too (no lock: it
    read the same previous snapshot, and whichever publishes last loses the other's user) or waits
    for the lake's lock (seen in /proc/locks). Then the first publishes, then the second: with the
    lock, the second read the first's snapshot, and both users are there."""
    _users_file(local_store, D1, "U1")
    _users_file(local_store, D2, "U2")
    point = "clickpipe_core.lake_store:LocalStore.put_file:1:hold"
    args = ("--dataset", "users", "--lake", str(local_store.root), "--partition")
    first = frozen_run(tmp_path, point, JOB1, *args, D1)
    (first_marker,) = tmp_path.glob("frozen-*")
    second_marker = tmp_path / "second"
    second = subprocess.Popen(
        [sys.executable, str(HERE / "kill_points.py"), str(second_marker), point, "--", str(JOB1), *args, D2],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{HERE}"},
    )  # fmt: skip
    wait_for(
        lambda: second_marker.exists() or blocked_on_a_lock(second.pid) or second.poll() is not None,
        "the second writer to reach its publish or the lock",
    )
    assert second.poll() is None, second.communicate()
    Path(f"{first_marker}.go").touch()
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    Path(f"{second_marker}.go").touch()
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err
    snapshot = pq.read_table(local_store.path(layout.snapshot_key("users"))).to_pylist()
    assert sorted(r["user_id"] for r in snapshot) == ["U1", "U2"]
    for day in (D1, D2):  # the ledger of each delivery: one record, processed
        assert sum(corpus.ledger(local_store, USERS, day)["processed"].values()) == 1


def test_the_s3_lock_takes_turns_with_conditional_writes(s3_bucket):
    """Two holders of the same lock on S3 (the moto server, botocore validation): the second waits
    until the first releases; an expired lease (a killed holder) is taken over with If-Match."""
    import json
    import time

    from clickpipe_core.lake_store import S3Store

    client, bucket = s3_bucket
    store = S3Store(client, bucket, "lake")
    order = []

    def second():
        with store.lock("job1-users", poll_seconds=0.05):
            order.append("second")

    with store.lock("job1-users"):
        t = threading.Thread(target=second)
        t.start()
        wait_for(lambda: store.exists(".locks/job1-users.lock"), "the lease")
        order.append("first")
    t.join(timeout=60)
    assert order == ["first", "second"]
    assert not store.exists(".locks/job1-users.lock")
    # a lease whose holder died: expired, taken over
    client.put_object(Bucket=bucket, Key="lake/.locks/job1-users.lock", Body=json.dumps({"owner": "gone", "expires": time.time() - 1}).encode())
    with store.lock("job1-users"):
        held = json.loads(client.get_object(Bucket=bucket, Key="lake/.locks/job1-users.lock")["Body"].read())
        assert held["owner"] != "gone"


def test_the_s3_lease_is_renewed_while_held_and_a_lost_lease_fails_the_holder(s3_bucket):
    """A holder that runs for longer than its lease keeps it (renewed every third of the lease);
    a holder whose lease another writer took over is told so when it leaves, not silently."""
    import json
    import time

    import pytest

    from clickpipe_core.lake_store import LakeLockLost, S3Store

    client, bucket = s3_bucket
    store = S3Store(client, bucket, "lake")
    order = []

    def second():
        with store.lock("job1-clicks", lease_seconds=0.9, poll_seconds=0.05):
            order.append("second")

    with store.lock("job1-clicks", lease_seconds=0.9):
        t = threading.Thread(target=second)
        t.start()
        time.sleep(3.0)  # three leases long: the waiter would take over a lease that was not renewed
        order.append("first")
    t.join(timeout=60)
    assert order == ["first", "second"]

    with pytest.raises(LakeLockLost, match="taken over by another writer"):
        with store.lock("job1-clicks", lease_seconds=0.9):
            client.put_object(Bucket=bucket, Key="lake/.locks/job1-clicks.lock", Body=json.dumps({"owner": "other", "expires": time.time() + 60}).encode())
            time.sleep(1.0)  # the next renewal finds the ETag changed
    held = json.loads(client.get_object(Bucket=bucket, Key="lake/.locks/job1-clicks.lock")["Body"].read())
    assert held["owner"] == "other", "the holder that lost the lease must not delete the new holder's lease"


def test_a_run_killed_while_it_holds_the_lock_releases_it_and_a_rerun_repairs(local_store, tmp_path):
    """kill -9 in the middle of publishing (lock held, dedup state of the day already replaced):
    the lock is free at once (the kernel drops a dead holder's flock), and re-runs account for
    every record of both days."""
    import fcntl

    from test_crash_hygiene import kill9

    _users(local_store)
    _fill_transactions(local_store)
    run_partition(local_store, TRANSACTIONS, D1)
    point = "clickpipe_core.lake_store:LocalStore.put_file:2:before"
    proc = frozen_run(tmp_path, point, JOB1, "--dataset", "transactions", "--lake", str(local_store.root), "--partition", D2)
    kill9(proc)
    with open(local_store.root / ".locks" / "job1-transactions.lock", "a+") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if the dead run still held it
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
    result = run_partition(local_store, TRANSACTIONS, D2)
    assert result.reprocessed == [D1]  # D1 still kept T1: the killed run had not got that far
    assert_ledgers(local_store, TRANSACTIONS, {d: {"extract.csv": TX_RAW[d]} for d in (D1, D2)})
    rows = [r["transaction_id"] for o in local_store.list("processed/transactions/") for r in pq.read_table(local_store.path(o.key)).to_pylist()]
    assert sorted(rows) == ["T1", "T2", "T3"]


def test_a_redelivery_withdrawn_by_a_new_upload_gives_the_key_back_to_the_older_extract(local_store):
    """D2 superseded D1's T1; D2's extract is uploaded again without T1: re-running D2 processes D1
    again, whose T1 (pending) is then the newest delivery, and the ledger of both days holds."""
    _users(local_store)
    _fill_transactions(local_store)
    for day in (D1, D2):
        run_partition(local_store, TRANSACTIONS, day)
    without = [r for r in TX_RAW[D2] if r["transaction_id"] != "T1"]
    local_store.put_bytes(_transactions(without), layout.raw_batch_key("transactions", D2, "extract.csv"))
    result = run_partition(local_store, TRANSACTIONS, D2)
    assert result.reprocessed == [D1]
    rows = {r["transaction_id"]: r for o in local_store.list("processed/transactions/") for r in pq.read_table(local_store.path(o.key)).to_pylist()}
    assert (rows["T1"]["status"], str(rows["T1"]["ingest_date"])) == ("pending", D1)
    assert_ledgers(local_store, TRANSACTIONS, {D1: {"f": TX_RAW[D1]}, D2: {"f": without}})


def test_dagster_records_the_neighbour_day_a_redelivery_processed_again(tmp_path):
    """D2 re-delivers T1 of D1 (newest wins): Job 1 processes D1 again, and its partition gets a
    materialization with D1's new counts, so the UI and the marts of D1's days see the change."""
    import dagster as dg

    from clickpipe_dagster.resources.lake import LocalLakeResource
    from test_dagster_assets import materialize

    resources = {"lake": LocalLakeResource(root=str(tmp_path / "lake")), "glue": LocalGlueJobsResource()}
    store = resources["lake"].store()
    store.put_bytes(
        (",".join(USERS.column_names) + "\nU1,Ann Lee,,US,2025-01-01,free\nU2,Bo,,DE,2025-01-01,pro\n").encode(),
        layout.raw_batch_key("users", D1, "users.csv"),
    )
    for day in (D1, D2):
        store.put_bytes(_transactions(TX_RAW[day]), layout.raw_batch_key("transactions", day, "extract.csv"))
    key = dg.AssetKey(["processed", "transactions"])
    with dg.instance_for_test() as instance:
        assert materialize(resources, None, ["processed/users"], instance).success
        assert materialize(resources, D1, ["processed/transactions"], instance).success
        assert materialize(resources, D2, ["processed/transactions"], instance).success
        records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, asset_partitions=[D1]), limit=5).records
        assert len(records) == 2, "D1 was materialized once by its own run and once when D2 processed it again"
        latest = records[0].asset_materialization.metadata
        assert latest["reprocessed_by"].value == D2
        assert latest["rows_out"].value == latest["dagster/row_count"].value == 1  # T2 only: T1 went to D2
        assert latest["duplicates_dropped"].value == 1

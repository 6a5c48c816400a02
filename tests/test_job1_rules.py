"""Glue Job 1 (DuckDB engine) on real files, against the local lake and the S3 lake alike."""

import csv
from collections import Counter

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clickpipe_core.contracts import TRANSACTIONS, USERS
from support import load_sample
from clickpipe_core import layout
from clickpipe_core.checks import arrow_schema
from clickpipe_core.errors import JobInputError
from glue_scripts.duckdb_engine import run_partition


def read_table(store, prefix: str) -> pa.Table:
    tables = []
    for o in store.list(prefix):
        with store.local_copy(o.key) as p:
            tables.append(pq.read_table(p))
    return pa.concat_tables(tables) if tables else None


def run_all(store, sample):
    results = [run_partition(store, USERS, sample.days[0])]
    results += [run_partition(store, TRANSACTIONS, d) for d in sample.days]
    return results


def test_every_dirty_kind_lands_in_quarantine_with_its_reason(store, sample):
    load_sample(store, sample)
    results = run_all(store, sample)
    for ds, rs in (("users", results[:1]), ("transactions", results[1:])):
        m = sample.manifest[ds]
        quarantined = Counter()
        for r in rs:
            quarantined.update(r.quarantine_reasons)
        duplicates = sum(r.duplicates for r in rs)
        expected = Counter()
        for kind, n in m["dirty"].items():
            expected[m["expected_reasons"][kind]] += n
        assert duplicates == expected.pop("duplicate_key", 0), ds
        assert quarantined == expected, ds
        # ... and the quarantine zone holds exactly those rows, each with a reason and the raw record
        q = pa.concat_tables([read_table(store, layout.quarantine_key(ds, r.ingest_date)) for r in rs])
        reasons = Counter(q.column("reason").to_pylist())
        assert reasons == quarantined + Counter({"duplicate_key": duplicates})
        assert all(q.column("record").to_pylist()) and all(q.column("detail").to_pylist())


def test_conservation_every_record_is_accounted_for(store, sample):
    load_sample(store, sample)
    results = run_all(store, sample)
    assert results[0].rows_in == sample.manifest["users"]["rows"]
    assert sum(r.rows_in for r in results[1:]) == sample.manifest["transactions"]["rows"]
    for r in results:
        assert r.rows_in == r.rows_out + r.quarantined + r.duplicates
        assert {c["name"]: c["passed"] for c in r.checks} == {c["name"]: True for c in r.checks}
    out = read_table(store, layout.processed_prefix("transactions"))
    assert out.num_rows == sum(r.rows_out for r in results[1:])


def test_output_is_typed_partitioned_by_transaction_date_and_keyed(local_store, sample):
    load_sample(local_store, sample)
    run_all(local_store, sample)
    files = [o.key for o in local_store.list("processed/transactions/")]
    # late payments land in the previous day's partition, in a file named after their source
    assert f"processed/transactions/dt={sample.days[0]}/part-ingest_date={sample.days[1]}.parquet" in files
    con = duckdb.connect()
    root = local_store.root / "processed" / "transactions"
    bad = con.execute(
        f"SELECT count(*) FROM read_parquet('{root}/*/*.parquet', hive_partitioning=true) "
        "WHERE CAST(transaction_ts AS DATE)::VARCHAR <> dt"
    ).fetchone()[0]
    assert bad == 0
    for f in root.glob("*/*.parquet"):
        assert pq.read_schema(f).names == arrow_schema(TRANSACTIONS).names
        assert pq.ParquetFile(f).metadata.row_group(0).column(0).compression == "SNAPPY"
    dupes = con.execute(
        f"SELECT count(*) - count(DISTINCT transaction_id) FROM read_parquet('{root}/*/*.parquet')"
    ).fetchone()[0]
    assert dupes == 0


def test_tricky_but_clean_values_survive_intact(local_store, sample):
    load_sample(local_store, sample, transactions=False)
    run_partition(local_store, USERS, sample.days[0])
    out = {r["user_id"]: r for r in pq.read_table(local_store.path("processed/users/users.parquet")).to_pylist()}
    with open(sample.users_file, encoding="utf-8", newline="") as f:
        raw = {}
        for row in csv.DictReader(f):
            raw.setdefault(row["user_id"].strip(), row)
    names = [r["full_name"] for r in out.values()]
    assert any("," in n for n in names) and any(not n.isascii() for n in names)
    for uid, row in out.items():
        assert row["full_name"] == raw[uid]["full_name"].strip()
        assert row["country"] == raw[uid]["country"].strip().upper()
        if row["email"]:
            assert row["email"] == raw[uid]["email"].strip().lower()


def test_rerun_gives_identical_rows_and_files(store, sample):
    load_sample(store, sample)
    run_all(store, sample)
    before = {o.key for o in store.list("processed/")}
    first = read_table(store, "processed/transactions/").sort_by("transaction_id")
    run_all(store, sample)
    assert {o.key for o in store.list("processed/")} == before
    assert read_table(store, "processed/transactions/").sort_by("transaction_id").equals(first)


def test_rerun_with_fewer_days_removes_stale_files(local_store, tmp_path):
    key = layout.raw_batch_key("transactions", "2026-11-02", "t.csv")
    users = "user_id,full_name,country,signup_date\nU1,A,US,2025-01-01\n"
    local_store.put_bytes(users.encode(), layout.raw_batch_key("users", "2026-11-01", "u.csv"))
    run_partition(local_store, USERS, "2026-11-01")
    header = ",".join(TRANSACTIONS.column_names)
    local_store.put_bytes(
        f"{header}\nT1,U1,1.00,USD,completed,card,2026-11-01T10:00:00Z\nT2,U1,2.00,USD,completed,card,2026-11-02T10:00:00Z\n".encode(),
        key,
    )
    run_partition(local_store, TRANSACTIONS, "2026-11-02")
    assert local_store.exists("processed/transactions/dt=2026-11-01/part-ingest_date=2026-11-02.parquet")
    local_store.put_bytes(f"{header}\nT2,U1,2.00,USD,completed,card,2026-11-02T10:00:00Z\n".encode(), key)
    r = run_partition(local_store, TRANSACTIONS, "2026-11-02")
    assert not local_store.exists("processed/transactions/dt=2026-11-01/part-ingest_date=2026-11-02.parquet")
    assert r.rows_out == 1 and r.dt_partitions == ["2026-11-02"]


def test_a_crash_while_writing_leaves_the_previous_output_intact(local_store, sample, monkeypatch):
    load_sample(local_store, sample)
    run_all(local_store, sample)
    snapshot = {o.key: local_store.read_bytes(o.key) for o in local_store.list("processed/")}
    # new input for day 2, then the job dies after writing its staging files, before publishing
    day = sample.days[1]
    local_store.put_bytes(
        (",".join(TRANSACTIONS.column_names) + "\nT9,U0000001,1.00,USD,completed,card,2026-11-02T10:00:00Z\n").encode(),
        layout.raw_batch_key("transactions", day, "transactions.csv"),
    )
    from clickpipe_core import job1

    def killed(*a, **k):
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(job1, "publish", killed)
    with pytest.raises(KeyboardInterrupt):
        run_partition(local_store, TRANSACTIONS, day)
    assert {o.key: local_store.read_bytes(o.key) for o in local_store.list("processed/")} == snapshot
    assert not list((local_store.root / "_tmp").glob("*/*")), "staging files are cleaned up"


def test_a_crash_mid_publish_leaves_only_whole_files(local_store, sample, monkeypatch):
    load_sample(local_store, sample)
    run_all(local_store, sample)
    from clickpipe_core.lake_store import LocalStore

    real_put, calls = LocalStore.put_file, []

    def put_then_die(self, local, key, **kw):
        if calls:
            raise KeyboardInterrupt("killed between two files")
        calls.append(key)
        return real_put(self, local, key, **kw)

    monkeypatch.setattr(LocalStore, "put_file", put_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_partition(local_store, TRANSACTIONS, sample.days[1])
    monkeypatch.undo()
    for o in local_store.list("processed/"):
        pq.read_table(local_store.path(o.key))  # every published file is a complete Parquet file
    r = run_partition(local_store, TRANSACTIONS, sample.days[1])  # and a re-run repairs the partition
    assert all(c["passed"] for c in r.checks)


def test_transactions_need_the_users_snapshot(local_store, sample):
    load_sample(local_store, sample, users=False)
    with pytest.raises(JobInputError, match="materialize processed/users first"):
        run_partition(local_store, TRANSACTIONS, sample.days[0])

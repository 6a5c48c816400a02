"""Glue Job 2 with a bad processed file: one line that names the dataset, the day, the file and,
where one record is the cause, its position; in a range run the other days load all the same (each
day is its own transaction), and the bad day keeps its previous rows."""

from __future__ import annotations

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from click_fixtures import at, event, put_object
from clickpipe_core import layout
from clickpipe_core.contracts import CLICKS, TRANSACTIONS, USERS
from clickpipe_core.errors import MartBuildError, ProcessedZoneError
from clickpipe_core.lake_store import LocalStore
from clickpipe_core.marts import MARTS, Mart
from glue_scripts.duckdb_engine import run_partition
from glue_scripts.marts_engine import DuckDBMartEngine
from support import run_job2

DAYS = ["2026-11-01", "2026-11-02", "2026-11-03"]
BAD = DAYS[1]


@pytest.fixture
def lake(local_store):
    """Three days of clicks and transactions, through Job 1."""
    local_store.put_bytes(
        b"user_id,full_name,country,signup_date\nU0000001,Ann,US,2025-01-01\n",
        layout.raw_batch_key("users", DAYS[0], "users.csv"),
    )
    run_partition(local_store, USERS, DAYS[0])
    for i, day in enumerate(DAYS):
        put_object(local_store, [event(i * 10 + k, ts=f"{day}T10:00:0{k}Z", page=f"/p{k}") for k in range(3)], at(day))
        run_partition(local_store, CLICKS, day)
        local_store.put_bytes(
            f"transaction_id,user_id,amount,currency,status,transaction_ts\nT{i},U0000001,5.00,USD,completed,{day}T09:00:00Z\n".encode(),
            layout.raw_batch_key("transactions", day, "t.csv"),
        )
        run_partition(local_store, TRANSACTIONS, day)
    return local_store


def loads(url: str) -> dict:
    with psycopg.connect(url) as con:
        return {(m, p): (n, run) for m, p, n, run in con.execute("SELECT mart, partition, row_count, loaded_at FROM marts.partition_loads")}


def page_file(store: LocalStore, day: str) -> str:
    (key,) = [o.key for o in store.list(f"processed/clicks/dt={day}/event_type=page_view/")]
    return key


def test_a_nul_in_an_old_processed_file_names_file_and_record_and_the_other_days_load(lake, pg_url, monkeypatch, capsys):
    assert run_job2(monkeypatch, pg_url, lake.root, "daily", DAYS) == 0
    before = loads(pg_url)
    # A file written before Job 1 quarantined control characters: its third record's page holds U+0000.
    key = page_file(lake, BAD)
    table = pq.read_table(lake.path(key))
    pages = table.column("page").to_pylist()
    pages[2] = "/p\x002"
    pq.write_table(table.set_column(table.column_names.index("page"), "page", pa.array(pages)), lake.path(key))

    capsys.readouterr()
    assert run_job2(monkeypatch, pg_url, lake.root, "daily", DAYS) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert err.startswith("clickpipe: daily marts: 1 of 3 day(s) not loaded (their previous rows stay); loaded 2026-11-01, 2026-11-03.")
    assert f"{BAD}: marts.top_pages_daily.page would hold U+0000" in err
    assert f"{key} (clicks, day {BAD}, from ingest date {BAD}), record 3, column page" in err
    assert f"re-materialize processed/clicks for ingest date {BAD}" in err
    after = loads(pg_url)
    for mart in ("daily_events", "funnel_daily", "revenue_daily", "top_pages_daily"):
        assert after[mart, BAD] == before[mart, BAD]  # untouched: still the previous load
        assert all(after[mart, d][1] > before[mart, d][1] for d in (DAYS[0], DAYS[2]))  # reloaded

    # Job 1 on the raw partition rewrites the file; then the day loads.
    run_partition(lake, CLICKS, BAD)
    assert run_job2(monkeypatch, pg_url, lake.root, "daily", [BAD]) == 0


@pytest.mark.parametrize("damage", ["cut-off", "not-parquet", "foreign-schema"])
def test_an_unusable_processed_file_is_named_and_only_its_day_fails(lake, pg_url, monkeypatch, capsys, damage):
    key = f"processed/transactions/dt={BAD}/part-ingest_date={BAD}.parquet"
    path = lake.path(key)
    if damage == "cut-off":
        path.write_bytes(path.read_bytes()[:300])
    elif damage == "not-parquet":
        path.write_bytes(b"transaction_id,amount\nT1,5.00\n")
    else:  # a file some other tool wrote: amount as text that is not a number
        t = pq.read_table(path)
        pq.write_table(t.set_column(t.column_names.index("amount"), "amount", pa.array(["five"])), path)
    capsys.readouterr()
    assert run_job2(monkeypatch, pg_url, lake.root, "daily", DAYS) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert "loaded 2026-11-01, 2026-11-03" in err
    assert f"{BAD}: " in err and f"{key} (transactions, day {BAD}, from ingest date {BAD})" in err
    assert f"re-materialize processed/transactions for ingest date {BAD}" in err
    if damage == "foreign-schema":
        assert "holds amount as string, which does not convert to decimal128(18, 2)" in err
    assert {p for (m, p) in loads(pg_url)} == {DAYS[0], DAYS[2]}


def test_a_broken_users_snapshot_fails_every_revenue_day_in_one_sentence(lake, pg_url, monkeypatch, capsys):
    path = lake.path(layout.snapshot_key("users"))
    path.write_bytes(path.read_bytes()[:100])
    capsys.readouterr()
    assert run_job2(monkeypatch, pg_url, lake.root, "daily", DAYS) == 2
    err = capsys.readouterr().err.strip()
    assert "3 of 3 day(s) not loaded" in err and "none loaded" in err
    assert err.count("processed/users/users.parquet (users, the current snapshot)") == 1  # the same cause, said once
    assert "2026-11-01, 2026-11-02, 2026-11-03: cannot read processed/users/users.parquet" in err
    assert "re-materialize processed/users (Job 1 rewrites the snapshot)" in err
    capsys.readouterr()
    assert run_job2(monkeypatch, pg_url, lake.root, "users") == 2
    assert "users marts: cannot read processed/users/users.parquet" in capsys.readouterr().err


class _OverflowingMart(Mart):
    """A mart whose SQL overflows on sound files (what revenue_daily did before V002)."""

    def sql(self) -> str:
        return "SELECT CAST(SUM(amount) * 100000000000000000 AS DECIMAL(18, 2)) AS revenue FROM transactions"


def test_an_error_of_the_sql_itself_does_not_blame_the_files(lake):
    """Job 2 once said "cannot read the processed zone" for an overflow in the mart SQL: wrong cause."""
    mart = _OverflowingMart(**{f: getattr(MARTS["revenue_daily"], f) for f in ("name", "description", "columns", "key", "daily", "sources")})
    with DuckDBMartEngine(lake) as engine:
        engine.register(["transactions", "users"], days=DAYS)
        with pytest.raises(MartBuildError) as raised:
            engine.build(mart)
    message = str(raised.value)
    assert "every file it reads is sound" in message and "cannot read" not in message
    assert "2026-11-01, 2026-11-02, 2026-11-03" in message and "out of range" in message
    assert not isinstance(raised.value, ProcessedZoneError)


def test_a_load_error_says_where_postgresql_found_it(pg_url):
    """Rows that reach COPY and fail there: PostgreSQL's words and its position (mart, row, column)."""
    from datetime import date

    from clickpipe_core import pg_load

    pg_load.apply_migrations(pg_url)
    t = pa.table({"dt": [date(2026, 11, 1)] * 3, "page_rank": pa.array([1, 2, 3], pa.int32()), "page": ["/a", "/b\x00", "/c"],
                  "views": [1, 1, 1], "users": [1, 1, 1], "sessions": [1, 1, 1]})  # fmt: skip
    failures: dict = {}
    days = ["2026-11-01", "2026-11-02"]
    loaded = pg_load.replace_partitions(pg_url, {"top_pages_daily": (MARTS["top_pages_daily"], t)}, days, failures=failures)
    assert loaded == {"top_pages_daily": {"2026-11-02": 0}}
    assert list(failures) == ["2026-11-01"]
    assert "invalid byte sequence" in failures["2026-11-01"]
    assert "(at COPY top_pages_daily, line 2, column page: the rows of the mart in COPY order)" in failures["2026-11-01"]

"""Glue Job 1 on Spark and on DuckDB give the same results for the same raw input.

Each test fills two lakes with the same raw objects, runs the same partitions through both
engines and compares everything a reader can see: processed rows (sorted, same column names and
types), quarantine rows (reason, detail, source file and line, record), the Pipes metadata (counts,
reasons, messages, dt partitions, published keys) and the checks. Only bytes_out differs (two
Parquet writers). One local SparkSession serves the whole test session.
"""

from __future__ import annotations

import gzip
import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from click_fixtures import at, event, put_object
from clickpipe_core.errors import JobInputError
from clickpipe_core.contracts import CLICKS, TRANSACTIONS, USERS
from clickpipe_core.generator.batch import generate
from glue_scripts import duckdb_engine
from clickpipe_core import layout
from clickpipe_core.lake_store import LocalStore, S3Store
from support import require_spark

require_spark()

from glue_scripts import spark_engine  # noqa: E402

DAY, DAY2 = "2026-11-01", "2026-11-02"
USERS_HEADER = ",".join(USERS.column_names)
GOOD = "U1,Ann Lee,ann@example.com,US,2025-01-01,free"
ENGINES = {"duckdb": duckdb_engine.run_partition, "spark": spark_engine.run_partition}


def _rows(table: pa.Table) -> list:
    return sorted((tuple((k, repr(v)) for k, v in r.items()) for r in table.to_pylist()))


def _schema(table: pa.Table) -> list:
    return [(f.name, str(f.type)) for f in table.schema]


def _read(store, key: str) -> pa.Table:
    with store.local_copy(key) as p:
        return pq.read_table(p)


def run_both(make_store, fill, runs: list[tuple]) -> dict:
    """Fill one lake per engine, run ``runs`` ((dataset, ingest_date) in order) through each."""
    out = {}
    for name, run in ENGINES.items():
        store = make_store(name)
        fill(store)
        results = [run(store, ds, day) for ds, day in runs]
        out[name] = (store, results)
    return out


def assert_same(both: dict) -> list:
    (dstore, dres), (sstore, sres) = both["duckdb"], both["spark"]
    for d, s in zip(dres, sres, strict=True):
        dm, sm = d.metadata(), s.metadata()
        dm.pop("bytes_out"), sm.pop("bytes_out")  # two Parquet writers
        assert sm == dm, d.dataset
        assert s.files_out == d.files_out
        assert s.checks == d.checks, d.dataset
    dkeys = sorted(o.key for o in dstore.list("") if o.key.startswith(("processed/", "quarantine/")))
    skeys = sorted(o.key for o in sstore.list("") if o.key.startswith(("processed/", "quarantine/")))
    assert skeys == dkeys
    for key in dkeys:
        dt, st = _read(dstore, key), _read(sstore, key)
        assert _schema(st) == _schema(dt), key
        assert _rows(st) == _rows(dt), key
    return dres


@pytest.fixture
def local_lakes(tmp_path):
    return lambda name: LocalStore(tmp_path / name)


# -- batch files ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dirty_sample(tmp_path_factory):
    """Every dirty kind of the generator, at a high rate, plus its clean-but-tricky rows."""
    return generate(tmp_path_factory.mktemp("dirty"), days=2, users=300, transactions_per_day=1200, seed=5, dirty_rate=0.3)


def _load_sample(sample):
    def fill(store):
        store.put_file(sample.users_file, layout.raw_batch_key("users", DAY, "users.csv"))
        for day, path in sample.transaction_files.items():
            store.put_file(path, layout.raw_batch_key("transactions", day, "transactions.csv"))

    return fill


def test_generated_dirty_sample_on_an_s3_lake(spark, s3_bucket, dirty_sample):
    """Every dirty kind of the generator, each engine on an S3 lake (without Glue the Spark engine
    copies the objects down: a local Spark has no S3 connector; every other test here uses local
    lakes). One test, not one per lake: a partition run costs Spark seconds of planning whatever
    its size, and the rules are the same on either lake."""
    client, bucket = s3_bucket
    runs = [(USERS, DAY), *((TRANSACTIONS, d) for d in dirty_sample.days)]
    results = assert_same(run_both(lambda name: S3Store(client, bucket, name), _load_sample(dirty_sample), runs))
    reasons = set().union(*(r.quarantine_reasons for r in results))
    expected = {r for m in ("users", "transactions") for r in dirty_sample.manifest[m]["expected_reasons"].values()}
    assert reasons == expected - {"duplicate_key"}  # every dirty kind was exercised
    assert all(r.duplicates for r in results)


NASTY_USER_FILES = {
    "a-empty.csv": b"",
    "b-blank-lines.csv": b"\n\n",
    "c-bom-only.csv": b"\xef\xbb\xbf",
    "d-header-only.csv": (USERS_HEADER + "\n").encode(),
    "e-wrong-header.csv": b"id,name,mail\n1,a,b\n\n  \n2,c,d\n",
    "f-other-order.csv": b"Country, USER_ID ,full_name,signup_date\nde,U2,Jo,2025-02-03\n",
    "g-latin1.csv": (USERS_HEADER + "\n" + "U3,A,,US,2025-01-01,free\n").encode()
    + "U4,Zoë Ånd,z@example.com,FR,2025-01-01,pro\n".encode("latin-1"),
    "h-crlf-bom.csv": ("\ufeff" + USERS_HEADER + "\r\n" + "U5,Bo,,SE,2025-01-01,plus\r\n" + 'U6,"Doe, Jane",,GB,2025-01-02,\r\n').encode(),
    "i-columns.csv": (
        USERS_HEADER + "\nU7,Cy,,US,2025-01-01,free,extra\nU8,Di,US\nU9,Ed,,US,2025-01-01,free,x,y\n   \n\nU10,Fa,,US,2025-01-01,free\n"
    ).encode(),
    "j-quotes.csv": (
        USERS_HEADER + '\nU11,"",,US,2025-01-01,free\nU12, "Quoted, Spaced" ,,US,2025-01-01,free\n'
        'U13,"Say ""hi""",,US,2025-01-01,free\nU14,A"B,,US,2025-01-01,free\nU15,"A"B,,US,2025-01-01,free\n'
        "U16,李雷 Иванова محمد,,JP,2025-01-01,pro\nU17,Zoë-ユーザー,,US,2025-01-01,free\n"
    ).encode(),
    "k-values.csv": (
        USERS_HEADER + "\nU18," + "x" * 300 + ",,US,2025-01-01,free\nU19,Bo,,US,01/02/2025,free\nU20,Cy,,US,2025-01-01,gold\n"
        "U21,Di,not-an-email,US,2025-01-01,free\nU22,Ed,,usa,2025-01-01,free\n,Fa,,US,2025-01-01,free\n"
        "U23,Gu,,US,0000-01-01,free\nU24,Ha,,US,2025-02-29,free\nU1,Again,,US,2025-01-01,free\n"
    ).encode(),
    "l-lone-cr.csv": (USERS_HEADER + "\rU25,Ka,,US,2025-01-01,free\rU26,Lu,,US,2025-01-01,free\r").encode(),
    "m-gzip-garbage.csv": gzip.compress((USERS_HEADER + "\n" + GOOD + "\n").encode() * 50),
    "n-unclosed-quote.csv": (USERS_HEADER + "\n" + GOOD + '\nU27,"Unclosed,,US,2025-01-01,free\n').encode(),
    "o-huge.csv": (USERS_HEADER + "\n" + GOOD + "\nU28," + "y" * 3_000_000 + ",,US,2025-01-01,free\n").encode(),
}


def test_nasty_batch_files(spark, local_lakes):
    def fill(store):
        for name, data in NASTY_USER_FILES.items():
            store.put_bytes(data, layout.raw_batch_key("users", DAY, name))

    (result,) = assert_same(run_both(local_lakes, fill, [(USERS, DAY)]))
    assert {"too_many_columns", "too_few_columns", "invalid_encoding", "wrong_header", "malformed_csv"} <= set(result.quarantine_reasons)
    assert len(result.messages) >= 5 and result.duplicates == 2  # U1 three times


def test_a_line_over_the_reader_limit(spark, local_lakes):
    def fill(store):
        data = (USERS_HEADER + "\n" + GOOD + "\nU9," + "y" * 9_000_000 + ",,US,2025-01-01,free\nU2,B,,US,2025-01-01,free\n").encode()
        store.put_bytes(data, layout.raw_batch_key("users", DAY, "u.csv"))

    (result,) = assert_same(run_both(local_lakes, fill, [(USERS, DAY)]))
    assert result.quarantine_reasons == {"line_too_long": 1} and result.rows_out == 2


def test_transactions_snapshot_order_and_duplicates(spark, local_lakes):
    header = ",".join(TRANSACTIONS.column_names)
    rows = [
        "T1,U1,10.00,usd,Completed,card,2026-11-01T10:00:00Z",
        "T1,U1,10.00,usd,Completed,card,2026-11-01T10:00:00Z",
        "T2,U404,5.00,USD,completed,card,2026-11-01T10:00:00Z",
        "T3,U1,-1.00,USD,completed,card,2026-11-01T10:00:00+02:00",
        " T4 , U1 , 7.5 ,EUR,pending,,2026-11-01 23:30:00",
        "T5,U1,1.50,EUR,pending,,2026-10-31T22:30:00.123456-01:00",
        "T12,U1,1.005,EUR,pending,,2026-11-01T10:00:00Z",  # more decimals than EUR has: quarantined, not rounded
        "T6,U1,1e3,EUR,pending,,2026-11-01T10:00:00Z",
        "T7,U1,1.00,EUR,pending,,2026-11-01T24:00:00Z",
        "T8,U1,1.00,EUR,pending,,2026-11-01T10:00+02:00",
        "T9,U1,1.00,EUR,pending,,2026-11-01T10:00:00+19:00",
        "T10,U1,1.00,EUR,pending,,2026-11-01T10:00:00.1234567Z",
        "T11,U2,2.00,GBP,refunded,paypal,2026-11-02T00:00:00+0100",
    ]

    def fill(store):
        store.put_bytes((USERS_HEADER + "\nU1,Old,,US,2025-01-01,free\n").encode(), layout.raw_batch_key("users", DAY, "u.csv"))
        store.put_bytes((USERS_HEADER + "\nU1,New,,US,2025-01-01,pro\nU2,Two,,GB,2025-01-01,free\n").encode(), layout.raw_batch_key("users", DAY2, "u.csv"))
        store.put_bytes((header + "\n" + "\n".join(rows) + "\n").encode(), layout.raw_batch_key("transactions", DAY2, "t.csv"))
        store.put_bytes((header + "\n" + rows[0] + "\n").encode(), layout.raw_batch_key("transactions", DAY2, "u.csv"))

    results = assert_same(run_both(local_lakes, fill, [(USERS, DAY2), (USERS, DAY), (TRANSACTIONS, DAY2)]))
    # T5 happened on 2026-10-31 (UTC), two days before its ingest day: later than the late window
    assert results[-1].duplicates == 2 and results[-1].dt_partitions == ["2026-11-01"]
    assert results[-1].quarantine_reasons["too_precise_amount"] == 1 and results[-1].quarantine_reasons["late_transaction_ts"] == 1


def test_missing_input_is_the_same_error(spark, local_lakes):
    for name, run in ENGINES.items():
        store = local_lakes(name)
        with pytest.raises(JobInputError, match="no raw users file"):
            run(store, USERS, DAY)
        store.put_bytes((",".join(TRANSACTIONS.column_names) + "\n").encode(), layout.raw_batch_key("transactions", DAY, "t.csv"))
        with pytest.raises(JobInputError, match="materialize processed/users first"):
            run(store, TRANSACTIONS, DAY)


# -- the click stream ------------------------------------------------------------------------------
def test_nasty_click_lines_and_damaged_objects(spark, local_lakes):
    lines = [
        event(1),
        '{"broken": ',
        "[1, 2, 3]",
        "42",
        '"a string"',
        "",
        "   ",
        json.dumps(event(2, user_id=42)),
        json.dumps(event(3, session_id=True)),
        json.dumps(event(4, page=-7)),
        json.dumps(event(5, referrer=1.5)),
        json.dumps(event(6, properties=[1, 2])),
        event(7, event_type="teleport"),
        event(8, ts="2026-11-02T10:00:00"),
        event(9, ts="2026-11-09T10:00:00Z"),
        event(10, page="/" + "p" * 3000),
        {k: v for k, v in event(11).items() if k != "session_id"},
        event(12, properties="not an object"),
        event(13, ts="yesterday"),
        event(14, user_id="Zoë-ユーザー", properties={"q": 'say "hi"', "n": [1, 2.5, None], "u": "é\u0001"}),
        event(15, event_id="NOT-A-UUID"),
        event(1),  # a repeat within the day
        '{"event_id": "x", "event_id": "y"}',
        '{"x": "\\ud800"}',
        '{"x": NaN}',
    ]
    bad_utf8 = b'{"event_id": "\xff\xfe"}\n'

    def fill(store):
        put_object(store, lines, at(DAY2), name="a")
        put_object(store, [], at(DAY2, 13), name="b", raw=gzip.compress(json.dumps(event(40)).encode() + b"\n" + bad_utf8 + b"\r\n"))
        good = gzip.compress(b"".join(json.dumps(event(100 + i)).encode() + b"\n" for i in range(300)))
        put_object(store, [], at(DAY2, 14), name="c", raw=good[: len(good) // 2])  # truncated
        put_object(store, [], at(DAY2, 15), name="d", raw=b"plain text, not gzip\n")

    (result,) = assert_same(run_both(local_lakes, fill, [(CLICKS, DAY2)]))
    assert result.quarantine_reasons["corrupt_object"] == 2 and result.quarantine_reasons["invalid_encoding"] == 1
    assert {"malformed_json", "not_an_object", "wrong_type_user_id", "wrong_type_properties"} <= set(result.quarantine_reasons)


def test_click_layout_late_events_and_duplicates_across_days(spark, local_lakes):
    early = "2026-11-01T10:00:00Z"
    types = ["page_view", "click", "search", "purchase"]

    def fill(store):
        rng = random.Random(3)
        put_object(store, [event(1, ts=early), event(2, ts=early), event(1, ts=early)], at(DAY), name="a")
        put_object(store, [event(2, ts=early)], at(DAY, 13), name="b")
        many = [event(200 + i, event_type=rng.choice(types), ts=f"2026-11-0{rng.choice([1, 2])}T0{rng.randrange(10)}:00:00+01:00") for i in range(500)]
        put_object(store, [event(1, ts=early), event(3), *many, *many[:20]], at(DAY2), name="c")

    results = assert_same(run_both(local_lakes, fill, [(CLICKS, DAY), (CLICKS, DAY2), (CLICKS, "2026-11-03")]))
    # events of 2026-10-31 (UTC) arrived on 2026-11-02, later than the late window: quarantined
    assert results[1].duplicates == 21 and results[1].dt_partitions == ["2026-11-01", "2026-11-02"]
    assert results[1].quarantine_reasons["late_ts"] > 0


ENRICHMENT_CASES = [  # (user_agent, page, referrer): every kind the enrichment rules tell apart
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "/", None),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
     "/?utm_source=news&utm_medium=email&utm_campaign=gift%20guide&utm_campaign=other", "https://mail.google.com/"),
    ("Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
     "/c/shoes?gclid=abc#top", "https://www.google.com/"),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "/p/1", None),
    ("python-requests/2.32.3", "/p/2?", "not a url"),
    (None, "/p/3?utm_medium=Social&UTM_SOURCE=+Facebook+", "https://www.facebook.com/x"),
    ("", "/p/4", "https://clickpipe-shop.example/p/3"),
    ("¯\\_(ツ)_/¯ " + "x" * 1000, "/p/5?a=1?utm_medium=cpc", "https://[::1/"),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "/p/6?utm_medium=carrier-pigeon", "https://blog.example.org/post"),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "/p/7", "https://blog.example.org/post"),
    ("curl/8.5.0", "/p/8", "HTTPS://User:pw@Mail.Google.com:443/u/0/"),
    ("curl/8.5.0", "/p/9", "https:/\n/bing.com/x"),
    ("curl/8.5.0", "/p/10", "https://bi\tng.com/x?y#z"),
]  # fmt: skip


def test_enrichment_columns_are_the_same_on_both_engines(spark, local_lakes):
    """Job 1's enrichment columns: equal on both engines, and equal to the rules applied row by row."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent / "serving"))
    from serving_data import enriched

    lines = [event(i, user_agent=ua, page=page, referrer=ref, ts=f"2026-11-01T10:{i:02d}:00Z") for i, (ua, page, ref) in enumerate(ENRICHMENT_CASES)]
    assert_same(run_both(local_lakes, lambda store: put_object(store, lines, at(DAY), name="a"), [(CLICKS, DAY)]))
    store = local_lakes("spark")
    rows = [r for o in store.list("processed/clicks/") for r in _read(store, o.key).to_pylist()]
    assert len(rows) == len(ENRICHMENT_CASES)
    derived = CLICKS.derived_column_names
    want = {(e["page"], e["referrer"], e["user_agent"]): {k: v for k, v in enriched(e).items() if k in derived} for e in rows}
    got = {(r["page"], r["referrer"], r["user_agent"]): {k: r[k] for k in derived} for r in rows}
    assert got == want
    assert {r["channel"] for r in rows} >= {"direct", "email", "paid", "social", "other", "referral"}
    assert {r["device_class"] for r in rows} == {"desktop", "mobile", "tablet", "bot", "unknown"}


# -- through Dagster -------------------------------------------------------------------------------
def test_dagster_runs_job1_on_spark_when_asked(spark, tmp_path, monkeypatch, dirty_sample):
    """CLICKPIPE_GLUE_ENGINE=spark: the local Glue resource starts the script with --engine spark,
    and the materialization and checks that come back through Pipes equal the DuckDB run's."""
    import dagster as dg

    from clickpipe_dagster.definitions import build_definitions
    from clickpipe_dagster.environments import resources_for
    from clickpipe_dagster.resources.lake import LocalLakeResource

    reports = {}
    for engine in ENGINES:
        monkeypatch.setenv("CLICKPIPE_GLUE_ENGINE", engine)
        lake = LocalLakeResource(root=str(tmp_path / engine))
        _load_sample(dirty_sample)(lake.store())
        assets = [a for a in build_definitions("local").assets if isinstance(a, dg.AssetsDefinition) and [k.to_user_string() for k in a.keys] == ["processed/users"]]
        glue = resources_for("local")["glue"]
        assert glue.engine == engine
        with dg.instance_for_test() as instance:
            # 30% dirty: the blocking quarantine_share check fails the run on either engine
            result = dg.materialize(assets, instance=instance, resources={"lake": lake, "glue": glue}, raise_on_error=False)
            assert not result.success
            mats = {
                e.asset_key.to_user_string(): {k: v.value for k, v in e.materialization.metadata.items() if k not in ("written", "lake", "location", "quarantine")}
                for e in result.get_asset_materialization_events()
            }
            checks = sorted((e.asset_key.to_user_string(), e.check_name, e.passed) for e in result.get_asset_check_evaluations())
        reports[engine] = (mats, checks)
    assert reports["spark"] == reports["duckdb"]
    assert [name for _, name, passed in reports["spark"][1] if not passed] == ["quarantine_share"]
    assert len(reports["spark"][1]) == 5


def test_spark_spreads_a_large_day_over_several_files(spark, local_lakes, monkeypatch):
    """At volume the Spark engine writes files of about ROWS_PER_FILE rows (in parallel tasks), not
    one file per directory; the rows are the same as DuckDB's one file per directory."""
    monkeypatch.setattr(spark_engine, "ROWS_PER_FILE", 40)
    header = ",".join(TRANSACTIONS.column_names)
    rows = [f"T{i},U1,{i}.00,USD,completed,card,2026-11-0{1 + i % 2}T10:00:00Z" for i in range(200)]

    def fill(store):
        store.put_bytes((USERS_HEADER + "\nU1,Ann,,US,2025-01-01,free\n").encode(), layout.raw_batch_key("users", DAY, "u.csv"))
        store.put_bytes((header + "\n" + "\n".join(rows) + "\n").encode(), layout.raw_batch_key("transactions", DAY2, "t.csv"))

    both = run_both(local_lakes, fill, [(USERS, DAY), (TRANSACTIONS, DAY2)])
    (dstore, dres), (sstore, sres) = both["duckdb"], both["spark"]
    spark_keys = [k for k in sres[1].files_out if k.startswith("processed/")]
    assert len([k for k in dres[1].files_out if k.startswith("processed/")]) == 2 and len(spark_keys) >= 5
    assert all(pq.ParquetFile(sstore.path(k)).metadata.num_rows <= 40 for k in spark_keys)
    assert sres[1].rows_out == dres[1].rows_out == 200 and all(c["passed"] for c in sres[1].checks)
    read_all = lambda store, res: pa.concat_tables([_read(store, k) for k in res.files_out if k.startswith("processed/")])  # noqa: E731
    assert _rows(read_all(sstore, sres[1])) == _rows(read_all(dstore, dres[1]))


def test_redelivery_in_reverse_order_on_spark_equals_duckdb_in_order(tmp_path, spark):
    """Re-delivered transactions (newest wins) and clicks (first wins): Spark processing the days in
    reverse writes the same processed, quarantine and dedup-state files as DuckDB in order."""
    from test_redelivery import D1, D2, D3, _fill_clicks, _fill_transactions, _users, zone

    zones = {}
    for name, days in (("duckdb", (D1, D2, D3)), ("spark", (D3, D2, D1))):
        store = LocalStore(tmp_path / name)
        _users(store)
        _fill_transactions(store)
        _fill_clicks(store)
        for day in days:
            for ds in (TRANSACTIONS, CLICKS):
                ENGINES[name](store, ds, day)
        zones[name] = zone(store)
    assert zones["spark"] == zones["duckdb"]
    assert any(k.startswith("dedup/transactions/") for k in zones["spark"])

"""Glue Job 2 on Spark and on DuckDB give the same marts.

Three levels: the mart SQL over one processed zone (every mart, a range of days, one day, a day
without data, an S3 lake); Job 2 itself loading two PostgreSQL databases; and the whole way from
raw files (every dirty-row kind of the batch generator, generated clicks with bad lines and
duplicates) through Job 1 and Job 2 on each engine, compared table by table in PostgreSQL.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections import defaultdict
from pathlib import Path

import psycopg
import pytest

from click_fixtures import put_object
from clickpipe_core.contracts import CLICKS, TRANSACTIONS, USERS
from clickpipe_core.generator.batch import generate
from clickpipe_core.generator.clicks import generate_clicks, users_from_csv
from glue_scripts import duckdb_engine
from clickpipe_core import layout
from clickpipe_core.lake_store import LocalStore, S3Store
from clickpipe_core.marts import MARTS, USER_ACTIVITY, USER_VISITS_DAILY, arrow_schema
from clickpipe_core.errors import ProcessedZoneError
from glue_scripts.marts_engine import DuckDBMartEngine, SparkMartEngine
from support import require_spark, run_job2

require_spark()

from glue_scripts import spark_engine  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent / "serving"))
from serving_data import DAYS, make_rows, write_processed  # noqa: E402

SOURCES = ["users", "transactions", "clicks"]


def _rows(table) -> list:
    return sorted(tuple((k, repr(v)) for k, v in r.items()) for r in table.to_pylist())


def build_all(engine, days) -> dict:
    engine.register(SOURCES, days=days)
    wanted = {name: mart for name, mart in MARTS.items() if mart.daily or days is None}
    built = {name: engine.build(mart) for name, mart in wanted.items() if not mart.sessionized}
    # The sessionized marts are built on DuckDB whatever the engine (ARCHITECTURE.md, rule 17): the Spark
    # engine hands them to its DuckDB session engine, so both sides must agree by construction.
    sessions = engine.session_engine()
    sessions.derive_sessions(days)
    built.update({name: sessions.build(mart) for name, mart in wanted.items() if mart.sessionized})
    return built


def assert_same_marts(duck: dict, spark: dict) -> None:
    assert set(spark) == set(duck)
    for name, table in duck.items():
        assert spark[name].schema == table.schema, name
        assert table.schema.types == arrow_schema(MARTS[name]).types, name
        assert _rows(spark[name]) == _rows(table), name


@pytest.fixture(scope="module")
def processed_lake(tmp_path_factory):
    """The serving tests' processed zone: MIXED currencies, a user missing from the snapshot, a
    never-active user, a day without clicks, more than 50 pages, crafted funnel orders, a half-cent."""
    root = tmp_path_factory.mktemp("processed")
    write_processed(root, make_rows())
    return root


@pytest.mark.parametrize(
    "days",
    [None, DAYS, [DAYS[1]], ["2026-12-25"]],
    ids=["all-days-and-users", "three-days", "a-day-without-clicks", "a-day-without-data"],
)
def test_the_mart_sql_gives_the_same_marts_on_both_engines(spark, processed_lake, days):
    with DuckDBMartEngine(LocalStore(processed_lake)) as d, SparkMartEngine(LocalStore(processed_lake), spark=spark) as s:
        duck, spk = build_all(d, days), build_all(s, days)
        assert s.files_read == d.files_read
    assert_same_marts(duck, spk)
    if days is None or days == DAYS:  # not a vacuous comparison
        assert all(t.num_rows for t in duck.values())
    if days == ["2026-12-25"]:
        assert not any(t.num_rows for t in duck.values())


def test_an_s3_lake_gives_the_same_marts(spark, processed_lake, s3_bucket):
    """Without Glue, the Spark engine copies S3 objects down with their keys (a local Spark has no
    S3 connector); the dt=… directories must survive the copy."""
    client, bucket = s3_bucket
    s3 = S3Store(client, bucket, "lake")
    local = LocalStore(processed_lake)
    for obj in local.list(layout.PROCESSED + "/"):
        s3.put_file(local.path(obj.key), obj.key)
    with DuckDBMartEngine(local) as d, SparkMartEngine(s3, spark=spark) as s:
        assert_same_marts(build_all(d, None), build_all(s, None))
        staging = s._staging
    assert staging is not None and not staging.exists()  # the local copies are cleaned up


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_a_damaged_processed_file_is_a_clear_error_on_both_engines(spark, processed_lake, tmp_path, engine, capsys, monkeypatch, pg_url):
    lake = tmp_path / "lake"
    shutil.copytree(processed_lake, lake)
    damaged = sorted((lake / "processed" / "clicks").rglob("*.parquet"))[0]
    damaged.write_bytes(damaged.read_bytes()[:200])  # a cut-off upload
    engines = {"duckdb": lambda: DuckDBMartEngine(LocalStore(lake)), "spark": lambda: SparkMartEngine(LocalStore(lake), spark=spark)}
    with engines[engine]() as e, pytest.raises(ProcessedZoneError, match=r"cannot read processed/clicks/dt=[^ ]*/part-ingest_date=[^ ]*\.parquet \(clicks, day ") as raised:
        build_all(e, None)
    assert "re-materialize processed/clicks" in str(raised.value) and "\n" not in str(raised.value)
    # Job 2 by hand: one line on stderr, exit status 2, nothing loaded.
    capsys.readouterr()
    assert run_job2(monkeypatch, pg_url, lake, "users", engine=engine) == 2
    err = capsys.readouterr().err
    # the users load first loads the user activity of days never loaded, which reads that file
    assert err.startswith("clickpipe: users marts: ") and f"cannot read {damaged.relative_to(lake).as_posix()} (clicks, day " in err
    assert "Traceback" not in err
    with psycopg.connect(pg_url) as con:
        assert con.execute("SELECT count(*) FROM marts.users").fetchone()[0] == 0


# -- Job 2 into PostgreSQL ----------------------------------------------------------------------------


def load_marts(monkeypatch, url: str, lake, engine: str, days: list[str]) -> None:
    """Every daily and session mart for ``days``, then the users dimension and retention, with Job 2 on ``engine``."""
    assert run_job2(monkeypatch, url, lake, "daily", days, engine=engine) == 0
    assert run_job2(monkeypatch, url, lake, "sessions", days, engine=engine) == 0
    assert run_job2(monkeypatch, url, lake, "users", engine=engine) == 0
    assert run_job2(monkeypatch, url, lake, "retention", engine=engine) == 0


def pg_tables(url: str) -> dict:
    """Every mart's rows (and the user activity the users dimension is maintained from) in key
    order, and what each load recorded (not when or by which run)."""
    with psycopg.connect(url) as con:
        tables = [*MARTS.values(), *USER_ACTIVITY, USER_VISITS_DAILY]
        out = {m.name: con.execute(f"SELECT * FROM {m.table} ORDER BY {', '.join(m.key)}").fetchall() for m in tables}
        out["partition_loads"] = con.execute('SELECT mart, "partition", row_count FROM marts.partition_loads ORDER BY 1, 2').fetchall()
    return out


def test_job2_on_spark_loads_what_job2_on_duckdb_loads(spark, monkeypatch, pg_database, processed_lake):
    urls = {engine: pg_database(f"_{engine}") for engine in ("duckdb", "spark")}
    for engine, url in urls.items():
        load_marts(monkeypatch, url, processed_lake, engine, DAYS)
    duck, spk = pg_tables(urls["duckdb"]), pg_tables(urls["spark"])
    assert spk == duck
    # each day of each daily and session mart, of the 3 user activity tables and of the visits, then users and retention whole
    daily = [m for m in MARTS.values() if m.daily]
    assert all(duck[name] for name in MARTS) and len(duck["partition_loads"]) == (len(daily) + len(USER_ACTIVITY) + 1) * len(DAYS) + 2


# -- raw files -> Job 1 -> Job 2, each engine end to end ---------------------------------------------------


@pytest.fixture(scope="module")
def raw_inputs(tmp_path_factory):
    """Batch files with every dirty kind of the generator, and two days of generated clicks with late
    events, duplicates and bad lines, as Firehose objects (one per arrival hour)."""
    sample = generate(tmp_path_factory.mktemp("raw"), days=2, users=200, transactions_per_day=800, seed=9, dirty_rate=0.3)
    records, _ = generate_clicks(
        events=4000, start=f"{sample.days[0]}T00:00:00Z", end=f"{sample.days[1]}T23:59:59Z",
        users=users_from_csv(sample.users_file), seed=9, late_share=0.05, duplicate_share=0.02,
    )  # fmt: skip
    objects = defaultdict(list)
    for arrival_ms, data, *_ in records:
        objects[arrival_ms // 3_600_000].append(data.decode())
    bad = ['{"event_id": "broken', "[1, 2]", json.dumps({"event_id": "x", "event_type": "teleport"})]
    first = min(objects)
    objects[first] += bad
    return sample, dict(objects)


def fill_raw(store, sample, objects) -> list[str]:
    from datetime import datetime, timezone

    store.put_file(sample.users_file, layout.raw_batch_key("users", sample.days[0], "users.csv"))
    for day, path in sample.transaction_files.items():
        store.put_file(path, layout.raw_batch_key("transactions", day, "transactions.csv"))
    arrival_days = set()
    for hour, lines in objects.items():
        arrival = datetime.fromtimestamp(hour * 3600, timezone.utc)
        put_object(store, lines, arrival, name=f"clicks-{hour}")
        arrival_days.add(arrival.date().isoformat())
    return sorted(arrival_days)


def test_raw_files_to_postgres_give_the_same_marts_on_both_engines(spark, monkeypatch, pg_database, tmp_path, raw_inputs):
    sample, objects = raw_inputs
    job1 = {"duckdb": duckdb_engine.run_partition, "spark": spark_engine.run_partition}
    tables, reasons = {}, {}
    for engine, run_partition in job1.items():
        store = LocalStore(tmp_path / engine)
        arrival_days = fill_raw(store, sample, objects)
        results = [run_partition(store, USERS, sample.days[0])]
        results += [run_partition(store, TRANSACTIONS, d) for d in sample.days]
        results += [run_partition(store, CLICKS, d) for d in arrival_days]
        reasons[engine] = sorted({r for res in results for r in res.quarantine_reasons})
        dts = sorted({dt for res in results for dt in res.dt_partitions})
        url = pg_database(f"_{engine}")
        load_marts(monkeypatch, url, tmp_path / engine, engine, dts)
        tables[engine] = pg_tables(url)
    assert reasons["spark"] == reasons["duckdb"]
    assert {"malformed_json", "not_an_object", "invalid_event_id"} <= set(reasons["duckdb"])  # bad click lines
    assert tables["spark"] == tables["duckdb"]
    duck = tables["duckdb"]
    assert len(duck["revenue_daily"]) > 10 and len(duck["users"]) > 100 and len(duck["daily_events"]) >= 2 * 7
    assert sum(r[2] for r in duck["daily_events"]) > 3500  # events made it through, bad lines did not


def test_job2_on_spark_through_dagster(spark, monkeypatch, pg_url, tmp_path, processed_lake):
    """CLICKPIPE_GLUE_ENGINE=spark: the serving assets run Job 2 on Spark; metadata says so and the
    reconciliation checks against the processed zone pass."""
    import dagster as dg

    from clickpipe_dagster.assets.rds import rds_daily_marts, rds_users_dimension
    from clickpipe_dagster.environments import resources_for
    from clickpipe_dagster.resources.athena import DuckDBQueryResource
    from clickpipe_dagster.resources.lake import LocalLakeResource
    from clickpipe_dagster.resources.warehouse import LocalWarehouseResource

    monkeypatch.setenv("CLICKPIPE_GLUE_ENGINE", "spark")
    resources = {
        "lake": LocalLakeResource(root=str(processed_lake)),
        "glue": resources_for("local")["glue"],
        "query_engine": DuckDBQueryResource(lake_root=str(processed_lake)),
        "warehouse": LocalWarehouseResource(pg_dir=str(tmp_path / "unused-pg"), pg_url=pg_url),
    }
    with dg.instance_for_test() as instance:
        result = dg.materialize([rds_daily_marts], instance=instance, resources=resources, partition_key=DAYS[0])
        assert result.success
        engines = {e.materialization.metadata["engine"].value for e in result.get_asset_materialization_events()}
        checks = result.get_asset_check_evaluations()
        result = dg.materialize([rds_users_dimension], instance=instance, resources=resources)
        assert result.success
        checks += result.get_asset_check_evaluations()
    assert engines == {"spark"}
    assert len(checks) >= 8 and all(c.passed for c in checks)

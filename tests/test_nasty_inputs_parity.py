"""The nasty-input corpus on both Job 1 engines: Spark gives the same processed rows, quarantine rows
(reasons and details) and counts as DuckDB, and the ledger holds record by record on each."""

from __future__ import annotations

import pytest

import nasty_corpus as corpus
from clickpipe_core import layout
from clickpipe_core.contracts import CLICKS, TRANSACTIONS, USERS
from click_fixtures import at
from support import require_spark

require_spark()

from test_engine_parity import assert_same, run_both  # noqa: E402

DAY, DAY2 = "2026-11-01", "2026-11-02"
USERS_KEY = layout.raw_batch_key("users", DAY, "users.csv")


@pytest.fixture
def local_lakes(tmp_path):
    from clickpipe_core.lake_store import LocalStore

    return lambda name: LocalStore(tmp_path / name)


def test_control_characters_and_amounts_per_currency(spark, local_lakes):
    users, user_fates = corpus.users_with_control_characters(quoted_line_feed=False)
    controls, control_fates = corpus.transactions_with_control_characters()
    amounts, amount_fates, _ = corpus.amounts_by_currency(DAY)
    files = {
        layout.raw_batch_key("transactions", DAY, "amounts.csv"): (amounts, amount_fates),
        layout.raw_batch_key("transactions", DAY, "controls.csv"): (controls, control_fates),
    }

    def fill(store):
        # U1 must exist for the transactions: the corpus of users quarantines its own U-records only.
        store.put_bytes(users.replace(b"\n", b"\nU1,Ann Lee,,US,2025-01-01,free\n", 1), USERS_KEY)
        for key, (data, _) in files.items():
            store.put_bytes(data, key)

    both = run_both(local_lakes, fill, [(USERS, DAY), (TRANSACTIONS, DAY)])
    assert_same(both)
    for store, (_, transactions) in both.values():
        corpus.assert_ledger(
            transactions, corpus.ledger(store, TRANSACTIONS, DAY), {k: fates for k, (_, fates) in files.items()}
        )
        assert ("quarantine", "control_character_full_name") in user_fates
        assert corpus.ledger(store, USERS, DAY)["processed"]["U1"] == 1


def test_mixed_line_ends_and_hidden_file_names(spark, local_lakes):
    """Every mix of line ends in its own file and files with hidden names in one partition: the
    same rows on both engines, every record accounted for on each."""
    files = {}
    for i, (case, ends) in enumerate(corpus.MIXED_LINE_ENDS.items()):
        files[layout.raw_batch_key("users", DAY, f"{case}.csv")] = corpus.users_with_line_ends(ends, first=10 * (i + 1))
    hidden = {layout.raw_batch_key("users", DAY, name): corpus.hidden_users_file(first=100 + i) for i, name in enumerate(["_x.csv", ".x.csv"])}

    def fill(store):
        for key, (data, _) in {**files, **hidden}.items():
            store.put_bytes(data, key)

    both = run_both(local_lakes, fill, [(USERS, DAY)])
    assert_same(both)
    for store, (result,) in both.values():
        found = corpus.ledger(store, USERS, DAY)
        line_spots = {spot for spot in found["quarantine"] if spot[0] in hidden}
        assert line_spots == {(key, line) for key, (_, spots) in hidden.items() for line in spots}
        for spot in line_spots:
            assert found["quarantine"].pop(spot)["reason"] == "hidden_file_name"
        result.rows_in -= 4  # the hidden files' records, checked above
        result.quarantined -= 4
        corpus.assert_ledger(result, found, {k: fates for k, (_, fates) in files.items()})


def test_control_characters_in_clicks(spark, local_lakes):
    data, fates = corpus.clicks_with_control_characters(DAY2)
    key = layout.raw_clicks_key("clickpipe-clicks", at(DAY2), "nasty")
    both = run_both(local_lakes, lambda store: store.put_bytes(data, key), [(CLICKS, DAY2)])
    assert_same(both)
    for store, (result,) in both.values():
        corpus.assert_ledger(result, corpus.ledger(store, CLICKS, DAY2), {key: fates})


def test_extreme_amounts_give_the_same_exact_marts_on_both_engines(spark, tmp_path):
    """Sums beyond DECIMAL(18,2) and their half-up averages, built by Job 2 on Spark and on DuckDB."""
    from decimal import ROUND_HALF_UP, Decimal

    from clickpipe_core.lake_store import LocalStore
    from clickpipe_core.marts import MARTS
    from glue_scripts.duckdb_engine import run_partition
    from glue_scripts.marts_engine import DuckDBMartEngine, SparkMartEngine

    store = LocalStore(tmp_path / "lake")
    store.put_bytes(b"user_id,full_name,country,signup_date\nU1,Ann,US,2025-01-01\n", USERS_KEY)
    run_partition(store, USERS, DAY)
    amounts, _, clean = corpus.amounts_by_currency(DAY)
    store.put_bytes(amounts, layout.raw_batch_key("transactions", DAY, "amounts.csv"))
    run_partition(store, TRANSACTIONS, DAY)
    built = {}
    for name, engine in (("duckdb", DuckDBMartEngine(store)), ("spark", SparkMartEngine(store, spark=spark))):
        with engine:
            engine.register(["transactions", "users"], days=[DAY])
            built[name] = engine.build(MARTS["revenue_daily"]).to_pylist()
    assert sorted(built["spark"], key=str) == sorted(built["duckdb"], key=str)
    for row in built["duckdb"]:
        completed = [r["amount"] for r in clean if r["currency"] == row["currency"] and r["status"] == "completed"]
        assert row["revenue"] == sum(completed)
        assert row["avg_order_value"] == (sum(completed) / len(completed)).quantize(Decimal("0.01"), ROUND_HALF_UP)


def test_a_bad_day_in_a_range_run_on_spark_is_named_and_the_others_load(spark, tmp_path, pg_database, monkeypatch, capsys):
    """Job 2 on Spark: the same one-line message as on DuckDB (the file is found by reading the
    day's files one by one, whichever engine failed) and the other days loaded."""
    import psycopg

    from click_fixtures import event, put_object
    from clickpipe_core.lake_store import LocalStore
    from glue_scripts.duckdb_engine import run_partition
    from support import run_job2

    store = LocalStore(tmp_path / "lake")
    days = [DAY, DAY2, "2026-11-03"]
    for i, day in enumerate(days):
        put_object(store, [event(i * 10 + k, ts=f"{day}T10:00:0{k}Z") for k in range(3)], at(day))
        run_partition(store, CLICKS, day)
    (bad,) = [o.key for o in store.list(f"processed/clicks/dt={DAY2}/")]
    store.path(bad).write_bytes(store.path(bad).read_bytes()[:200])
    messages = {}
    for engine in ("duckdb", "spark"):
        url = pg_database(f"_{engine}")  # a database each: both engines must load the good days
        capsys.readouterr()
        assert run_job2(monkeypatch, url, store.root, "daily", days, engine=engine) == 2
        messages[engine] = capsys.readouterr().err.strip()
        with psycopg.connect(url) as con:
            loaded = {p for (p,) in con.execute("SELECT DISTINCT partition FROM marts.partition_loads")}
        assert loaded == {DAY, "2026-11-03"}
    assert messages["spark"] == messages["duckdb"]
    assert f"{DAY2}: cannot read {bad} (clicks, day {DAY2}, from ingest date {DAY2})" in messages["spark"]

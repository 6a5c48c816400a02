"""The mart SQL on DuckDB and Glue Job 2 into a real PostgreSQL, against numbers derived in plain
Python from the fixture rows."""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal

import psycopg
import pytest

from clickpipe_core import pg_load
from clickpipe_core.lake_store import LocalStore
from clickpipe_core.marts import DAILY_MARTS, MARTS, USER_ACTIVITY, USER_VISITS_DAILY, arrow_schema
from glue_scripts.marts_engine import DuckDBMartEngine
from support import run_job2
from serving_data import (
    CLICK_DAYS,
    DAYS,
    expected_daily_events,
    expected_funnel,
    expected_revenue,
    expected_top_pages,
    expected_users,
)


def _engine_rows(lake, mart_name, days=None):
    mart = MARTS[mart_name]
    with DuckDBMartEngine(LocalStore(lake)) as engine:
        engine.register(list(mart.sources), days=days)
        return engine.build(mart).to_pylist()


def _pg_rows(url, table, order):
    with psycopg.connect(url) as con:
        cur = con.execute(f"SELECT * FROM {table} ORDER BY {order}")
        cols = [d.name for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]


# -- assertions shared by the DuckDB and the PostgreSQL side -----------------------------------------


def assert_daily_events(rows, expected):
    got = {(r["dt"], r["event_type"]): (r["events"], r["users"], r["sessions"]) for r in rows}
    assert got == expected


def assert_funnel(rows, expected):
    assert {r["dt"] for r in rows} == set(expected)
    for r in rows:
        s, v, k, p, r1, r2, r3 = expected[r["dt"]]
        assert (r["sessions"], r["viewed_sessions"], r["cart_sessions"], r["purchase_sessions"]) == (s, v, k, p)
        for got, want in ((r["view_to_cart_rate"], r1), (r["cart_to_purchase_rate"], r2), (r["view_to_purchase_rate"], r3)):
            assert (got is None and want is None) or math.isclose(got, want, rel_tol=1e-12)


def assert_revenue(rows, expected):
    got = {(r["dt"], r["country"], r["currency"]): r for r in rows}
    assert set(got) == set(expected)
    for key, (n, orders, revenue, aov, refunded) in expected.items():
        r = got[key]
        assert (r["transactions"], r["orders"], r["revenue"], r["refunded_amount"], r["avg_order_value"]) == (
            n, orders, revenue, refunded, aov
        ), key  # fmt: skip


def assert_top_pages(rows, expected):
    got = {}
    for r in rows:
        got.setdefault(r["dt"], []).append((r["page_rank"], r["page"], r["views"], r["users"], r["sessions"]))
    assert {d: sorted(v) for d, v in got.items()} == expected


def assert_users(rows, expected):
    got = {
        r["user_id"]: (r["country"], r["plan"], r["signup_date"], r["first_seen"], r["last_seen"], r["lifetime_events"],
                       r["lifetime_sessions"], r["lifetime_orders"], r["lifetime_revenue"], r["revenue_currency"])
        for r in rows
    }  # fmt: skip
    assert got == expected


# -- the SQL files on DuckDB ---------------------------------------------------------------------------


def test_fixture_covers_the_edge_cases(fixture_rows):
    """The fixture must hold what the other tests rely on, or they would prove less than they say."""
    users = expected_users(fixture_rows)
    assert users["U005"][-1] == "MIXED" and users["U005"][-2] is None
    assert users["U030"][3] is None and users["U030"][7] == 0  # never active
    assert any(k[1] == "ZZ" for k in expected_revenue(fixture_rows))  # a user missing from the snapshot
    assert any(len(v) == 50 for v in expected_top_pages(fixture_rows).values())  # the top-50 cut applies
    assert date(2026, 11, 2) not in expected_funnel(fixture_rows)  # a day without clicks
    # an average order value of exactly half a cent more than a cent: rounding must be exact, half up
    assert Decimal("0.58") in {v[3] for v in expected_revenue(fixture_rows).values()}


def test_mart_sql_on_duckdb_gives_the_fixture_numbers(lake, fixture_rows):
    assert_daily_events(_engine_rows(lake, "daily_events"), expected_daily_events(fixture_rows))
    assert_funnel(_engine_rows(lake, "funnel_daily"), expected_funnel(fixture_rows))
    assert_revenue(_engine_rows(lake, "revenue_daily"), expected_revenue(fixture_rows))
    assert_top_pages(_engine_rows(lake, "top_pages_daily"), expected_top_pages(fixture_rows))
    assert_users(_engine_rows(lake, "users"), expected_users(fixture_rows))


def test_mart_sql_over_one_day_reads_only_that_day(lake, fixture_rows):
    rows = _engine_rows(lake, "revenue_daily", days=["2026-11-02"])
    expected = {k: v for k, v in expected_revenue(fixture_rows).items() if k[0] == date(2026, 11, 2)}
    assert rows and {r["dt"] for r in rows} == {date(2026, 11, 2)}
    assert_revenue(rows, expected)


def test_mart_sql_result_columns_match_the_mart_definitions(lake):
    for mart in MARTS.values():
        with DuckDBMartEngine(LocalStore(lake)) as engine:
            if mart.sessionized:
                engine.derive_sessions(CLICK_DAYS)
            else:
                engine.register(list(mart.sources))
            table = engine.build(mart)
        assert table.column_names == mart.column_names and table.num_rows > 0, mart.name
        pg_load.conform(mart, table)  # casts to the PostgreSQL column types without loss


# -- Glue Job 2 into PostgreSQL ------------------------------------------------------------------------


def test_job2_loads_marts_that_match_python(monkeypatch, pg_url, lake, fixture_rows):
    assert run_job2(monkeypatch, pg_url, lake, "daily", DAYS) == 0
    assert run_job2(monkeypatch, pg_url, lake, "users") == 0
    assert_daily_events(_pg_rows(pg_url, "marts.daily_events", "dt, event_type"), expected_daily_events(fixture_rows))
    assert_funnel(_pg_rows(pg_url, "marts.funnel_daily", "dt"), expected_funnel(fixture_rows))
    revenue = _pg_rows(pg_url, "marts.revenue_daily", "dt, country, currency")
    assert_revenue(revenue, expected_revenue(fixture_rows))
    # Revenue in PostgreSQL equals the completed amounts in the Parquet, to the cent.
    completed = sum(r["amount"] for r in fixture_rows["transactions"] if r["status"] == "completed")
    assert sum(r["revenue"] for r in revenue) == completed
    assert_top_pages(_pg_rows(pg_url, "marts.top_pages_daily", "dt, page_rank"), expected_top_pages(fixture_rows))
    assert_users(_pg_rows(pg_url, "marts.users", "user_id"), expected_users(fixture_rows))
    loads = {(r["mart"], r["partition"]): r["row_count"] for r in _pg_rows(pg_url, "marts.partition_loads", "mart, partition")}
    assert loads[("daily_events", "2026-11-02")] == 0  # an empty day is loaded, with 0 rows
    assert loads[("revenue_daily", "2026-11-02")] > 0
    assert loads[("users", "*")] == len(fixture_rows["users"])


def test_reloading_gives_the_same_rows(monkeypatch, pg_url, lake):
    def snapshot():
        return {m.name: _pg_rows(pg_url, m.table, ", ".join(m.key)) for m in MARTS.values()}

    run_job2(monkeypatch, pg_url, lake, "daily", DAYS)
    run_job2(monkeypatch, pg_url, lake, "users")
    first = snapshot()
    run_job2(monkeypatch, pg_url, lake, "daily", DAYS)
    run_job2(monkeypatch, pg_url, lake, "users")
    assert snapshot() == first
    assert sum(len(v) for v in first.values()) > 100


def test_the_users_dimension_is_maintained_incrementally_and_equals_its_full_definition(monkeypatch, pg_url, lake):
    """The users load before most daily loads (it loads the activity of days never loaded), a day
    whose processed data changes reloaded later: after each step marts.users equals users.sql over
    every processed day, and only the users of the reloaded day were recomputed."""

    def full_definition():
        return sorted(_engine_rows(lake, "users"), key=lambda r: r["user_id"])

    assert run_job2(monkeypatch, pg_url, lake, "daily", ["2026-11-01"]) == 0
    assert run_job2(monkeypatch, pg_url, lake, "users") == 0
    assert _pg_rows(pg_url, "marts.users", "user_id") == full_definition()
    # Day 3 is processed again and loses its transactions; its daily load updates its users only.
    with psycopg.connect(pg_url) as con:
        before = {r[0]: r[1:] for r in con.execute("SELECT user_id, lifetime_orders, last_seen FROM marts.users")}
        active = {r[0] for r in con.execute("SELECT user_id FROM marts.user_payments_daily WHERE dt = '2026-11-03'")}
    for f in (lake / "processed" / "transactions" / "dt=2026-11-03").glob("*.parquet"):
        f.unlink()
    assert run_job2(monkeypatch, pg_url, lake, "daily", ["2026-11-03"]) == 0
    after = _pg_rows(pg_url, "marts.users", "user_id")
    assert after == full_definition()
    changed = {r["user_id"] for r in after if (r["lifetime_orders"], r["last_seen"]) != before[r["user_id"]]}
    assert changed and changed <= active
    assert run_job2(monkeypatch, pg_url, lake, "users") == 0
    assert _pg_rows(pg_url, "marts.users", "user_id") == after


def test_a_failure_mid_load_leaves_the_previous_partition(monkeypatch, pg_url, lake):
    run_job2(monkeypatch, pg_url, lake, "daily", ["2026-11-01"])
    before = {m.name: _pg_rows(pg_url, m.table, ", ".join(m.key)) for m in DAILY_MARTS}
    assert all(before.values())
    # New rows for the day: daily_events is replaced first (fine), then revenue_daily's COPY hits a
    # NOT NULL violation halfway through. The whole day must roll back, daily_events included.
    import pyarrow as pa

    events = pa.table({"dt": [date(2026, 11, 1)], "event_type": ["page_view"], "events": [1], "users": [1], "sessions": [1]})
    n = 1000
    bad_revenue = pa.table(
        {
            "dt": [date(2026, 11, 1)] * n,
            "country": ["US"] * (n - 1) + [None],
            "currency": [f"C{i}" for i in range(n)],
            "transactions": [1] * n,
            "orders": [1] * n,
            "revenue": pa.array([Decimal("1.00")] * n, pa.decimal128(18, 2)),
            "avg_order_value": pa.array([Decimal("1.00")] * n, pa.decimal128(18, 2)),
            "refunded_amount": pa.array([Decimal("0.00")] * n, pa.decimal128(18, 2)),
        }
    )
    tables = {"daily_events": (MARTS["daily_events"], events), "revenue_daily": (MARTS["revenue_daily"], bad_revenue)}
    with pytest.raises(pg_load.WarehouseError, match="rolled back"):
        pg_load.replace_partitions(pg_url, tables, ["2026-11-01"])
    after = {m.name: _pg_rows(pg_url, m.table, ", ".join(m.key)) for m in DAILY_MARTS}
    assert after == before


def test_a_day_that_lost_its_data_becomes_empty_and_a_day_without_data_is_not_a_failure(monkeypatch, pg_url, lake):
    run_job2(monkeypatch, pg_url, lake, "daily", ["2026-11-03"])
    assert _pg_rows(pg_url, "marts.daily_events", "dt") != []
    for f in (lake / "processed" / "clicks").glob("dt=2026-11-03/*/*.parquet"):
        f.unlink()
    assert run_job2(monkeypatch, pg_url, lake, "daily", ["2026-11-03", "2026-12-25"]) == 0
    assert _pg_rows(pg_url, "marts.daily_events", "dt") == []
    assert _pg_rows(pg_url, "marts.revenue_daily", "dt") != []  # transactions of that day are still there
    loads = {(r["mart"], r["partition"]): r["row_count"] for r in _pg_rows(pg_url, "marts.partition_loads", "mart")}
    assert loads[("daily_events", "2026-12-25")] == 0 and loads[("daily_events", "2026-11-03")] == 0


# -- migrations ------------------------------------------------------------------------------------------


def test_migrations_apply_once_and_create_the_mart_tables(pg_url):
    assert pg_load.apply_migrations(pg_url) == [
        "V001__marts", "V002__wide_money_totals", "V003__user_activity", "V004__session_marts", "V005__incremental_retention"
    ]  # fmt: skip
    assert pg_load.apply_migrations(pg_url) == []
    with psycopg.connect(pg_url) as con:
        for mart in [*MARTS.values(), *USER_ACTIVITY, USER_VISITS_DAILY]:
            cols = con.execute(
                """SELECT column_name, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull
                   FROM information_schema.columns c
                   JOIN pg_attribute a ON a.attrelid = (quote_ident(c.table_schema) || '.' || quote_ident(c.table_name))::regclass
                                      AND a.attname = c.column_name
                   WHERE c.table_schema = 'marts' AND c.table_name = %s ORDER BY c.ordinal_position""",
                (mart.name,),
            ).fetchall()
            assert [(c.name, c.pg_type, c.nullable) for c in mart.columns] == [
                (n, {"timestamp with time zone": "timestamptz"}.get(t, t), nullable) for n, t, nullable in cols
            ], mart.name
            pk = con.execute(
                """SELECT array_agg(a.attname ORDER BY k.ord) FROM pg_index i
                   CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                   JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                   WHERE i.indrelid = %s::regclass AND i.indisprimary""",
                (mart.table,),
            ).fetchone()[0]
            assert tuple(pk) == mart.key, mart.name
    assert [f.name for f in arrow_schema(MARTS["users"])] == MARTS["users"].column_names


def test_an_edited_migration_is_refused(pg_url, tmp_path):
    src = pg_load.migrations()[0].path
    d = tmp_path / "migrations"
    d.mkdir()
    (d / src.name).write_text(src.read_text())
    assert pg_load.apply_migrations(pg_url, d) == ["V001__marts"]
    (d / src.name).write_text(src.read_text() + "\n-- edited\n")
    with pytest.raises(pg_load.WarehouseError, match="edited after it was applied"):
        pg_load.apply_migrations(pg_url, d)
    (d / "V002__more.sql").write_text("CREATE TABLE marts.extra (id bigint PRIMARY KEY);")
    (d / src.name).write_text(src.read_text())
    assert pg_load.apply_migrations(pg_url, d) == ["V002__more"]


# -- bad input --------------------------------------------------------------------------------------------


def test_postgres_down_gives_a_clear_error_naming_the_setting(monkeypatch, lake, capsys):
    from clickpipe_dagster.resources.warehouse import LocalWarehouseResource

    bad = "postgresql://clickpipe:s3cret-pw@127.0.0.1:1/marts"
    wh = LocalWarehouseResource(pg_dir="/nonexistent/pg", pg_url=bad)
    with pytest.raises(pg_load.WarehouseError) as e:
        wh.check_connection()
    assert "CLICKPIPE_PG_URL" in str(e.value) and "s3cret-pw" not in str(e.value)
    monkeypatch.setenv("CLICKPIPE_JOB_PG_SOURCE", "set by CLICKPIPE_PG_URL")
    assert run_job2(monkeypatch, bad, lake, "daily", ["2026-11-01"]) == 2
    err = capsys.readouterr()
    assert "CLICKPIPE_PG_URL" in err.err and "s3cret-pw" not in err.err + err.out
    with pytest.raises(pg_load.WarehouseError, match="CLICKPIPE_PG_URL"):
        LocalWarehouseResource(pg_dir="/x", pg_url="not a url at all").check_connection()

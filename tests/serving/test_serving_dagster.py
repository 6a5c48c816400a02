"""The serving assets in Dagster: definitions, a real materialization into PostgreSQL with its
checks, the local Athena stand-in (DuckDB views), the CLI and the embedded server's lifecycle."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from datetime import date
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import psycopg
import pyarrow.parquet as pq
import pytest

from clickpipe_dagster import reconcile
from clickpipe_core import catalog, layout
from clickpipe_dagster.assets.athena import athena_tables
from clickpipe_dagster.assets.rds import rds_daily_marts, rds_retention, rds_session_marts, rds_users_dimension
from clickpipe_dagster.resources.athena import DuckDBQueryResource, LocalCatalogResource
from clickpipe_dagster.resources.glue import LocalGlueJobsResource
from clickpipe_dagster.resources.lake import LocalLakeResource
from clickpipe_dagster.resources.warehouse import LocalWarehouseResource
from clickpipe_core.marts import MARTS, SESSION_MARTS
from serving_data import CLICK_DAYS, expected_revenue

warnings.filterwarnings("ignore", category=dg.BetaWarning)
REPO = Path(__file__).resolve().parents[2]


def _resources(lake, pg_url, tmp_path):
    return {
        "lake": LocalLakeResource(root=str(lake)),
        "glue": LocalGlueJobsResource(),
        "query_engine": DuckDBQueryResource(lake_root=str(lake)),
        "warehouse": LocalWarehouseResource(pg_dir=str(tmp_path / "unused-pg"), pg_url=pg_url),
        "catalog_tables": LocalCatalogResource(duckdb_path=str(tmp_path / "athena.duckdb")),
    }


def test_definitions_load_for_both_environments(aws_settings):
    from clickpipe_dagster.definitions import build_definitions

    local = build_definitions("local")
    dg.Definitions.validate_loadable(local)
    aws = build_definitions("aws")
    dg.Definitions.validate_loadable(aws)
    assert type(aws.resources["warehouse"]).__name__ == "RdsWarehouseResource"
    assert type(aws.resources["query_engine"]).__name__ == "AthenaQueryResource"
    graph = local.resolve_asset_graph()
    for mart in MARTS.values():
        node = graph.get(dg.AssetKey.from_escaped_user_string(mart.asset_key))
        assert node.group_name == "serving" and "postgres" in node.kinds and node.owners
        assert node.metadata["dagster/column_schema"].columns[0].name == mart.column_names[0]
        assert (node.partitions_def is not None) == mart.daily
        checks = {k.name for k in graph.get_check_keys_for_assets({node.key})}
        assert "key_unique" in checks and len(checks) >= 2
    assert graph.get(dg.AssetKey(["athena", "clicks"])).kinds >= {"athena", "duckdb"}


def test_materializing_the_serving_assets_loads_postgres_and_checks_pass(lake, pg_url, tmp_path, fixture_rows):
    resources = _resources(lake, pg_url, tmp_path)
    with dg.instance_for_test() as instance:
        # A single-run backfill over three days: one Job 2 run, one transaction per day.
        result = dg.materialize(
            [rds_daily_marts], instance=instance, resources=resources,
            tags={"dagster/asset_partition_range_start": "2026-11-01", "dagster/asset_partition_range_end": "2026-11-03"},
        )  # fmt: skip
        assert result.success
        checks = result.get_asset_check_evaluations()
        assert len(checks) == 8 and all(c.passed for c in checks)
        # each day records its own row count, not the range's
        rows = {(e.asset_key.to_user_string(), e.partition): e.metadata["dagster/row_count"].value for e in
                (ev.step_materialization_data.materialization for ev in result.get_asset_materialization_events())}  # fmt: skip
        result = dg.materialize([rds_users_dimension, athena_tables], instance=instance, resources=resources)
        assert result.success and all(c.passed for c in result.get_asset_check_evaluations())
    with psycopg.connect(pg_url) as con:
        by_day = dict(con.execute("SELECT dt::text, COUNT(*) FROM marts.revenue_daily GROUP BY 1").fetchall())
        assert {d: n for (k, d), n in rows.items() if k == "marts/revenue_daily"} == {
            d: by_day.get(d, 0) for d in ("2026-11-01", "2026-11-02", "2026-11-03")
        }
        assert sum(by_day.values()) == len(expected_revenue(fixture_rows)) and len(set(by_day.values())) > 1
        days = [r[0] for r in con.execute("SELECT DISTINCT dt FROM marts.daily_events ORDER BY 1")]
    assert days == [date.fromisoformat(d) for d in CLICK_DAYS]


def test_the_session_marts_materialize_and_reconcile_with_the_processed_clicks(lake, pg_url, tmp_path):
    resources = _resources(lake, pg_url, tmp_path)
    range_tags = {"dagster/asset_partition_range_start": "2026-11-01", "dagster/asset_partition_range_end": "2026-11-03"}
    with dg.instance_for_test() as instance:
        result = dg.materialize([rds_session_marts], instance=instance, resources=resources, tags=range_tags)
        assert result.success
        checks = {(c.asset_key.to_user_string(), c.check_name): c for c in result.get_asset_check_evaluations()}
        published = {
            e.partition: e.materialization.metadata["dagster/row_count"].value
            for e in result.get_asset_materialization_events()
            if e.asset_key == dg.AssetKey(["processed", "sessions"])
        }
        # weekly retention (kept by the session loads), after the sessions it reconciles with (bot-only users)
        result = dg.materialize([rds_retention], instance=instance, resources=resources)
        assert result.success
        retention = result.get_asset_check_evaluations()
    reconciled = {k for k in checks if k[1] != "key_unique"}
    assert {m for m, _ in reconciled} == {m.asset_key for m in SESSION_MARTS}
    assert all(c.passed for c in checks.values()) and len(checks) == len(SESSION_MARTS) + len(reconciled)
    assert {c.check_name for c in retention} == {"key_unique", "cohorts_cover_processed_users"}
    assert all(c.passed for c in retention)
    # processed/sessions came from the same derivation: per day the rows of marts.sessions, in the lake
    with psycopg.connect(pg_url) as con:
        in_pg = dict(con.execute("SELECT dt::text, COUNT(*) FROM marts.sessions GROUP BY 1").fetchall())
    assert published == {d: in_pg.get(d, 0) for d in ("2026-11-01", "2026-11-02", "2026-11-03")} and sum(published.values()) > 0
    for day, n in published.items():
        assert pq.read_metadata(lake / layout.sessions_key(day)).num_rows == n
    compared = checks[("marts/sessions", "sessions_match_processed_clicks")].metadata["compared"].value
    assert compared["keys"] == 2  # both click days; the empty day has no sessions on either side
    # A session lost from PostgreSQL is noticed by the reconciliation against the Parquet.
    rec = next(r for r in reconcile.RECONCILIATIONS if r.check == "acquisition_covers_processed")
    with psycopg.connect(pg_url) as con:
        con.execute("UPDATE marts.acquisition_daily SET sessions = sessions - 1 WHERE ctid = (SELECT ctid FROM marts.acquisition_daily LIMIT 1)")
    assert not reconcile.reconcile(rec, resources["query_engine"], resources["warehouse"], ("2026-11-01", "2026-11-03")).passed


def test_reconciliation_fails_when_postgres_disagrees_with_the_parquet(monkeypatch, lake, pg_url, tmp_path):
    from support import run_job2

    run_job2(monkeypatch, pg_url, lake, "daily", ["2026-11-01"])
    resources = _resources(lake, pg_url, tmp_path)
    rec = next(r for r in reconcile.RECONCILIATIONS if r.check == "revenue_matches_processed")
    days = ("2026-11-01", "2026-11-01")
    assert reconcile.reconcile(rec, resources["query_engine"], resources["warehouse"], days).passed
    with psycopg.connect(pg_url) as con:
        con.execute(
            "UPDATE marts.revenue_daily SET revenue = revenue + 0.01 WHERE ctid = (SELECT ctid FROM marts.revenue_daily LIMIT 1)"
        )
    result = reconcile.reconcile(rec, resources["query_engine"], resources["warehouse"], days)
    assert not result.passed and result.metadata["mismatches"].value == 1


def test_the_same_sql_files_on_duckdb_give_the_fixture_numbers(lake, fixture_rows):
    """The query engine (DuckDB here, Athena on AWS) runs the reconciliation SQL over the views."""
    engine = DuckDBQueryResource(lake_root=str(lake))
    rec = next(r for r in reconcile.RECONCILIATIONS if r.check == "revenue_matches_processed")
    got = {(r[0], r[1]): (r[2], r[3], r[4]) for r in engine.query(rec.processed_sql(), ["2026-11-01", "2026-11-03"]).rows}
    want: dict = {}
    for (dt, _country, currency), (n, orders, revenue, _aov, _ref) in expected_revenue(fixture_rows).items():
        t, o, r = want.get((dt, currency), (0, 0, Decimal("0")))
        want[(dt, currency)] = (t + n, o + orders, r + revenue)
    assert got == want


def test_local_athena_tables_are_duckdb_views_even_without_data(tmp_path, lake):
    empty_lake = tmp_path / "empty-lake"
    empty_lake.mkdir()
    db = tmp_path / "athena.duckdb"
    res = LocalCatalogResource(duckdb_path=str(db))
    done = res.ensure_tables(empty_lake.as_uri(), catalog.processed_tables())
    assert {t: v["rows"] for t, v in done.items()} == {"users": 0, "transactions": 0, "clicks": 0, "sessions": 0}
    with duckdb.connect(str(db), read_only=True) as con:
        cols = [r[0] for r in con.execute("DESCRIBE clicks").fetchall()]
        assert cols == [n for n, _ in catalog.duckdb_columns(catalog.DATASETS["clicks"])]
        assert con.execute("SELECT COUNT(*) FROM clicks WHERE dt = '2026-11-01'").fetchone()[0] == 0
        assert con.execute("SELECT COUNT(*) FROM sessions WHERE dt = '2026-11-01' AND NOT is_bot").fetchone()[0] == 0
    done = res.ensure_tables(str(lake), catalog.processed_tables())  # data arrived: views re-created
    assert done["clicks"]["rows"] > 0 and done["clicks"]["files"] > 0
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT COUNT(DISTINCT event_type) FROM clicks").fetchone()[0] == 7
        assert con.execute("SELECT typeof(amount) FROM transactions LIMIT 1").fetchone()[0] == "DECIMAL(18,2)"


def test_clickpipe_query_prints_a_table(lake, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "lake").symlink_to(lake)
    env = {**os.environ, "CLICKPIPE_HOME": str(home), "CLICKPIPE_ENV": "local"}
    exe = str(Path(sys.executable).with_name("clickpipe"))
    out = subprocess.run([exe, "query", "SELECT event_type, COUNT(*) AS n FROM clicks WHERE dt = ? GROUP BY 1 ORDER BY 1",
                          "--param", "2026-11-01"], env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["event_type", "n"] and "add_to_cart" in out.stdout and "(7 rows; duckdb)" in out.stdout
    bad = subprocess.run([exe, "query", "--on", "rds", "SELECT 1"], capture_output=True, text=True, timeout=120,
                         env={**env, "CLICKPIPE_PG_URL": "postgresql://u:pw@127.0.0.1:1/x"})  # fmt: skip
    assert bad.returncode == 1 and "CLICKPIPE_PG_URL" in bad.stderr and "pw@" not in bad.stderr


def test_embedded_postgres_starts_on_demand_and_stops_cleanly(tmp_path):
    import psutil

    wh = LocalWarehouseResource(pg_dir=str(tmp_path / "pg"))
    assert not (tmp_path / "pg").exists()  # nothing happens until it is used
    wh.check_connection()
    pid = wh.server().get_pid()
    assert psutil.pid_exists(pid)
    with wh.connect() as con:
        assert con.execute("SHOW server_version").fetchone()[0].startswith("18.")
    wh.stop()
    psutil.Process(pid).wait(10) if psutil.pid_exists(pid) else None
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not (tmp_path / "pg" / "postmaster.pid").exists()


def test_purchase_paths_reconcile_on_days_with_sessions_but_no_purchase(monkeypatch, tmp_path, fixture_rows, pg_url):
    """A day with sessions and no purchase has no purchase path: PostgreSQL's side counts 0 conversions
    for it (from marts.sessions), as the processed clicks do, rather than leaving the day out."""
    from serving_data import write_processed
    from support import run_job2

    rows = {**fixture_rows, "clicks": [r for r in fixture_rows["clicks"] if r["event_type"] != "purchase"]}
    lake = tmp_path / "no-purchase-lake"
    write_processed(lake, rows)
    run_job2(monkeypatch, pg_url, lake, "sessions", ["2026-11-01", "2026-11-03"])
    resources = _resources(lake, pg_url, tmp_path)
    rec = next(r for r in reconcile.RECONCILIATIONS if r.check == "purchase_paths_match_processed")
    days = ("2026-11-01", "2026-11-03")
    result = reconcile.reconcile(rec, resources["query_engine"], resources["warehouse"], days)
    assert result.passed and result.metadata["compared"].value["keys"] == 2
    with psycopg.connect(pg_url) as con:
        assert con.execute("SELECT COUNT(*) FROM marts.purchase_paths_daily").fetchone()[0] == 0
        con.execute("INSERT INTO marts.purchase_paths_daily VALUES ('2026-11-01', 1, '/p/1', 1, 1)")
    assert not reconcile.reconcile(rec, resources["query_engine"], resources["warehouse"], days).passed

"""The local dashboard without a browser: datasets checked against the live tables, the page as a
file (self-contained, embeds exactly what PostgreSQL holds, written atomically, safe against markup
in the data), a clear error before any mart is loaded, and `clickpipe dashboard` serving it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import date
from decimal import Decimal
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from clickpipe_dagster.assets.dashboards import dashboard
from clickpipe_dagster.dashboard import page
from clickpipe_dagster.dashboard.datasets import DATASETS
from clickpipe_dagster.resources.dashboard import DashboardError, LocalDashboardResource
from clickpipe_dagster.resources.warehouse import LocalWarehouseResource
from clickpipe_core.pg_load import apply_migrations
from support import load_fixture_marts

CLICKPIPE = str(Path(sys.executable).with_name("clickpipe"))


def _warehouse(pg_url, tmp_path):
    return LocalWarehouseResource(pg_dir=str(tmp_path / "unused-pg"), pg_url=pg_url)


def _embedded(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="clickpipe-data">(.*?)</script>', html, re.S)
    return json.loads(m.group(1))


def test_local_datasets_check_the_live_tables_against_the_dataset_columns(pg_url, tmp_path):
    apply_migrations(pg_url)
    res, wh = LocalDashboardResource(out_dir=str(tmp_path / "d")), _warehouse(pg_url, tmp_path)
    out = res.publish_data_sets(list(DATASETS), wh)
    assert {n: (p.action, p.metadata["dagster/row_count"], p.refresh.status) for n, p in out.items()} == {
        ds.name: ("checked", 0, "NOT_NEEDED") for ds in DATASETS
    }
    assert res.publish_data_source(wh).metadata["postgres"].startswith("postgresql://")
    with psycopg.connect(pg_url) as con:
        con.execute("ALTER TABLE marts.revenue_daily ALTER COLUMN revenue TYPE numeric(20,4)")
    with pytest.raises(DashboardError, match=r"dataset revenue_daily: marts.revenue_daily has columns .*numeric\(20,4\)"):
        res.publish_data_sets(list(DATASETS), wh)
    with psycopg.connect(pg_url) as con:
        con.execute("DROP TABLE marts.revenue_daily")
    with pytest.raises(DashboardError, match="does not exist; materialize marts/revenue_daily first"):
        res.publish_data_sets(list(DATASETS), wh)


def test_the_page_is_self_contained_and_embeds_what_postgres_holds(pg_url, tmp_path, monkeypatch):
    load_fixture_marts(monkeypatch, pg_url, tmp_path / "lake")
    out = tmp_path / "dashboard"
    res = LocalDashboardResource(out_dir=str(out), default_currency="EUR")
    published = res.publish_dashboard(_warehouse(pg_url, tmp_path))
    path = out / "index.html"
    assert published.metadata["path"].value == str(path) and published.metadata["url"].value == path.as_uri()
    assert published.metadata["days"] == 3 and published.metadata["first_day"] == "2026-11-01"
    html = path.read_text()
    # Nothing is fetched: no src/href to anything, a CSP that forbids connections, Chart.js inline.
    assert not re.search(r"""\s(src|href)\s*=""", html)
    assert "default-src 'none'" in html and "Chart.js v4.6.1" in html and "sourceMappingURL" not in html
    assert html.count("<script") == 3
    data = _embedded(html)
    assert data["days"] == ["2026-11-01", "2026-11-02", "2026-11-03"]
    assert data["loaded"]["daily_events"] == data["days"]  # 11-02 was loaded, with no clicks: 0, not a gap
    assert data["meta"]["default_currency"] == "EUR"
    with psycopg.connect(pg_url) as con:
        for name, sql in page.QUERIES.items():
            want = [[v.isoformat() if isinstance(v, date) else str(v) if isinstance(v, Decimal) else v for v in row]
                    for row in con.execute(sql).fetchall()]  # fmt: skip
            assert data["marts"][name]["rows"] == want, name
            assert published.metadata["rows_embedded"][name] == len(want)
    assert {r[2] for r in data["marts"]["revenue_daily"]["rows"]} >= {"USD", "EUR", "GBP"}
    # Rendering again replaces the file atomically and leaves no temporary file behind.
    before = path.stat().st_ino
    res.publish_dashboard(_warehouse(pg_url, tmp_path))
    assert path.stat().st_ino != before and sorted(p.name for p in out.iterdir()) == ["index.html"]


def test_markup_in_the_data_cannot_break_out_of_the_page(pg_url, tmp_path):
    apply_migrations(pg_url)
    evil = "/p/</script><script>document.title='owned'</script>"
    with psycopg.connect(pg_url) as con:
        con.execute("INSERT INTO marts.top_pages_daily VALUES ('2026-11-01', 1, %s, 3, 2, 2)", [evil])
    path, _ = page.render(_warehouse(pg_url, tmp_path), tmp_path / "d")
    html = path.read_text()
    assert "document.title='owned'" in html and "</script><script>document" not in html
    assert _embedded(html)["marts"]["top_pages_daily"]["rows"][0][2] == evil


def test_without_marts_the_dashboard_asset_fails_with_what_to_do(pg_url, tmp_path):
    resources = {"dashboards": LocalDashboardResource(out_dir=str(tmp_path / "d")), "warehouse": _warehouse(pg_url, tmp_path)}
    with dg.instance_for_test() as instance:
        result = dg.materialize([dashboard], instance=instance, resources=resources, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "materialize the rds_* assets first" in failure.event_specific_data.error.message
    assert not (tmp_path / "d" / "index.html").exists()


def _serve(args, env):
    proc = subprocess.Popen([CLICKPIPE, "dashboard", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    for _ in range(2):
        lines.append(proc.stdout.readline())
    url = re.search(r"http://127\.0\.0\.1:\d+/", lines[-1])
    return proc, lines, url.group(0) if url else None


def test_clickpipe_dashboard_renders_and_serves_the_page_on_localhost(pg_url, tmp_path, monkeypatch):
    home = tmp_path / "home"
    env = {**os.environ, "CLICKPIPE_HOME": str(home), "CLICKPIPE_ENV": "local", "CLICKPIPE_PG_URL": pg_url}
    missing = subprocess.run([CLICKPIPE, "dashboard", "--port", "0"], env=env, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "clickpipe demo" in missing.stderr

    load_fixture_marts(monkeypatch, pg_url, tmp_path / "lake")
    proc, lines, url = _serve(["--port", "0", "--render"], env)
    try:
        assert url, lines + [proc.stderr.read() if proc.poll() is not None else ""]
        assert lines[0].strip() == f"dashboard: {home / 'dashboard' / 'index.html'}"
        with urllib.request.urlopen(url, timeout=10) as r:
            assert r.status == 200 and r.headers["Content-Type"].startswith("text/html")
            body = r.read().decode()
        assert body == (home / "dashboard" / "index.html").read_text()
        assert _embedded(body)["days"] == ["2026-11-01", "2026-11-02", "2026-11-03"]
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(url + "nothing-here", timeout=10)
        assert e.value.code == 404
    finally:
        proc.terminate()
        proc.wait(timeout=30)

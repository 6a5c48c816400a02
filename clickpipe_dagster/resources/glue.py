"""Glue jobs: the scripts in ``glue_scripts/`` run under Dagster Pipes, locally or on AWS Glue.

A job that cannot do its work reports why through Pipes and then exits non-zero, so the Glue run
ends FAILED (and the stack's "Glue job failed" alarm fires). Both resources read the run's Pipes
messages whatever its outcome and fail the asset with the job's own words: dagster-aws's
``PipesGlueClient`` raises on a failed run before it reads the run's CloudWatch messages, and
``PipesSubprocessClient`` raises on a non-zero exit before handing back the session, so both runs
are driven here with ``dg.open_pipes_session`` (the Pipes API for custom launchers).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import dagster as dg

GLUE_SCRIPTS = Path(__file__).resolve().parents[2] / "glue_scripts"


def _arguments(arguments: dict[str, str]) -> list[str]:
    return [part for k, v in arguments.items() for part in (k, str(v))]


@dataclass
class JobRun:
    """What a finished job run left: its Pipes session (results, custom messages) and, when it did
    not succeed, how it ended (``"exit status 2"``, ``"FAILED: ..."``)."""

    session: dg.PipesSession
    failure: str | None = None

    def errors(self) -> list[str]:
        return [m["error"] for m in self.session.get_custom_messages() if isinstance(m, dict) and "error" in m]


class GlueJobsResource(dg.ConfigurableResource, ABC):
    """Starts a Glue job script with arguments and returns the Pipes results it reported."""

    @abstractmethod
    def run(
        self,
        context: dg.AssetExecutionContext,
        *,
        script: str,
        arguments: dict[str, str],
        env: dict[str, str] | None = None,
        extras: dict | None = None,
    ) -> JobRun: ...


class LocalGlueJobsResource(GlueJobsResource):
    """Runs a job script as a local subprocess (``PipesSubprocessClient``); ``engine`` is passed
    as ``--engine``: ``duckdb`` (default) or ``spark`` (a local SparkSession; needs Java 17)."""

    python: str = sys.executable
    engine: Literal["duckdb", "spark"] = "duckdb"

    def command(self, script: str, arguments: dict[str, str]) -> list[str]:
        return [self.python, str(GLUE_SCRIPTS / script), *_arguments({**arguments, "--engine": self.engine})]

    def run(self, context, *, script, arguments, env=None, extras=None):
        command = self.command(script, arguments)
        with dg.open_pipes_session(
            context=context,
            context_injector=dg.PipesTempFileContextInjector(),
            message_reader=dg.PipesTempFileMessageReader(),
            extras=extras,
        ) as session:
            done = subprocess.run(command, env={**os.environ, **(env or {}), **session.get_bootstrap_env_vars()})
        return JobRun(session, None if done.returncode == 0 else f"exit status {done.returncode}")


class AwsGlueJobsResource(GlueJobsResource):
    """Runs the job on AWS Glue; the Pipes context travels through S3 (``PipesS3ContextInjector``),
    the messages come back in the run's CloudWatch output stream (``PipesCloudWatchMessageReader``),
    read whether the run succeeded or not. The script picks the Spark engine there by itself (it
    sees Glue's job arguments)."""

    job_names: dict[str, str]  # script file name -> Glue job name
    pipes_bucket: str
    # PipesS3ContextInjector appends 30 random letters to this prefix with no separator: it must end
    # in "/" for the context to land under the prefix the job roles may read (dagster-pipes/*).
    pipes_prefix: str = "dagster-pipes/"
    region_name: str | None = None
    endpoint_url: str | None = None
    poll_seconds: float = 5.0

    def _client(self, service: str):
        import boto3

        return boto3.client(service, region_name=self.region_name, endpoint_url=self.endpoint_url)

    def context_injector(self):
        from dagster_aws.pipes import PipesS3ContextInjector

        prefix = self.pipes_prefix if self.pipes_prefix.endswith("/") else self.pipes_prefix + "/"
        return PipesS3ContextInjector(bucket=self.pipes_bucket, client=self._client("s3"), key_prefix=prefix)

    def run(self, context, *, script, arguments, env=None, extras=None):
        from dagster_aws.pipes import PipesCloudWatchLogReader, PipesCloudWatchMessageReader

        if script not in self.job_names:
            raise dg.Failure(f"no Glue job configured for {script}; set it in job_names")
        job_name, glue, logs = self.job_names[script], self._client("glue"), self._client("logs")
        reader = PipesCloudWatchMessageReader(client=logs)
        with dg.open_pipes_session(
            context=context, context_injector=self.context_injector(), message_reader=reader, extras=extras
        ) as session:
            run_args = {**arguments, **session.get_bootstrap_cli_arguments()}
            run_id = glue.start_job_run(JobName=job_name, Arguments=run_args)["JobRunId"]
            context.log.info(f"Started AWS Glue job {job_name} run {run_id}")
            try:
                job_run = self._wait(glue, job_name, run_id)
            except dg.DagsterExecutionInterruptedError:
                glue.batch_stop_job_run(JobName=job_name, JobRunIds=[run_id])
                raise
            # Glue writes the driver's stdout (the Pipes messages) to <LogGroupName>/output, stream = run id.
            log_group = job_run.get("LogGroupName")
            if log_group:
                session.report_launched({"extras": {"log_group": f"{log_group}/output", "log_stream": run_id}})
                reader.add_log_reader(
                    PipesCloudWatchLogReader(
                        client=logs, log_group=f"{log_group}/output", log_stream=run_id,
                        start_time=int(session.created_at.timestamp() * 1000),
                    )
                )  # fmt: skip
            else:
                context.log.warning(f"Glue job {job_name} run {run_id} names no log group: its Pipes messages cannot be read")
        state = job_run["JobRunState"]
        return JobRun(session, None if state == "SUCCEEDED" else f"{state}: {job_run.get('ErrorMessage', 'no error message')}")

    def _wait(self, glue, job_name: str, run_id: str) -> dict:
        while True:
            job_run = glue.get_job_run(JobName=job_name, RunId=run_id)["JobRun"]
            if job_run["JobRunState"] in ("FAILED", "SUCCEEDED", "STOPPED", "TIMEOUT", "ERROR", "EXPIRED"):
                return job_run
            time.sleep(self.poll_seconds)

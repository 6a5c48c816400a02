"""Glue jobs: the scripts in ``glue_scripts/`` run under Dagster Pipes, locally or on AWS Glue."""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Literal

import dagster as dg

GLUE_SCRIPTS = Path(__file__).resolve().parents[2] / "glue_scripts"


def _arguments(arguments: dict[str, str]) -> list[str]:
    return [part for k, v in arguments.items() for part in (k, str(v))]


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
    ) -> dg.PipesClientCompletedInvocation: ...


class LocalGlueJobsResource(GlueJobsResource):
    """Runs a job script as a local subprocess (``PipesSubprocessClient``); ``engine`` is passed
    as ``--engine``: ``duckdb`` (default) or ``spark`` (a local SparkSession; needs Java 17)."""

    python: str = sys.executable
    engine: Literal["duckdb", "spark"] = "duckdb"

    def run(self, context, *, script, arguments, env=None, extras=None):
        command = [self.python, str(GLUE_SCRIPTS / script), *_arguments({**arguments, "--engine": self.engine})]
        return dg.PipesSubprocessClient().run(context=context, command=command, env=env, extras=extras)


class AwsGlueJobsResource(GlueJobsResource):
    """Runs the job on AWS Glue (``PipesGlueClient``); the context travels through S3. The script
    picks the Spark engine there by itself (it sees Glue's job arguments)."""

    job_names: dict[str, str]  # script file name -> Glue job name
    pipes_bucket: str
    pipes_prefix: str = "dagster-pipes"
    region_name: str | None = None
    endpoint_url: str | None = None

    def _client(self, service: str):
        import boto3

        return boto3.client(service, region_name=self.region_name, endpoint_url=self.endpoint_url)

    def run(self, context, *, script, arguments, env=None, extras=None):
        from dagster_aws.pipes import PipesGlueClient, PipesS3ContextInjector

        if script not in self.job_names:
            raise dg.Failure(f"no Glue job configured for {script}; set it in job_names")
        client = PipesGlueClient(
            context_injector=PipesS3ContextInjector(
                bucket=self.pipes_bucket, client=self._client("s3"), key_prefix=self.pipes_prefix
            ),
            client=self._client("glue"),
        )
        return client.run(
            context=context,
            start_job_run_params={"JobName": self.job_names[script], "Arguments": dict(arguments)},
            extras=extras,
        )

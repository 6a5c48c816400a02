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

    def run_for_asset(
        self,
        context: dg.AssetExecutionContext,
        *,
        script: str,
        arguments: dict[str, str],
        row_count_key: str,
        env: dict[str, str] | None = None,
        extras: dict | None = None,
        metadata: dict | None = None,
    ):
        """Run the job for the asset's partition(s) and yield what it reported, with the row count
        and ``metadata`` added; an error the job reported fails the asset with its message."""
        extras = dict(extras or {})
        if context.has_partition_key_range:
            # Pipes leaves a partition key *range* out of its context (Dagster 1.13.27 checks
            # has_partition_key): a single-run backfill would reach the job with no partition.
            extras["partition_keys"] = list(context.partition_keys)
        invocation = self.run(context, script=script, arguments=arguments, env=env, extras=extras)
        errors = [m["error"] for m in invocation.get_custom_messages() if isinstance(m, dict) and "error" in m]
        if errors:
            raise dg.Failure(description="; ".join(errors), allow_retries=False)
        for result in invocation.get_results():
            if isinstance(result, dg.MaterializeResult):
                md = dict(result.metadata or {})
                count = md.get(row_count_key)
                md.update({"dagster/row_count": getattr(count, "value", count), **(metadata or {})})
                yield dg.MaterializeResult(asset_key=result.asset_key, metadata=md)
            else:
                yield result


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

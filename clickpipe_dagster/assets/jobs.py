"""Running a Glue job for an asset and reading back what it reported.

A job reports one materialization per asset per run, however many partitions the run covered
(a single-run backfill), with the numbers of each partition inside it (``partition_results``, or a
mart's ``rows_by_day``). ``JobReport`` keeps those apart, so that each partition's materialization
carries its own numbers (``context.add_asset_metadata(..., partition_key=...)``), not the range's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from clickpipe_dagster.partitions import beta_parameters
from clickpipe_dagster.resources.glue import GlueJobsResource

REPO = Path(__file__).resolve().parents[2]


def plain(metadata) -> dict:
    """Metadata values as Python values (a Pipes report arrives as MetadataValue objects)."""
    return {k: getattr(v, "value", v) for k, v in (metadata or {}).items()}


@dataclass
class JobReport:
    materializations: dict[dg.AssetKey, dict] = field(default_factory=dict)
    checks: list[dg.AssetCheckResult] = field(default_factory=list)


def run_glue_job(
    context: dg.AssetExecutionContext,
    glue: GlueJobsResource,
    *,
    script: str,
    arguments: dict[str, str],
    partition_keys: list[str] | None,
    env: dict[str, str] | None = None,
    extras: dict | None = None,
) -> JobReport:
    """Run the job; an error it reported fails the asset with the job's own message (a job that
    cannot do its work says why through Pipes, then exits non-zero)."""
    extras = dict(extras or {})
    if partition_keys is not None:
        # Pipes leaves a partition key *range* out of its context (Dagster 1.13.27 checks
        # has_partition_key), and an unpartitioned asset has none: the job gets its days here.
        extras["partition_keys"] = list(partition_keys)
    with beta_parameters():  # Dagster's own Pipes clients use a preview API of theirs
        run = glue.run(context, script=script, arguments=arguments, env=env, extras=extras)
    errors = run.errors()
    if errors:
        raise dg.Failure(description="; ".join(errors), metadata={"job run": run.failure or "succeeded"}, allow_retries=False)
    if run.failure:
        raise dg.Failure(description=f"{script} failed ({run.failure}) without reporting why: see its log")
    report = JobReport()
    for result in run.session.get_results(implicit_materializations=False):
        if isinstance(result, dg.MaterializeResult):
            key = result.asset_key or context.assets_def.key
            report.materializations[key] = plain(result.metadata)
        else:
            report.checks.append(result)
    return report


def code_references(*paths: tuple[str, str]) -> dg.CodeReferencesMetadataValue:
    """``dagster/code_references`` for files of this repository: (path from the repo root, label)."""
    with beta_parameters():
        return dg.CodeReferencesMetadataValue(
            code_references=[dg.LocalFileCodeReference(file_path=str(REPO / p), line_number=1, label=label) for p, label in paths]
        )

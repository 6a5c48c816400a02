"""The code location through Dagster: definitions load, Pipes materializations, checks, failures, CLI."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from clickpipe_dagster.definitions import build_definitions
from clickpipe_dagster.resources.glue import LocalGlueJobsResource
from clickpipe_dagster.resources.lake import LocalLakeResource
from clickpipe_dagster.resources.s3_lake import S3LakeResource
from support import load_sample
from clickpipe_core.lake_store import LocalStore

REPO = Path(__file__).resolve().parents[1]
BATCH = ["processed/users", "processed/transactions"]


def test_definitions_load():
    defs = build_definitions("local")
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} >= {"raw/users", "raw/clicks", *BATCH}


def test_asset_specs_have_groups_kinds_owners_descriptions_and_checks():
    graph = build_definitions("local").resolve_asset_graph()
    specs = {k.to_user_string(): graph.get(k) for k in graph.get_all_asset_keys()}
    for name in ["raw/users", "raw/transactions", *BATCH]:
        node = specs[name]
        assert node.description and node.owners == ["team:data-platform"]
        assert node.group_name == name.split("/")[0]
    checks = {c.name for c in graph.asset_check_keys if c.asset_key.to_user_string() == "processed/transactions"}
    assert checks == {"conservation", "key_unique", "schema_matches_contract", "required_not_null", "amounts_non_negative", "quarantine_share"}
    assert "dagster/column_schema" in specs["processed/transactions"].metadata


def materialize(resources, partition, selection, instance):
    assets = [a for a in build_definitions("local").assets if isinstance(a, dg.AssetsDefinition) and a.is_executable]
    assets = [a for a in assets if set(k.to_user_string() for k in a.keys) <= set(BATCH)]
    return dg.materialize(assets, selection=selection, partition_key=partition, instance=instance, resources=resources, raise_on_error=False)


def lake_resources(kind, tmp_path, request):
    if kind == "local":
        lake = LocalLakeResource(root=str(tmp_path / "lake"))
    else:
        from dagster_aws.s3 import S3Resource

        endpoint = request.getfixturevalue("moto_endpoint")
        client, bucket = request.getfixturevalue("s3_bucket")
        lake = S3LakeResource(s3=S3Resource(endpoint_url=endpoint, region_name="us-east-1"), bucket=bucket, prefix="lake")
    return {"lake": lake, "glue": LocalGlueJobsResource()}


# S3 (moto) is the slow one: the inner loop (`make test-fast`) keeps the local lake.
@pytest.mark.parametrize("kind", ["local", pytest.param("s3", marks=pytest.mark.slow)])
def test_pipes_materialization_reports_counts_and_checks(kind, tmp_path, sample, request):
    resources = lake_resources(kind, tmp_path, request)
    load_sample(resources["lake"].store(), sample)
    with dg.instance_for_test() as instance:
        day = sample.days[0]
        assert materialize(resources, None, ["processed/users"], instance).success
        result = materialize(resources, day, ["processed/transactions"], instance)
        assert result.success
        mats = {e.asset_key.to_user_string(): e.materialization.metadata for e in result.get_asset_materialization_events()}
        md = mats["processed/transactions"]
        assert md["rows_in"].value == md["rows_out"].value + md["rows_quarantined"].value + md["duplicates_dropped"].value
        assert md["dagster/row_count"].value == md["rows_out"].value > 0
        # dt files (1-2), the quarantine file, the dedup state
        assert md["written"].value.startswith(("3 file(s)", "4 file(s)")) and md["read"].value.startswith("1 file(s)")
        # people read tables and previews, not JSON
        assert md["quarantine_reasons"].value.startswith("| reason | rows |")
        assert md["processed_preview"].value.startswith("| transaction_id |") and md["quarantine_preview"].value.startswith("| reason |")
        evaluations = result.get_asset_check_evaluations()
        assert len(evaluations) == 6 and all(e.passed for e in evaluations)


def test_missing_raw_partition_fails_with_a_clear_message(tmp_path):
    resources = {"lake": LocalLakeResource(root=str(tmp_path / "lake")), "glue": LocalGlueJobsResource()}
    with dg.instance_for_test() as instance:
        result = materialize(resources, "2026-11-05", ["processed/transactions"], instance)
        assert not result.success
        failure = [e for e in result.all_events if e.is_step_failure][0]
        message = failure.step_failure_data.error.message
        assert "no raw transactions file for 2026-11-05" in message and "clickpipe upload" in message
        # the job said why through Pipes and still exited non-zero (a FAILED run on Glue)
        assert failure.step_failure_data.user_failure_data.metadata["job run"].value == "exit status 2"


def test_glue_script_runs_by_hand_without_dagster(tmp_path, sample):
    store = LocalStore(tmp_path / "lake")
    load_sample(store, sample)
    run = lambda *a: subprocess.run([sys.executable, str(REPO / "glue_scripts/raw_to_processed.py"), *a], capture_output=True, text=True)  # noqa: E731
    ok = run("--dataset", "users", "--lake", str(store.root), "--partition", sample.days[0])
    assert ok.returncode == 0 and '"rows_out"' in ok.stdout
    bad = run("--dataset", "users", "--lake", str(store.root), "--partition", "2026-12-24")
    assert bad.returncode == 2 and "no raw users file for 2026-12-24" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow  # two `dagster asset materialize` processes, each loading the code location and running its job
def test_dagster_cli_materializes_on_the_same_instance(tmp_path, sample):
    env = {**os.environ, "CLICKPIPE_HOME": str(tmp_path / "home"), "DAGSTER_HOME": str(tmp_path / "home" / "dagster")}
    Path(env["DAGSTER_HOME"]).mkdir(parents=True)
    load_sample(LocalStore(tmp_path / "home" / "lake"), sample)
    cli = Path(sys.executable).parent / "dagster"
    for selection, partition in (("processed/users", []), ("processed/transactions", ["--partition", sample.days[0]])):
        done = subprocess.run(
            [str(cli), "asset", "materialize", "-m", "clickpipe_dagster.definitions", "--select", selection, *partition],
            env=env, cwd=REPO, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        assert "BetaWarning" not in done.stderr and "PreviewWarning" not in done.stderr  # used quietly
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(["processed", "transactions"]))
        assert event.asset_materialization.partition == sample.days[0]
    assert list((tmp_path / "home" / "lake" / "processed" / "transactions").glob("dt=*/*.parquet"))

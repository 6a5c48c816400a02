"""The code location as people meet it: every backfill selection launches, resources name their
settings instead of holding them, nothing reads the environment at import, no warning spam, the
asset specs as a reviewed snapshot, and commands that need no definitions do not load them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from clickpipe_dagster.definitions import build_definitions

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_specs.json"
PROCESSED = ["processed/users", "processed/transactions", "processed/clicks"]
MARTS = ["marts/daily_events", "marts/funnel_daily", "marts/revenue_daily", "marts/top_pages_daily", "marts/users"]
DASHBOARDS = ["dashboard/data_source", "dashboard/dataset_daily_events", "dashboard/dataset_funnel_daily",
              "dashboard/dataset_revenue_daily", "dashboard/dataset_top_pages_daily", "dashboard/dataset_users", "dashboard/dashboard"]  # fmt: skip


def _run(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})


@pytest.mark.parametrize(
    "selection",
    [
        PROCESSED + MARTS + DASHBOARDS,  # the selection the UI refused before: "Targeted subset must match"
        ["processed/clicks", *MARTS[:4]],
        ["processed/transactions", "marts/revenue_daily"],
        ["marts/funnel_daily"],
        ["processed/users", "marts/revenue_daily", "dashboard/dataset_revenue_daily"],
        ["processed/clicks", "athena/clicks", "marts/users", "dashboard/dataset_users"],
    ],
)
def test_every_backfill_selection_launches_over_any_range(selection):
    """What the webserver checks before it launches a backfill (``launchPartitionBackfill``): every
    member of a multi-asset that cannot run a subset gets the same partitions."""
    from dagster._core.execution.asset_backfill import AssetBackfillData

    graph = build_definitions("local").resolve_asset_graph()
    keys = [dg.AssetKey.from_user_string(k) for k in selection]
    with dg.instance_for_test() as instance:
        for days in (["2026-11-02"], [f"2026-11-0{d}" for d in range(1, 4)]):
            data = AssetBackfillData.from_asset_partitions(
                asset_graph=graph, partition_names=days, asset_selection=keys, dynamic_partitions_store=instance,
                backfill_start_timestamp=time.time(), all_partitions=False,
            )  # fmt: skip
            target = data.target_subset
            assert set(target.asset_keys) == set(keys)
            for key in target.asset_keys:
                node = graph.get(key)
                for sibling in node.execution_set_asset_keys:
                    assert sibling in target.asset_keys, (key, sibling)
                    assert target.get_asset_subset(key).value == target.get_asset_subset(sibling).value
            for key in (k for k in keys if graph.get(k).partitions_def and k.path[0] == "processed"):
                assert sorted(target.get_partitions_subset(key).get_partition_keys()) == days


def test_secrets_and_deployment_settings_are_environment_variables_not_values(monkeypatch, aws_settings):
    monkeypatch.setenv("CLICKPIPE_PG_URL", "postgresql://clickpipe:s3cret-pw@db.internal:5432/clickpipe")
    local = build_definitions("local").resources
    assert local["warehouse"].pg_url == "CLICKPIPE_PG_URL"  # the name of the setting, not its value
    aws = build_definitions("aws").resources
    assert aws["lake"].bucket == "CLICKPIPE_LAKE_BUCKET" and aws["glue"].job_names["raw_to_processed.py"] == "CLICKPIPE_GLUE_JOB1"
    assert aws["warehouse"].secret_arn == "CLICKPIPE_RDS_SECRET_ARN"
    for resources in (local, aws):
        assert "s3cret-pw" not in repr(resources)


def test_nothing_reads_the_environment_at_import():
    code = """
import os, sys
read = set()
class Watched(dict):
    def get(self, k, d=None): read.add(k); return super().get(k, d)
    def __getitem__(self, k): read.add(k); return super().__getitem__(k)
    def __contains__(self, k): read.add(k); return super().__contains__(k)
os.environ = Watched(os.environ)
import clickpipe_dagster.definitions, clickpipe_dagster.partitions, clickpipe_dagster.cli
print(sorted(k for k in read if k.startswith("CLICKPIPE_")))
"""
    done = _run(code, {"CLICKPIPE_ENV": "local"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_loading_the_code_location_prints_no_warning():
    done = _run("import warnings; warnings.simplefilter('always')\n"
                "from clickpipe_dagster.definitions import build_definitions; build_definitions('local')")  # fmt: skip
    assert done.returncode == 0 and "Warning" not in done.stderr, done.stderr[-3000:]


def test_the_local_code_location_does_not_import_dagster_aws():
    """Every run loads the code location in its own process: dagster-aws would add a second to each."""
    done = _run("import sys\nfrom clickpipe_dagster.definitions import build_definitions; build_definitions('local')\n"
                "print(sorted(m for m in sys.modules if m.startswith('dagster_aws')))")  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_clickpipe_query_does_not_load_dagster(tmp_path):
    code = f"""
import sys
from clickpipe_dagster.cli import main
try:
    main(["query", "SELECT 41 + 1 AS answer"], standalone_mode=False)
finally:
    print("dagster loaded:", "dagster" in sys.modules)
"""
    done = _run(code, {"CLICKPIPE_HOME": str(tmp_path / "home")})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "42" in done.stdout and "dagster loaded: False" in done.stdout


def _spec_summary(node) -> dict:
    return {
        "group": node.group_name,
        "kinds": sorted(node.kinds),
        "partitions": type(node.partitions_def).__name__ if node.partitions_def else None,
        "deps": sorted(k.to_user_string() for k in node.parent_keys),
        "automation": node.automation_condition.get_label() if node.automation_condition else None,
        "freshness": type(node.freshness_policy).__name__ if node.freshness_policy else None,
        "owners": list(node.owners),
        "backfill": "single run" if node.backfill_policy and node.backfill_policy.max_partitions_per_run is None else None,
        "checks": sorted(c.name for c in node.check_keys),
        "first_sentence": (node.description or "").split(". ")[0] + ".",
    }


def test_asset_specs_match_the_reviewed_snapshot():
    """Keys, groups, partitions, dependencies, automation, freshness and checks change only on
    purpose: regenerate with CLICKPIPE_UPDATE_SNAPSHOTS=1 and review the diff."""
    graph = build_definitions("local").resolve_asset_graph()
    got = {k.to_user_string(): _spec_summary(graph.get(k)) for k in sorted(graph.get_all_asset_keys(), key=str)}
    if os.environ.get("CLICKPIPE_UPDATE_SNAPSHOTS"):
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
    assert got == json.loads(SNAPSHOT.read_text())
    for key, spec in got.items():  # every asset opens with one business sentence, and has owners
        assert spec["owners"] and len(spec["first_sentence"]) > 20 and spec["first_sentence"][0].isupper(), key


def test_local_runs_execute_their_steps_in_the_run_process_aws_runs_one_process_per_step(aws_settings):
    assert build_definitions("local").executor.name == "in_process"
    assert build_definitions("aws").executor.name == "multiprocess"

"""Whole-file problems fail loudly: ``clickpipe upload`` refuses a file that is not the named
dataset's, or that Glue Job 1 would not read; a file with such a name dropped into the raw zone
directly is quarantined whole; a partition with a file rejected whole or too many
records quarantined fails its blocking ``quarantine_share`` check, naming the file and why."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from clickpipe_core import layout
from clickpipe_core.generator.batch import generate
from clickpipe_dagster.definitions import build_definitions
from clickpipe_dagster.resources.glue import LocalGlueJobsResource
from clickpipe_dagster.resources.lake import LocalLakeResource

CLICKPIPE = str(Path(sys.executable).with_name("clickpipe"))


def upload(tmp_path, file: Path, dataset: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CLICKPIPE_HOME": str(tmp_path / "home")}
    return subprocess.run([CLICKPIPE, "upload", str(file), "--dataset", dataset, "--date", "2026-11-02"],
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip


def raw_files(tmp_path) -> list[str]:
    root = tmp_path / "home" / "lake" / "raw"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_upload_refuses_a_file_of_another_dataset_and_says_which(tmp_path, sample):
    done = upload(tmp_path, sample.users_file, "transactions")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "not uploaded" in done.stderr and "is not a transactions file" in done.stderr
    assert "it looks like a users file: upload it with --dataset users" in done.stderr
    assert raw_files(tmp_path) == []


@pytest.mark.parametrize("name", ["_partial.csv", ".hidden.csv"])
def test_upload_refuses_names_job1_does_not_read(tmp_path, sample, name):
    renamed = tmp_path / name
    renamed.write_bytes(sample.users_file.read_bytes())
    done = upload(tmp_path, renamed, "users")
    assert done.returncode == 1 and f"{name} starts with {name[0]!r}" in done.stderr and "rename it" in done.stderr
    assert raw_files(tmp_path) == []


def test_upload_refuses_an_empty_file_and_takes_a_good_one_quietly(tmp_path, sample):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    done = upload(tmp_path, empty, "users")
    assert done.returncode == 1 and "is empty" in done.stderr
    done = upload(tmp_path, sample.users_file, "users")
    assert done.returncode == 0 and done.stderr == ""  # no warning lines either
    assert raw_files(tmp_path) == ["users/ingest_date=2026-11-02/users.csv"]


def _materialize(lake, selection, partition, instance):
    assets = [a for a in build_definitions("local").assets if isinstance(a, dg.AssetsDefinition) and all(k.path[0] == "processed" for k in a.keys)]
    return dg.materialize(assets, selection=selection, partition_key=partition, instance=instance,
                          resources={"lake": lake, "glue": LocalGlueJobsResource()}, raise_on_error=False)  # fmt: skip


def _check(result, name="quarantine_share"):
    return next(e for e in result.get_asset_check_evaluations() if e.check_name == name)


def test_a_file_rejected_whole_fails_the_partition_and_names_the_file(tmp_path, sample):
    lake = LocalLakeResource(root=str(tmp_path / "lake"))
    store = lake.store()
    day = sample.days[0]
    store.put_file(sample.users_file, layout.raw_batch_key("users", day, "users.csv"))
    store.put_file(sample.transaction_files[day], layout.raw_batch_key("transactions", day, "transactions.csv"))
    # someone drops a users extract into the transactions folder, next to the day's good file
    wrong = layout.raw_batch_key("transactions", day, "crm-export.csv")
    store.put_file(sample.users_file, wrong)
    with dg.instance_for_test() as instance:
        assert _materialize(lake, ["processed/users"], None, instance).success
        result = _materialize(lake, ["processed/transactions"], day, instance)
    assert not result.success  # a red run
    check = _check(result)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert wrong in check.description and "rejected whole (wrong_header)" in check.description
    assert "header does not match the transactions contract" in check.description
    # the good file was still processed: the partition's materialization is there, with its numbers
    md = next(e.materialization.metadata for e in result.get_asset_materialization_events())
    assert md["rows_out"].value > 0 and "wrong_header" in md["quarantine_reasons"].value
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "quarantine_share" in failure.step_failure_data.error.message


def test_a_file_dropped_with_a_hidden_name_fails_the_partition_and_names_the_file(tmp_path, sample):
    """Not through `clickpipe upload` (which refuses the name): Job 1 quarantines its records whole,
    and the blocking check fails naming it, instead of the file being skipped in silence."""
    lake = LocalLakeResource(root=str(tmp_path / "lake"))
    store = lake.store()
    store.put_file(sample.users_file, layout.raw_batch_key("users", sample.days[0], "users.csv"))
    hidden = layout.raw_batch_key("users", sample.days[0], ".users-late.csv")
    store.put_file(sample.users_file, hidden)
    with dg.instance_for_test() as instance:
        result = _materialize(lake, ["processed/users"], None, instance)
    check = _check(result)
    assert not result.success and not check.passed
    assert hidden in check.description and "not read (its name starts with '.' or '_') (hidden_file_name)" in check.description
    md = next(e.materialization.metadata for e in result.get_asset_materialization_events())
    lines = sample.users_file.read_bytes().count(b"\n") - 1
    assert f"| hidden_file_name | {lines:,} |" in md["quarantine_reasons"].value
    assert md["rows_in"].value == md["rows_out"].value + md["rows_quarantined"].value + md["duplicates_dropped"].value


def test_a_partition_above_its_quarantine_share_fails(tmp_path):
    dirty = generate(tmp_path / "dirty", days=1, users=200, transactions_per_day=600, seed=3, dirty_rate=0.3)
    lake = LocalLakeResource(root=str(tmp_path / "lake"))
    store = lake.store()
    day = dirty.days[0]
    store.put_file(dirty.users_file, layout.raw_batch_key("users", day, "users.csv"))
    with dg.instance_for_test() as instance:
        result = _materialize(lake, ["processed/users"], None, instance)
    check = _check(result)
    assert not result.success and not check.passed
    assert "more than the 10% allowed for users" in check.description and f"{day}:" in check.description
    assert "| ingest day | records | quarantined | share | files rejected |" in check.metadata["partitions"].value

"""Stream, Firehose, Lambda, Glue jobs, Athena, RDS, QuickSight: the properties the pipeline relies on."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from clickpipe_infra.processing import GLUE_PYTHON_MODULES
from clickpipe_infra.repo import (
    JOB2_WHEEL_PACKAGES,
    LAMBDA_HANDLER,
    REPO_ROOT,
    WHEELHOUSE_DIR,
    GLUE_PACKAGES,
    LAMBDA_PACKAGES,
    package_files,
    pinned_requirements,
)


def test_kinesis_is_on_demand_by_default_and_provisioned_on_request(default, variant):
    _, stream = default.one("AWS::Kinesis::Stream")
    assert stream["Properties"]["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert "ShardCount" not in stream["Properties"]
    _, stream = variant.one("AWS::Kinesis::Stream")
    assert stream["Properties"]["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    assert stream["Properties"]["ShardCount"] == 2


def test_firehose_lands_clicks_by_utc_hour_as_gzip_with_errors_and_logging(default):
    s = default.stack.settings
    _, fh = default.one("AWS::KinesisFirehose::DeliveryStream")
    p = fh["Properties"]
    assert p["DeliveryStreamType"] == "KinesisStreamAsSource"
    dest = p["ExtendedS3DestinationConfiguration"]
    assert dest["Prefix"] == "raw/clicks/!{timestamp:yyyy/MM/dd/HH}/"
    assert dest["ErrorOutputPrefix"] == "errors/firehose/clicks/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/"
    assert dest["CompressionFormat"] == "GZIP"
    assert dest["BufferingHints"] == {"IntervalInSeconds": s.firehose_buffer_seconds, "SizeInMBs": s.firehose_buffer_mib}
    assert dest["CloudWatchLoggingOptions"]["Enabled"] is True
    assert "CustomTimeZone" not in dest  # UTC, like the local Firehose stand-in


def test_firehose_prefixes_follow_the_lake_prefix(variant):
    _, fh = variant.one("AWS::KinesisFirehose::DeliveryStream")
    assert fh["Properties"]["ExtendedS3DestinationConfiguration"]["Prefix"] == "lake/raw/clicks/!{timestamp:yyyy/MM/dd/HH}/"


def test_generator_lambda_and_its_schedule(default):
    fn = default.json["Resources"][default.logical_id(default.stack.streaming.generator)]
    p = fn["Properties"]
    assert p["Handler"] == LAMBDA_HANDLER
    assert p["Runtime"] == "python3.11"
    assert p["Environment"]["Variables"]["CLICKPIPE_KINESIS_STREAM"] == {"Ref": default.logical_id(default.stack.streaming.stream)}
    rules = [r for r in default.resources("AWS::Events::Rule").values() if "ScheduleExpression" in r["Properties"]]
    assert len(rules) == 1
    assert rules[0]["Properties"]["ScheduleExpression"] == "rate(1 minute)"
    assert rules[0]["Properties"]["State"] == "ENABLED"
    assert rules[0]["Properties"]["Targets"][0]["Arn"]["Fn::GetAtt"][0] == default.logical_id(default.stack.streaming.generator)


def _staged(s, asset) -> Path:
    """The staged copy of an s3_assets.Asset in the cloud assembly."""
    path = s.outdir / asset.asset_path
    assert path.exists(), path
    return path


def _lambda_asset_dir(s) -> Path:
    dirs = [p for p in s.outdir.glob("asset.*") if p.is_dir() and (p / "clickpipe_core").exists()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def test_lambda_bundle_is_the_kernel_package_from_the_wheel(default):
    root = _lambda_asset_dir(default)
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert files == sorted(package_files(LAMBDA_PACKAGES))
    # what the handler imports is there (the first round's file list had lost streaming/)
    assert {"clickpipe_core/generator/lambda_handler.py", "clickpipe_core/streaming/kinesis.py"} <= set(files)
    assert not any(f.startswith(("clickpipe_dagster/", "glue_scripts/")) for f in files)


def test_glue_code_zip_is_the_kernel_and_the_job_packages_from_the_wheel(default):
    zpath = _staged(default, default.stack.processing.code_zip)
    names = sorted(zipfile.ZipFile(zpath).namelist())
    assert names == sorted(package_files(GLUE_PACKAGES))
    assert {"clickpipe_core/catalog.py", "glue_scripts/raw_to_processed.py", "clickpipe_core/sql/marts/daily_events.sql"} <= set(names)
    assert not any(n.startswith("clickpipe_dagster/") or "dagster_pipes" in n for n in names)


def _job(s, construct) -> dict:
    return s.json["Resources"][s.logical_id(construct)]["Properties"]


def test_glue_job1_is_a_glue5_spark_job_with_its_modules_and_zip(default):
    proc = default.stack.processing
    p = _job(default, proc.job1)
    assert p["GlueVersion"] == "5.0" and p["Command"]["Name"] == "glueetl"
    args = p["DefaultArguments"]
    assert args["--additional-python-modules"] == ",".join(GLUE_PYTHON_MODULES)
    assert [m.split("==")[0] for m in GLUE_PYTHON_MODULES] == ["dagster-pipes", "duckdb", "ua-parser", "ua-parser-builtins", "ua-parser-rs"]
    assert args["--engine"] == "spark"
    assert args["--job-bookmark-option"] == "job-bookmark-disable"
    assert args["--lake"] == {"Fn::Join": ["", ["s3://", {"Ref": default.logical_id(default.stack.storage.lake)}]]}
    # Glue 5.0 logging: a custom group prefix, none of Glue 4.0's continuous-logging flags
    assert args["--custom-logGroup-prefix"] == proc.log_group_prefix == "/aws-glue/clickpipe"
    assert not [a for a in args if a.startswith(("--enable-continuous", "--continuous-log"))]
    assert str(args["--extra-py-files"]).count(".zip") == 1
    assert p["SecurityConfiguration"] == {"Ref": default.logical_id(proc.security_configuration)}
    assert "Connections" not in p
    assert p["Name"] == "clickpipe-raw-to-processed"
    # Glue 5.0 writes stdout (the Pipes messages) to <prefix>/output and its own logs to <prefix>/error:
    # both exist, encrypted, with a retention.
    for name in ("output", "error"):
        group = default.json["Resources"][default.logical_id(proc.log_groups[name])]["Properties"]
        assert group["LogGroupName"] == f"/aws-glue/clickpipe/{name}" and "KmsKeyId" in group and group["RetentionInDays"] > 0


def test_job2_exists_only_when_its_script_does(default, variant):
    assert (REPO_ROOT / "glue_scripts/processed_to_rds.py").exists() == (default.stack.processing.job2 is not None)
    assert variant.stack.processing.job2 is not None
    assert len(variant.resources("AWS::Glue::Job")) == 2


def test_glue_job2_runs_in_the_vpc_with_vendored_pipes_and_rds_arguments(variant):
    proc = variant.stack.processing
    p = _job(variant, proc.job2)
    assert p["GlueVersion"] == "5.0"
    assert p["Connections"] == {"Connections": [{"Ref": variant.logical_id(proc.connection)}]}
    args = p["DefaultArguments"]
    # No package index is reachable from the isolated subnets: the wheelhouse from S3 with --no-index,
    # pure-Python dependencies in the vendor zip.
    assert args["--python-modules-installer-option"] == "--no-index"
    assert "==" not in json.dumps(args["--additional-python-modules"])
    assert str(args["--extra-py-files"]).count(".zip") == 2
    assert args["--lake"] == {"Fn::Join": ["", ["s3://", {"Ref": variant.logical_id(variant.stack.storage.lake)}, "/lake"]]}
    db = variant.logical_id(variant.stack.database.instance)
    assert args["--pg-secret-arn"] == {"Fn::GetAtt": [db, "MasterUserSecret.SecretArn"]}
    assert args["--pg-host"] == {"Fn::GetAtt": [db, "Endpoint.Address"]}
    assert args["--engine"] == "spark"


def test_synth_without_wheels_and_without_an_index_fails_with_a_clear_message(tmp_path):
    """Never a template whose Job 2 cannot import its loader: synth fetches the wheelhouse or stops."""
    import pytest
    from conftest import repo_with_job2

    from clickpipe_infra.repo import WheelhouseError, download_wheelhouse, ensure_job2_wheelhouse, missing_pins

    repo = repo_with_job2(tmp_path, wheels=False)
    assert missing_pins([], repo) == pinned_requirements(repo_root=repo)
    with pytest.raises(WheelhouseError, match=r"make wheelhouse.*package index|package index.*make wheelhouse"):
        download_wheelhouse(repo, python="/bin/false")  # a pip that cannot reach any index
    with pytest.raises(WheelhouseError):
        Synth_without_index(tmp_path, repo)


def Synth_without_index(tmp_path, repo):  # noqa: N802
    """Synthesize ``repo`` with pip unable to download (an empty package index)."""
    import os

    from conftest import VARIANT_CONTEXT, Synth

    saved = {k: os.environ.get(k) for k in ("PIP_INDEX_URL", "PIP_NO_INDEX", "PIP_FIND_LINKS")}
    os.environ.update({"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(tmp_path)})
    try:
        return Synth(tmp_path / "out", nag=False, context=VARIANT_CONTEXT, repo_root=repo)
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def test_a_stale_wheelhouse_is_refetched(tmp_path):
    from conftest import STAND_IN_WHEELS, repo_with_job2

    from clickpipe_infra.repo import job2_wheels, missing_pins

    repo = repo_with_job2(tmp_path)
    assert missing_pins(job2_wheels(repo), repo) == []
    pyarrow = next(w for w in STAND_IN_WHEELS if w.startswith("pyarrow-"))
    (repo / WHEELHOUSE_DIR / pyarrow).rename(repo / WHEELHOUSE_DIR / "pyarrow-25.0.0-cp311-cp311-manylinux_2_28_x86_64.whl")
    assert missing_pins(job2_wheels(repo), repo) == ["pyarrow==26.0.1"]


def test_job2_installs_the_wheelhouse_from_s3_without_an_index(tmp_path_factory):
    """`make wheelhouse` fills infra/cdk/wheelhouse/; a BucketDeployment copies it under the wheels'
    own names (Glue installs by file name) and the job installs exactly those, with pip --no-index."""
    from conftest import STAND_IN_WHEELS, VARIANT_CONTEXT, Synth, repo_with_job2

    repo = repo_with_job2(tmp_path_factory.mktemp("wheel-repo"))
    s = Synth(tmp_path_factory.mktemp("wheels"), nag=False, context=VARIANT_CONTEXT, repo_root=repo)
    proc = s.stack.processing
    pipes = s.logical_id(s.stack.storage.pipes)
    _, deployment = s.one("Custom::CDKBucketDeployment")
    assert deployment["Properties"]["DestinationBucketName"] == {"Ref": pipes}
    assert deployment["Properties"]["DestinationBucketKeyPrefix"] == "glue-packages/"
    assert deployment["Properties"]["Prune"] is True
    staged = s.outdir / s.stack.node.find_child("Processing").node.find_child("Job2WheelsBundle").asset_path
    assert sorted(p.name for p in staged.iterdir()) == sorted(STAND_IN_WHEELS)
    args = _job(s, proc.job2)["DefaultArguments"]
    assert args["--python-modules-installer-option"] == "--no-index"
    parts = args["--additional-python-modules"]["Fn::Join"][1]
    rendered = "".join(p if isinstance(p, str) else ("<pipes>" if p == {"Ref": pipes} else "<?>") for p in parts)
    assert rendered == ",".join(f"s3://<pipes>/glue-packages/{n}" for n in sorted(STAND_IN_WHEELS))

    def statements(role):
        return [
            st for r in s.resources("AWS::IAM::Policy").values() if r["Properties"]["Roles"] == [{"Ref": s.logical_id(role)}]
            for st in r["Properties"]["PolicyDocument"]["Statement"]
        ]  # fmt: skip

    wheels = next(st for st in statements(proc.job2_role) if st["Sid"] == "Job2Wheels")
    assert len(wheels["Resource"]) == len(STAND_IN_WHEELS) and wheels["Action"] == "s3:GetObject"
    # The copying Lambda runs with a role limited to glue-packages/ of the Pipes bucket, not the whole bucket.
    handler = next(f for lid, f in s.resources("AWS::Lambda::Function").items() if lid.startswith("CustomCDKBucketDeployment"))
    role_id = handler["Properties"]["Role"]["Fn::GetAtt"][0]
    sync = [st for r in s.resources("AWS::IAM::Policy").values() if r["Properties"]["Roles"] == [{"Ref": role_id}] for st in r["Properties"]["PolicyDocument"]["Statement"]]
    written = [json.dumps(st["Resource"]) for st in sync if "s3:PutObject" in st["Action"]]
    assert written and all("/glue-packages/*" in w for w in written), written


def test_the_wheelhouse_takes_the_project_pins():
    pins = pinned_requirements()
    assert [p.split("==")[0].split("[")[0] for p in pins] == list(JOB2_WHEEL_PACKAGES)
    assert all("==" in p for p in pins) and "psycopg[binary]==" in pins[0]


def test_glue_python_modules_are_pyproject_pins():
    """Job 1's modules on Glue are the versions the project pins (enrichment parses the same way)."""
    import re
    import tomllib

    from clickpipe_infra.repo import REPO_ROOT

    deps = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = {m.group(1).lower(): m.group(2) for d in deps if (m := re.match(r"([A-Za-z0-9_.-]+)(?:\[[^]]*\])?==(\S+)", d))}
    assert {m.split("==")[0]: m.split("==")[1] for m in GLUE_PYTHON_MODULES} == {n: pins[n] for n in (m.split("==")[0] for m in GLUE_PYTHON_MODULES)}


def test_vendor_zip_carries_the_pinned_dagster_pipes(variant):
    zpath = _staged(variant, variant.stack.processing.vendor_zip)
    with zipfile.ZipFile(zpath) as zf:
        version = zf.read("dagster_pipes/version.py").decode()
    pin = next(m for m in GLUE_PYTHON_MODULES if m.startswith("dagster-pipes==")).split("==")[1]
    assert f'"{pin}"' in version


def test_athena_workgroup_enforces_its_configuration(default):
    s = default.stack.settings
    _, wg = default.one("AWS::Athena::WorkGroup")
    c = wg["Properties"]["WorkGroupConfiguration"]
    assert c["EnforceWorkGroupConfiguration"] is True
    assert c["PublishCloudWatchMetricsEnabled"] is True
    assert c["BytesScannedCutoffPerQuery"] == s.athena_bytes_scanned_cutoff
    assert c["EngineVersion"] == {"SelectedEngineVersion": "Athena engine version 3"}
    assert c["ResultConfiguration"]["OutputLocation"] == {
        "Fn::Join": ["", ["s3://", {"Ref": default.logical_id(default.stack.storage.athena_results)}, "/results/"]]
    }


def test_rds_postgres_is_hardened(default):
    s = default.stack.settings
    _, db = default.one("AWS::RDS::DBInstance")
    p = db["Properties"]
    assert p["Engine"] == "postgres"
    assert p["MultiAZ"] is True
    assert p["EnableIAMDatabaseAuthentication"] is True
    assert p["DeletionProtection"] is True
    assert p["BackupRetentionPeriod"] == s.rds_backup_retention_days > 0
    assert p["EnablePerformanceInsights"] is True
    assert db["DeletionPolicy"] == "Snapshot"
    _, params = default.one("AWS::RDS::DBParameterGroup")
    assert params["Properties"]["Parameters"]["rds.force_ssl"] == "1"
    assert not default.resources("AWS::SecretsManager::Secret")  # RDS manages (and rotates) the secret


def test_multi_az_is_selectable(variant):
    _, db = variant.one("AWS::RDS::DBInstance")
    assert db["Properties"]["MultiAZ"] is False


def test_quicksight_vpc_connection_and_role(default, variant):
    _, qs = default.one("AWS::QuickSight::VPCConnection")
    role = default.logical_id(default.stack.visualization.role)
    assert qs["Properties"]["RoleArn"] == {"Fn::GetAtt": [role, "Arn"]}
    assert qs["Properties"]["SecurityGroupIds"] == [{"Fn::GetAtt": [default.logical_id(default.stack.network.quicksight_sg), "GroupId"]}]
    trust = default.json["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "quicksight.amazonaws.com"}
    assert not variant.resources("AWS::QuickSight::VPCConnection")  # -c quicksight=false

"""Glue tables equal catalog.py's definitions; alarms and dashboard are present and wired to SNS."""

from __future__ import annotations

import re

import pytest

from clickpipe_infra.query import cfn_table_input
from clickpipe_infra.repo import catalog

LAKE = "s3://LAKE-BUCKET"


def _render(value, lake_ref: dict, lake_text: str):
    """Turn the template's Fn::Join over the lake bucket Ref back into plain text."""
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(lake_text if p == lake_ref else _render(p, lake_ref, lake_text) for p in parts)
    if isinstance(value, dict):
        return {k: _render(v, lake_ref, lake_text) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, lake_ref, lake_text) for v in value]
    return value


def _table_inputs(s) -> dict[str, dict]:
    lake_ref = {"Ref": s.logical_id(s.stack.storage.lake)}
    tables = {}
    for t in s.resources("AWS::Glue::Table").values():
        ti = _render(t["Properties"]["TableInput"], lake_ref, "LAKE-BUCKET")
        assert t["Properties"]["DatabaseName"] == catalog.GLUE_DATABASE
        tables[ti["Name"]] = ti
    return tables


def test_database_is_catalog_glue_database(default):
    _, db = default.one("AWS::Glue::Database")
    assert db["Properties"]["DatabaseInput"]["Name"] == catalog.GLUE_DATABASE


@pytest.mark.parametrize("ds", catalog.processed_tables(), ids=lambda d: d.name)
def test_each_table_equals_catalog_glue_table_input(default, ds):
    # The template's TableInput (CloudFormation spelling) is key for key the boto3 TableInput from catalog.py.
    assert _table_inputs(default)[ds.name] == catalog.glue_table_input(ds, LAKE)


@pytest.mark.parametrize("ds", [d for d in catalog.processed_tables() if d.partition_columns], ids=lambda d: d.name)
def test_partitioned_tables_have_catalog_projection_parameters(default, ds):
    params = _table_inputs(default)[ds.name]["Parameters"]
    expected = catalog.projection_parameters(ds, LAKE)
    assert expected["projection.enabled"] == "true"
    assert {k: v for k, v in params.items() if k.startswith("projection.") or k == "storage.location.template"} == expected


def test_table_locations_follow_the_lake_prefix(variant):
    for ds in catalog.processed_tables():
        assert _table_inputs(variant)[ds.name] == catalog.glue_table_input(ds, LAKE + "/lake")


def test_unknown_table_input_keys_are_refused():
    ti = catalog.glue_table_input(catalog.processed_tables()[0], LAKE)
    with pytest.raises(ValueError, match="TableInput: no CloudFormation mapping for Mystery"):
        cfn_table_input({**ti, "Mystery": 1})
    ti["StorageDescriptor"] = {**ti["StorageDescriptor"], "Odd": True}
    with pytest.raises(ValueError, match="StorageDescriptor: no CloudFormation mapping for Odd"):
        cfn_table_input(ti)


def _alarms(s) -> list[dict]:
    return [a["Properties"] for a in s.resources("AWS::CloudWatch::Alarm").values()]


def test_every_alarm_notifies_the_topic(default):
    topic = {"Ref": default.logical_id(default.stack.monitoring.topic)}
    alarms = _alarms(default)
    assert alarms
    for a in alarms:
        assert a["AlarmActions"] == [topic], a.get("AlarmDescription")


@pytest.mark.parametrize(
    "namespace,metric",
    [
        ("AWS/Firehose", "DeliveryToS3.DataFreshness"),
        ("AWS/Firehose", "DeliveryToS3.Success"),
        ("AWS/Kinesis", "WriteProvisionedThroughputExceeded"),
        ("AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds"),
        ("AWS/Lambda", "Errors"),
        ("AWS/RDS", "CPUUtilization"),
        ("AWS/RDS", "FreeStorageSpace"),
    ],
)
def test_alarm_present(default, namespace, metric):
    assert any(a.get("Namespace") == namespace and a.get("MetricName") == metric for a in _alarms(default)), (namespace, metric)


def test_glue_job_failure_alarms_watch_each_jobs_failure_rule(default, variant):
    for s in (default, variant):
        jobs = len(s.stack.processing.jobs)
        failure_rules = [
            lid
            for lid, r in s.resources("AWS::Events::Rule").items()
            if "Glue Job State Change" in r["Properties"].get("EventPattern", {}).get("detail-type", [])
            and r["Properties"]["EventPattern"]["detail"]["state"] == ["FAILED"]
        ]
        assert len(failure_rules) == jobs
        watched = [
            a["Dimensions"][0]["Value"]["Ref"]
            for a in _alarms(s)
            if a.get("Namespace") == "AWS/Events" and a.get("MetricName") == "TriggeredRules"
        ]
        for rule in failure_rules:
            assert rule in watched


def test_glue_run_duration_alarms_on_each_job(default):
    limit = default.stack.settings.glue_run_alarm_minutes * 60 * 1000
    watched = {
        next(d["Value"] for d in a["Dimensions"] if d["Name"] == "JobName")["Ref"]
        for a in _alarms(default)
        if a.get("Namespace") == "Glue" and a.get("MetricName") == "glue.driver.aggregate.elapsedTime" and a["Threshold"] == limit
    }
    assert watched == {default.logical_id(j) for j in default.stack.processing.jobs}


def test_spice_ingestion_failures_alarm_per_dashboard_data_set(default, variant):
    from clickpipe_infra.monitoring import dashboard_data_set_ids

    spice = [a for a in _alarms(default) if a.get("Namespace") == "AWS/QuickSight" and a.get("MetricName") == "IngestionErrorCount"]
    assert sorted(a["Dimensions"][0]["Value"] for a in spice) == sorted(dashboard_data_set_ids())
    assert all(re.fullmatch(r"clickpipe-[a-z-]+", d) for d in dashboard_data_set_ids())
    assert not [a for a in _alarms(variant) if a.get("Namespace") == "AWS/QuickSight"]  # -c quicksight=false


def test_dashboard_exists(default):
    _, dash = default.one("AWS::CloudWatch::Dashboard")
    body = str(dash["Properties"]["DashboardBody"])
    for text in ("DataFreshness", "IteratorAgeMilliseconds", "CPUUtilization", "Errors"):
        assert text in body


def test_the_stack_declares_the_processed_sessions_table(default):
    """Job 2's derived sessions are a Glue table like the datasets (the stack owns it; Dagster verifies)."""
    ti = _table_inputs(default)["sessions"]
    columns = {c["Name"]: c["Type"] for c in ti["StorageDescriptor"]["Columns"]}
    assert ti["StorageDescriptor"]["Location"] == "s3://LAKE-BUCKET/processed/sessions/"
    assert [k["Name"] for k in ti["PartitionKeys"]] == ["dt"] and "dt" not in columns
    assert {"session_id": "string", "started_at": "timestamp", "channel": "string", "is_bot": "boolean", "revenue": "decimal(38,2)"}.items() <= columns.items()
    assert ti["Parameters"]["storage.location.template"] == "s3://LAKE-BUCKET/processed/sessions/dt=${dt}/"

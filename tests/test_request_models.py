"""Every boto3 request the project makes passes the service model's patterns, lengths and enums.

conftest.py installs ``rehearsal.model_check`` for the whole test session, so each test that talks
to an AWS API (QuickSight, Glue, Athena, Kinesis, S3, Secrets Manager) fails on a request the
service would refuse; the rehearsal checks the jobs' and stand-ins' requests on the server side.
These tests prove the check itself catches what botocore lets through.
"""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ParamValidationError
from botocore.stub import Stubber

from rehearsal.model_check import operation_problems


def _qs():
    return boto3.client("quicksight", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def _data_set(key: str) -> dict:
    table = {"RelationalTable": {"DataSourceArn": "arn:aws:quicksight:us-east-1:123456789012:datasource/x", "Name": "t",
                                 "InputColumns": [{"Name": "dt", "Type": "DATETIME"}]}}  # fmt: skip
    return {"AwsAccountId": "123456789012", "DataSetId": "clickpipe-x", "Name": "x", "PhysicalTableMap": {key: table}, "ImportMode": "SPICE"}


def test_an_underscore_in_a_physical_table_key_is_caught():
    model = _qs().meta.service_model
    assert operation_problems(model, "CreateDataSet", _data_set("daily-events")) == []
    found = operation_problems(model, "CreateDataSet", _data_set("daily_events"))
    assert len(found) == 1 and "PhysicalTableMap key 'daily_events'" in found[0] and "[0-9a-zA-Z-]*" in found[0]


def test_lengths_and_enums_are_caught():
    model = _qs().meta.service_model
    assert any("above the model's max 128" in p for p in operation_problems(model, "CreateDataSet", {**_data_set("a"), "Name": "n" * 129}))
    assert any("is not one of" in p for p in operation_problems(model, "CreateDataSet", {**_data_set("a"), "ImportMode": "FAST"}))


def test_the_installed_check_stops_the_request_before_it_is_sent():
    client = _qs()
    with Stubber(client) as stub:  # nothing would answer: the check must refuse first
        with pytest.raises(ParamValidationError, match="daily_events"):
            client.create_data_set(**_data_set("daily_events"))
        stub.assert_no_pending_responses()


def test_every_dashboard_request_passes_the_model():
    """The QuickSight requests the dashboards resource builds, checked whole."""
    from clickpipe_dagster.dashboard.datasets import DATASETS
    from clickpipe_dagster.resources.quicksight import QuickSightResource

    qs = QuickSightResource(
        region_name="us-east-1", aws_account_id="123456789012",
        principal_arn="arn:aws:quicksight:us-east-1:123456789012:group/default/analysts",
        vpc_connection_arn="arn:aws:quicksight:us-east-1:123456789012:vpcConnection/clickpipe-vpc",
        rds_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:rds-AbCdEf", rds_host="db.example",
    )  # fmt: skip
    model = _qs().meta.service_model
    account = {"AwsAccountId": "123456789012"}
    found = operation_problems(model, "CreateDataSource", {**account, **qs.data_source_request()})
    for ds in DATASETS:
        found += operation_problems(model, "CreateDataSet", {**account, **qs.data_set_request(ds)})
    found += operation_problems(model, "CreateDashboard", {**account, **qs.dashboard_request()})
    assert found == []

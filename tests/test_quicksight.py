"""The QuickSight side of the dashboards: the Definition reviewed as data, the resource against the AWS
API emulator (moto server) for the calls it implements, and botocore's Stubber for the rest.

botocore validates every request against QuickSight's real API model in both cases (moto: before
sending; Stubber: before answering), and Stubber validates our canned responses against the model too.

What moto 5.2 implements for QuickSight: create/describe/update_data_source, create_data_set,
create_ingestion, create/describe_dashboard (stores the Definition), STS. What it lacks:
describe_data_set, update_data_set, describe_ingestion, describe_dashboard_definition,
update_dashboard(_published_version), every *_permissions call. Where a moto test needs one of
those, ``answer_only`` answers that single operation (validated like Stubber does) and lets every
other call reach the emulator.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import boto3
import botocore.session
import dagster as dg
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import ANY, Stubber
from botocore.validate import ParamValidator, validate_parameters

from clickpipe_dagster.assets.dashboards import REFRESH_CHECK, dashboard, dashboard_data_source, dashboard_datasets
from clickpipe_dagster.dashboard import definition as dash
from clickpipe_dagster.dashboard.datasets import DATASETS, DATASETS_BY_NAME
from clickpipe_dagster.resources.dashboard import DashboardError, DashboardsResource, Published, Refresh
from clickpipe_dagster.resources.quicksight import (
    DASHBOARD_ACTIONS,
    DATA_SET_ACTIONS,
    DATA_SOURCE_ACTIONS,
    QuickSightResource,
)
from clickpipe_dagster.resources.warehouse import LocalWarehouseResource

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
PRINCIPAL = f"arn:aws:quicksight:{REGION}:{ACCOUNT}:group/default/analysts"
SETTINGS = dict(
    region_name=REGION,
    principal_arn=PRINCIPAL,
    vpc_connection_arn=f"arn:aws:quicksight:{REGION}:{ACCOUNT}:vpcConnection/clickpipe-vpc",
    rds_secret_arn=f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:rds-master-AbCdEf",
    rds_host="clickpipe-pg.abc123.us-east-1.rds.amazonaws.com",
    poll_interval_seconds=0.001,
    ingestion_timeout_seconds=0.003,  # 3 polls
    creation_timeout_seconds=0.003,
)
MODEL = botocore.session.get_session().get_service_model("quicksight")
NOW = datetime(2026, 11, 25, tzinfo=timezone.utc)
USED = {name: f"arn:aws:quicksight:{REGION}:{ACCOUNT}:dataset/clickpipe-{name.replace('_', '-')}" for name in dash.DATASETS_USED}


def answer_only(client, operation: str, responses: list[dict]):
    """Answer ``operation`` on this client with the given responses, in order (a response with
    an "Error" key becomes that ClientError); every other call still goes to the emulator."""
    op_model = MODEL.operation_model(operation)
    queue = list(responses)
    for r in queue:
        if "Error" not in r:
            validate_parameters(r, op_model.output_shape)

    def handler(model, params, **kwargs):
        if model.name != operation:
            return None
        assert queue, f"unexpected extra {operation} call"
        r = dict(queue.pop(0))
        status = 200
        if "Error" in r:
            r["Error"] = dict(r["Error"])
            status = r["Error"].pop("HTTPStatusCode", 400)
        return AWSResponse(None, status, {}, None), {**r, "ResponseMetadata": {"HTTPStatusCode": status}}

    client.meta.events.register(f"before-call.quicksight.{operation}", handler)
    return queue


def not_found(message="not found"):
    return {"Error": {"Code": "ResourceNotFoundException", "Message": message, "HTTPStatusCode": 404}}


def record_calls(client) -> list[str]:
    calls: list[str] = []
    # before-parameter-build fires for every call, answered or not
    client.meta.events.register("before-parameter-build.quicksight", lambda model, **kw: calls.append(model.name))
    return calls


# -- the Definition, reviewed as data -------------------------------------------------------------------


def _walk(node, key=None):
    if isinstance(node, dict):
        for k, v in node.items():
            yield k, v
            yield from _walk(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v, key)


def test_the_definition_is_valid_for_the_api_model_and_consistent():
    d = dash.dashboard_definition(USED)
    assert not ParamValidator().validate(d, MODEL.shape_for("DashboardVersionDefinition")).has_errors()
    declared = {x["Identifier"] for x in d["DataSetIdentifierDeclarations"]}
    assert declared == set(dash.DATASETS_USED)
    calculated = {(c["DataSetIdentifier"], c["Name"]) for c in d["CalculatedFields"]}
    # Every column named anywhere exists in its dataset (a mart column, or a calculated field of it).
    columns = [v for k, v in _walk(d) if k in ("Column", "LinkToDataSetColumn")]
    assert columns
    for c in columns:
        ds = c["DataSetIdentifier"]
        assert ds in declared
        assert c["ColumnName"] in [n for n, _ in DATASETS_BY_NAME[ds].columns] or (ds, c["ColumnName"]) in calculated, c
    # Ids are unique and every reference resolves.
    sheet = d["Sheets"][0]
    visual_ids = [next(iter(v.values()))["VisualId"] for v in sheet["Visuals"]]
    assert len(set(visual_ids)) == len(visual_ids) == len(dash.VISUALS) <= 75
    assert visual_ids == [v.id for v in dash.VISUALS]
    defined = [v["FieldId"] for k, v in _walk(d) if k.endswith(("MeasureField", "DimensionField"))]
    assert len(defined) == len(set(defined)) == 20
    sorted_fields = {v["FieldSort"]["FieldId"] for k, vs in _walk(d) if k == "RowSort" for v in vs}
    series_fields = {s["FieldSeriesItem"]["FieldId"] for k, vs in _walk(d) if k == "Series" for s in vs}
    option_fields = {o["FieldId"] for k, vs in _walk(d) if k == "SelectedFieldOptions" for o in vs}
    assert sorted_fields and series_fields and option_fields
    assert sorted_fields | series_fields | option_fields <= set(defined)
    elements = sheet["Layouts"][0]["Configuration"]["GridLayout"]["Elements"]
    assert sorted(e["ElementId"] for e in elements) == sorted(visual_ids)
    rows: dict[int, int] = {}
    for e in elements:
        assert 1 <= e["RowSpan"] <= 21 and 1 <= e["ColumnSpan"] <= 36  # maxima botocore does not check
        rows[e["RowIndex"]] = rows.get(e["RowIndex"], 0) + e["ColumnSpan"]
    assert set(rows.values()) == {36}  # every row fills the 36-column grid exactly
    parameters = {next(iter(p.values()))["Name"] for p in d["ParameterDeclarations"]}
    referenced = {v for k, v in _walk(d) if k in ("Parameter", "ParameterName", "SourceParameterName")}
    assert referenced == parameters
    filter_ids = {f[next(iter(f))]["FilterId"] for g in d["FilterGroups"] for f in g["Filters"]}
    assert {c[next(iter(c))]["SourceFilterId"] for c in sheet["FilterControls"]} <= filter_ids
    for g in d["FilterGroups"]:
        for scope in g["ScopeConfiguration"]["SelectedSheets"]["SheetVisualScopingConfigurations"]:
            assert scope["SheetId"] == sheet["SheetId"] and set(scope.get("VisualIds", [])) <= set(visual_ids)
    # The date range applies across datasets by column name and type: every used dataset has dt as a date.
    assert all(("dt", "DATETIME") in DATASETS_BY_NAME[n].columns for n in dash.DATASETS_USED)


def test_the_local_page_has_every_visual_of_the_definition():
    from clickpipe_dagster.dashboard import page

    html = (page.HERE / "page.html").read_text()
    js = (page.HERE / "page.js").read_text()
    for v in dash.VISUALS:
        assert f'id="{v.id}"' in html or f'"{v.id}"' in js, v.id


def test_the_definition_digest_changes_with_the_definition_only():
    a = dash.dashboard_definition(USED)
    assert dash.definition_digest(a) == dash.definition_digest(dash.dashboard_definition(dict(USED)))
    assert dash.definition_digest(a) != dash.definition_digest(dash.dashboard_definition(USED, default_currency="EUR"))
    with pytest.raises(ValueError, match="funnel_daily"):
        dash.dashboard_definition({k: v for k, v in USED.items() if k != "funnel_daily"})


def test_settings_are_required_when_the_assets_run_with_the_variable_names():
    res = QuickSightResource(region_name=REGION, aws_account_id=ACCOUNT)
    with pytest.raises(
        DashboardError,
        match="CLICKPIPE_QUICKSIGHT_PRINCIPAL_ARN.*CLICKPIPE_QUICKSIGHT_VPC_CONNECTION_ARN"
        ".*CLICKPIPE_RDS_SECRET_ARN.*CLICKPIPE_RDS_HOST",
    ):
        res.publish_data_source()
    with pytest.raises(DashboardError, match="IMPORT_MODE"):
        QuickSightResource(**SETTINGS, aws_account_id=ACCOUNT, import_mode="SPIC").publish_data_sets(list(DATASETS))


# -- against the AWS API emulator -----------------------------------------------------------------------


@pytest.fixture
def moto_qs(moto_endpoint):
    """A QuickSight resource on the emulator, with its own ids (the server is shared by the session)."""
    return QuickSightResource(**SETTINGS, endpoint_url=moto_endpoint, id_prefix=f"t{uuid.uuid4().hex[:10]}")


def _moto_backend():
    from moto.quicksight.models import quicksight_backends

    return quicksight_backends[ACCOUNT][REGION]  # the threaded server runs in this process


def test_account_id_comes_from_sts_unless_configured(moto_endpoint):
    assert QuickSightResource(region_name=REGION, endpoint_url=moto_endpoint).account_id() == ACCOUNT
    res = QuickSightResource(region_name=REGION, endpoint_url=moto_endpoint, aws_account_id="111122223333")
    assert res.account_id() == "111122223333"
    assert res.data_source_arn == "arn:aws:quicksight:us-east-1:111122223333:datasource/clickpipe-rds"


def test_data_source_is_created_then_left_alone_then_updated_on_moto(moto_qs):
    qs = moto_qs.client()
    calls = record_calls(qs)
    first = moto_qs.publish_data_source()
    assert first.action == "created" and first.metadata["status"] == "CREATION_SUCCESSFUL"
    assert calls == ["DescribeDataSource", "CreateDataSource", "DescribeDataSource"]
    stored = qs.describe_data_source(AwsAccountId=ACCOUNT, DataSourceId=moto_qs.data_source_id)["DataSource"]
    assert stored["Type"] == "POSTGRESQL"
    assert stored["DataSourceParameters"] == {
        "PostgreSqlParameters": {"Host": SETTINGS["rds_host"], "Port": 5432, "Database": "clickpipe"}
    }
    assert stored["VpcConnectionProperties"] == {"VpcConnectionArn": SETTINGS["vpc_connection_arn"]}
    assert stored["SslProperties"] == {"DisableSsl": False}
    tags = qs.list_tags_for_resource(ResourceArn=stored["Arn"])["Tags"]
    assert {"Key": "project", "Value": "clickpipe"} in tags

    # Second run: nothing differs, the principal already holds every action: no write call at all.
    answer_only(qs, "DescribeDataSourcePermissions", [{"Permissions": moto_qs._permissions(DATA_SOURCE_ACTIONS)}])
    calls.clear()
    assert moto_qs.publish_data_source().action == "unchanged"
    assert calls == ["DescribeDataSource", "DescribeDataSourcePermissions"]

    # The endpoint moved (a restored instance): the data source is updated in place.
    moved = QuickSightResource(
        **{**SETTINGS, "rds_host": "restored.abc123.us-east-1.rds.amazonaws.com"},
        endpoint_url=moto_qs.endpoint_url,
        id_prefix=moto_qs.id_prefix,
    )
    mqs = moved.client()
    admin_only = [
        {"Principal": f"arn:aws:quicksight:{REGION}:{ACCOUNT}:user/default/admin", "Actions": ["quicksight:DescribeDataSource"]}
    ]
    answer_only(mqs, "DescribeDataSourcePermissions", [{"Permissions": admin_only}])
    answer_only(mqs, "UpdateDataSourcePermissions", [{"DataSourceId": moved.data_source_id, "Status": 200}])
    calls = record_calls(mqs)
    updated = moved.publish_data_source()
    assert updated.action == "updated" and updated.metadata["changed"] == "DataSourceParameters"
    assert updated.metadata["permissions_granted"] == len(DATA_SOURCE_ACTIONS)
    assert calls == [
        "DescribeDataSource",
        "UpdateDataSource",
        "DescribeDataSourcePermissions",
        "UpdateDataSourcePermissions",
        "DescribeDataSource",
    ]
    stored = mqs.describe_data_source(AwsAccountId=ACCOUNT, DataSourceId=moved.data_source_id)["DataSource"]
    assert stored["DataSourceParameters"]["PostgreSqlParameters"]["Host"] == "restored.abc123.us-east-1.rds.amazonaws.com"


def test_dashboard_is_created_with_its_definition_then_left_alone_on_moto(moto_qs):
    qs = moto_qs.client()
    calls = record_calls(qs)
    first = moto_qs.publish_dashboard()
    assert first.action == "created" and first.metadata["published_version"] == 1
    assert calls == ["DescribeDashboard", "CreateDashboard", "DescribeDashboard"]
    stored = _moto_backend().dashboards[moto_qs.dashboard_id]
    want = moto_qs.dashboard_request()
    assert stored.definition == want["Definition"]  # what moto received, after botocore's validation
    assert stored.permissions == [{"Principal": PRINCIPAL, "Actions": sorted(DASHBOARD_ACTIONS)}]
    declared = {d["Identifier"]: d["DataSetArn"] for d in stored.definition["DataSetIdentifierDeclarations"]}
    assert declared["revenue_daily"] == f"arn:aws:quicksight:{REGION}:{ACCOUNT}:dataset/{moto_qs.id_prefix}-revenue-daily"
    described = qs.describe_dashboard(AwsAccountId=ACCOUNT, DashboardId=moto_qs.dashboard_id)["Dashboard"]
    assert described["Version"]["Description"] == want["VersionDescription"]

    answer_only(qs, "DescribeDashboardPermissions", [{"Permissions": moto_qs._permissions(DASHBOARD_ACTIONS)}])
    calls.clear()
    assert moto_qs.publish_dashboard().action == "unchanged"
    assert calls == ["DescribeDashboard", "DescribeDashboardPermissions"]


def test_data_sets_are_created_on_moto_and_their_spice_ingestions_reported(moto_qs):
    qs = moto_qs.client()
    names = [ds.name for ds in DATASETS]
    answer_only(qs, "DescribeDataSet", [not_found() for _ in names])
    ingestion = {
        "Arn": "arn:aws:quicksight:us-east-1:123456789012:ingestion/x",
        "CreatedTime": NOW,
        "IngestionStatus": "COMPLETED",
        "RowInfo": {"RowsIngested": 12, "RowsDropped": 0},
    }
    answer_only(qs, "DescribeIngestion", [{"Ingestion": ingestion} for _ in names])
    calls = record_calls(qs)
    results = moto_qs.publish_data_sets(list(DATASETS))
    # moto's create_data_set returns no IngestionId (QuickSight does for SPICE), so one is started.
    assert calls == ["DescribeDataSet", "CreateDataSet", "CreateIngestion"] * len(names) + ["DescribeIngestion"] * len(names)
    stored = _moto_backend().data_sets
    for ds in DATASETS:
        p = results[ds.name]
        assert p.action == "created" and p.refresh.status == "COMPLETED" and p.refresh.metadata["rows_ingested"] == 12
        assert stored[moto_qs.data_set_id(ds)].name == f"clickpipe {ds.name}"
        assert p.metadata["import_mode"] == "SPICE"


def test_materializing_the_dashboards_group_on_moto(moto_qs, monkeypatch, tmp_path):
    """The assets with the aws resource: data source and dashboard on the emulator, datasets' missing
    describe calls answered, checks reporting the ingestion outcome."""
    original = QuickSightResource.client

    def client(self, service="quicksight"):
        c = original(self, service)
        if service == "quicksight" and not getattr(c, "_answered", False):
            answer_only(c, "DescribeDataSet", [not_found() for _ in DATASETS])
            statuses = ["COMPLETED", "FAILED"] + ["COMPLETED"] * (len(DATASETS) - 2)  # funnel_daily fails
            answer_only(
                c,
                "DescribeIngestion",
                [
                    _ingestion(
                        s, **({"ErrorInfo": {"Type": "CONNECTION_FAILURE", "Message": "timeout"}} if s == "FAILED" else {})
                    )
                    for s in statuses
                ],
            )
            c._answered = True
        return c

    monkeypatch.setattr(QuickSightResource, "client", client)
    resources = {
        "dashboards": QuickSightResource(**SETTINGS, endpoint_url=moto_qs.endpoint_url, id_prefix=moto_qs.id_prefix),
        "warehouse": LocalWarehouseResource(pg_dir=str(tmp_path / "unused"), pg_url="postgresql://unused@127.0.0.1:1/x"),
    }
    with dg.instance_for_test() as instance:
        result = dg.materialize([dashboard_data_source, dashboard_datasets, dashboard], instance=instance, resources=resources)
    assert result.success
    actions = {
        e.asset_key.to_user_string(): e.step_materialization_data.materialization.metadata["action"].value
        for e in result.get_asset_materialization_events()
    }
    assert actions["dashboard/data_source"] == "created" and actions["dashboard/dashboard"] == "created"
    assert actions["dashboard/dataset_funnel_daily"] == "created"
    checks = {c.asset_key.to_user_string(): c for c in result.get_asset_check_evaluations()}
    assert not checks["dashboard/dataset_funnel_daily"].passed  # the second ingestion FAILED
    assert checks["dashboard/dataset_funnel_daily"].severity == dg.AssetCheckSeverity.ERROR
    assert "CONNECTION_FAILURE" in checks["dashboard/dataset_funnel_daily"].description
    assert all(c.passed for k, c in checks.items() if k != "dashboard/dataset_funnel_daily")


# -- with botocore's Stubber ----------------------------------------------------------------------------


@pytest.fixture
def stubbed():
    """A resource whose QuickSight client answers from a Stubber (no endpoint is ever contacted)."""
    res = QuickSightResource(**SETTINGS, aws_account_id=ACCOUNT)
    client = boto3.client("quicksight", region_name=REGION)
    res._clients["quicksight"] = client
    with Stubber(client) as stub:
        yield res, stub
        stub.assert_no_pending_responses()


def _ingestion(status, **extra):
    return {
        "Ingestion": {
            "Arn": f"arn:aws:quicksight:{REGION}:{ACCOUNT}:ingestion/x",
            "IngestionStatus": status,
            "CreatedTime": NOW,
            **extra,
        }
    }


def test_data_source_update_and_permission_grant_with_stubber(stubbed):
    res, stub = stubbed
    ids = {"AwsAccountId": ACCOUNT, "DataSourceId": "clickpipe-rds"}
    want = res.data_source_request()
    stale = {
        **{k: v for k, v in want.items() if k != "Credentials"},
        "Arn": res.data_source_arn,
        "Status": "CREATION_SUCCESSFUL",
        "SecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:old-XyZ",
        "DataSourceParameters": {"PostgreSqlParameters": {"Host": "old", "Port": 5432, "Database": "clickpipe"}},
    }
    stub.add_response("describe_data_source", {"DataSource": stale}, ids)
    stub.add_response(
        "update_data_source",
        {"Arn": res.data_source_arn, "UpdateStatus": "UPDATE_IN_PROGRESS"},
        {**ids, **{k: v for k, v in want.items() if k != "Type"}},
    )
    held = ["quicksight:DescribeDataSource", "quicksight:PassDataSource"]
    stub.add_response("describe_data_source_permissions", {"Permissions": [{"Principal": PRINCIPAL, "Actions": held}]}, ids)
    missing = sorted(set(DATA_SOURCE_ACTIONS) - set(held))
    stub.add_response(
        "update_data_source_permissions",
        {"DataSourceId": "clickpipe-rds"},
        {**ids, "GrantPermissions": [{"Principal": PRINCIPAL, "Actions": missing}]},
    )
    stub.add_response("describe_data_source", {"DataSource": {**stale, "Status": "UPDATE_IN_PROGRESS"}}, ids)
    stub.add_response("describe_data_source", {"DataSource": {**stale, "Status": "UPDATE_SUCCESSFUL"}}, ids)
    p = res.publish_data_source()
    assert p.action == "updated" and p.metadata["changed"] == "DataSourceParameters, SecretArn"
    assert p.metadata["permissions_granted"] == len(missing) and p.metadata["status"] == "UPDATE_SUCCESSFUL"


def test_a_failed_data_source_says_why_with_stubber(stubbed):
    res, stub = stubbed
    ids = {"AwsAccountId": ACCOUNT, "DataSourceId": "clickpipe-rds"}
    stub.add_client_error("describe_data_source", "ResourceNotFoundException", "no", 404)
    stub.add_response(
        "create_data_source",
        {"Arn": res.data_source_arn, "CreationStatus": "CREATION_IN_PROGRESS"},
        {
            **ids,
            **res.data_source_request(),
            "Permissions": [{"Principal": PRINCIPAL, "Actions": sorted(DATA_SOURCE_ACTIONS)}],
            "Tags": [{"Key": "project", "Value": "clickpipe"}],
        },
    )
    stub.add_response(
        "describe_data_source",
        {
            "DataSource": {
                "Status": "CREATION_FAILED",
                "ErrorInfo": {"Type": "CONNECTION_FAILURE", "Message": "could not reach the host"},
            }
        },
        ids,
    )
    with pytest.raises(DashboardError, match="CREATION_FAILED: CONNECTION_FAILURE: could not reach the host"):
        res.publish_data_source()


def test_an_access_denied_names_what_the_identity_needs_with_stubber(stubbed):
    res, stub = stubbed
    stub.add_client_error("describe_dashboard", "AccessDeniedException", "not authorized", 401)
    with pytest.raises(DashboardError, match="describe_dashboard: AccessDeniedException: not authorized .*needs QuickSight's"):
        res.publish_dashboard()


def _data_set_from(res, ds, **changes):
    req = res.data_set_request(ds)
    table = req["PhysicalTableMap"][ds.table_id]["RelationalTable"]
    described_columns = [{**c, "SubType": "FIXED"} if c["Type"] == "DECIMAL" else c for c in table["InputColumns"]]
    described = {
        "Arn": res._arn("dataset", req["DataSetId"]),
        "DataSetId": req["DataSetId"],
        "Name": req["Name"],
        "ImportMode": req["ImportMode"],
        "PhysicalTableMap": {ds.table_id: {"RelationalTable": {**table, "InputColumns": described_columns}}},
    }
    described.update(changes)
    return described


def test_data_sets_unchanged_updated_and_their_ingestion_outcomes_with_stubber(stubbed):
    res, stub = stubbed
    same, changed, dropped = DATASETS_BY_NAME["daily_events"], DATASETS_BY_NAME["revenue_daily"], DATASETS_BY_NAME["users"]
    all_actions = [{"Principal": PRINCIPAL, "Actions": sorted(DATA_SET_ACTIONS)}]
    # daily_events: as wanted (QuickSight's echo adds SubType): no update, a new ingestion.
    stub.add_response(
        "describe_data_set",
        {"DataSet": _data_set_from(res, same)},
        {"AwsAccountId": ACCOUNT, "DataSetId": "clickpipe-daily-events"},
    )
    stub.add_response(
        "describe_data_set_permissions",
        {"Permissions": all_actions},
        {"AwsAccountId": ACCOUNT, "DataSetId": "clickpipe-daily-events"},
    )
    stub.add_response(
        "create_ingestion",
        {"IngestionId": "i1"},
        {"AwsAccountId": ACCOUNT, "DataSetId": "clickpipe-daily-events", "IngestionId": ANY, "IngestionType": "FULL_REFRESH"},
    )
    # revenue_daily: a column's type differs (someone edited it in the console): updated, which starts an ingestion.
    edited = _data_set_from(res, changed)
    edited["PhysicalTableMap"]["revenue-daily"]["RelationalTable"]["InputColumns"][5]["Type"] = "STRING"
    stub.add_response("describe_data_set", {"DataSet": edited}, {"AwsAccountId": ACCOUNT, "DataSetId": "clickpipe-revenue-daily"})
    stub.add_response(
        "update_data_set",
        {"DataSetId": "clickpipe-revenue-daily", "IngestionId": "i2"},
        {"AwsAccountId": ACCOUNT, **res.data_set_request(changed)},
    )
    admin_only = [
        {"Principal": f"arn:aws:quicksight:{REGION}:{ACCOUNT}:user/default/admin", "Actions": ["quicksight:DescribeDataSet"]}
    ]
    stub.add_response(
        "describe_data_set_permissions",
        {"Permissions": admin_only},
        {"AwsAccountId": ACCOUNT, "DataSetId": "clickpipe-revenue-daily"},
    )
    stub.add_response(
        "update_data_set_permissions",
        {"DataSetId": "clickpipe-revenue-daily"},
        {"AwsAccountId": ACCOUNT, "DataSetId": "clickpipe-revenue-daily", "GrantPermissions": all_actions},
    )
    # users: new; QuickSight starts the first ingestion itself.
    stub.add_client_error("describe_data_set", "ResourceNotFoundException", "no", 404)
    stub.add_response(
        "create_data_set",
        {"DataSetId": "clickpipe-users", "IngestionId": "i3"},
        {
            "AwsAccountId": ACCOUNT,
            **res.data_set_request(dropped),
            "Permissions": all_actions,
            "Tags": [{"Key": "project", "Value": "clickpipe"}],
        },
    )
    # Polling, all three per round: i1 completes in round 2, i2 fails, i3 completes with dropped rows.
    stub.add_response(
        "describe_ingestion",
        _ingestion("RUNNING"),
        {"AwsAccountId": ACCOUNT, "DataSetId": "clickpipe-daily-events", "IngestionId": ANY},
    )
    stub.add_response(
        "describe_ingestion",
        _ingestion("FAILED", ErrorInfo={"Type": "SQL_TABLE_NOT_FOUND", "Message": "marts.revenue_daily"}),
        {"AwsAccountId": ACCOUNT, "DataSetId": "clickpipe-revenue-daily", "IngestionId": "i2"},
    )
    stub.add_response(
        "describe_ingestion",
        _ingestion("COMPLETED", RowInfo={"RowsIngested": 29, "RowsDropped": 1}),
        {"AwsAccountId": ACCOUNT, "DataSetId": "clickpipe-users", "IngestionId": "i3"},
    )
    stub.add_response(
        "describe_ingestion",
        _ingestion("COMPLETED", RowInfo={"RowsIngested": 14, "RowsDropped": 0}, IngestionTimeInSeconds=41),
        {"AwsAccountId": ACCOUNT, "DataSetId": "clickpipe-daily-events", "IngestionId": ANY},
    )
    out = res.publish_data_sets([same, changed, dropped])
    assert [out[n].action for n in ("daily_events", "revenue_daily", "users")] == ["unchanged", "updated", "created"]
    assert out["revenue_daily"].metadata["changed"] == "PhysicalTableMap"
    assert out["revenue_daily"].metadata["permissions_granted"] == len(DATA_SET_ACTIONS)
    ok, failed, partial = out["daily_events"].refresh, out["revenue_daily"].refresh, out["users"].refresh
    assert ok.passed and ok.metadata == {
        "ingestion_id": ANY,
        "status": "COMPLETED",
        "rows_ingested": 14,
        "rows_dropped": 0,
        "seconds": 41,
    }
    assert not failed.passed and failed.severity == dg.AssetCheckSeverity.ERROR and "SQL_TABLE_NOT_FOUND" in failed.description
    assert partial.status == "ROWS_DROPPED" and not partial.passed and "1 dropped" in partial.description


def test_an_ingestion_still_running_at_the_deadline_is_a_warning_with_stubber(stubbed):
    res, stub = stubbed
    ds = DATASETS_BY_NAME["funnel_daily"]
    stub.add_client_error("describe_data_set", "ResourceNotFoundException", "no", 404)
    stub.add_response("create_data_set", {"DataSetId": "clickpipe-funnel-daily", "IngestionId": "slow"})
    for _ in range(3):  # ingestion_timeout_seconds / poll_interval_seconds polls, then it gives up
        stub.add_response("describe_ingestion", _ingestion("QUEUED"))
    refresh = res.publish_data_sets([ds])["funnel_daily"].refresh
    assert refresh.status == "TIMED_OUT" and refresh.severity == dg.AssetCheckSeverity.WARN and not refresh.passed
    assert "still QUEUED" in refresh.description


def test_direct_query_data_sets_need_no_ingestion_with_stubber():
    res = QuickSightResource(**SETTINGS, aws_account_id=ACCOUNT, import_mode="DIRECT_QUERY")
    client = boto3.client("quicksight", region_name=REGION)
    res._clients["quicksight"] = client
    with Stubber(client) as direct:
        direct.add_client_error("describe_data_set", "ResourceNotFoundException", "no", 404)
        direct.add_response(
            "create_data_set",
            {"DataSetId": "clickpipe-top-pages-daily"},
            {
                "AwsAccountId": ACCOUNT,
                **res.data_set_request(DATASETS_BY_NAME["top_pages_daily"]),
                "Permissions": ANY,
                "Tags": ANY,
            },
        )
        p = res.publish_data_sets([DATASETS_BY_NAME["top_pages_daily"]])["top_pages_daily"]
        direct.assert_no_pending_responses()
    assert p.metadata["import_mode"] == "DIRECT_QUERY" and p.refresh.status == "NOT_NEEDED" and p.refresh.passed


def test_a_changed_dashboard_becomes_a_new_published_version_with_stubber(stubbed):
    res, stub = stubbed
    ids = {"AwsAccountId": ACCOUNT, "DashboardId": "clickpipe-dashboard"}
    want = res.dashboard_request()
    old = {
        "DashboardId": "clickpipe-dashboard",
        "Arn": res._arn("dashboard", "clickpipe-dashboard"),
        "Version": {"VersionNumber": 3, "Status": "CREATION_SUCCESSFUL", "Description": "clickpipe definition 0123456789abcdef"},
    }
    stub.add_response("describe_dashboard", {"Dashboard": old}, ids)
    stub.add_response(
        "update_dashboard",
        {"VersionArn": f"{old['Arn']}/version/4", "CreationStatus": "CREATION_IN_PROGRESS"},
        {**ids, **{k: v for k, v in want.items() if k != "DashboardId"}},
    )
    v4 = {**old, "Version": {"VersionNumber": 4, "Description": want["VersionDescription"]}}
    stub.add_response(
        "describe_dashboard",
        {"Dashboard": {**v4, "Version": {**v4["Version"], "Status": "CREATION_IN_PROGRESS"}}},
        {**ids, "VersionNumber": 4},
    )
    stub.add_response(
        "describe_dashboard",
        {"Dashboard": {**v4, "Version": {**v4["Version"], "Status": "CREATION_SUCCESSFUL"}}},
        {**ids, "VersionNumber": 4},
    )
    stub.add_response("update_dashboard_published_version", {"DashboardId": "clickpipe-dashboard"}, {**ids, "VersionNumber": 4})
    stub.add_response(
        "describe_dashboard_permissions", {"Permissions": [{"Principal": PRINCIPAL, "Actions": list(DASHBOARD_ACTIONS)}]}, ids
    )
    p = res.publish_dashboard()
    assert p.action == "updated" and p.metadata["published_version"] == 4 and p.metadata["permissions_granted"] == 0
    assert p.metadata["url"].value == "https://us-east-1.quicksight.aws.amazon.com/sn/dashboards/clickpipe-dashboard"


def test_a_dashboard_version_that_fails_lists_quicksight_errors_with_stubber(stubbed):
    res, stub = stubbed
    ids = {"AwsAccountId": ACCOUNT, "DashboardId": "clickpipe-dashboard"}
    stub.add_client_error("describe_dashboard", "ResourceNotFoundException", "no", 404)
    stub.add_response(
        "create_dashboard",
        {"VersionArn": f"{res._arn('dashboard', 'clickpipe-dashboard')}/version/1"},
        {
            **ids,
            **{k: v for k, v in res.dashboard_request().items() if k != "DashboardId"},
            "Permissions": [{"Principal": PRINCIPAL, "Actions": sorted(DASHBOARD_ACTIONS)}],
            "Tags": ANY,
        },
    )
    errors = [{"Type": "COLUMN_TYPE_MISMATCH", "Message": "dt is not a date", "ViolatedEntities": [{"Path": "sheet/overview"}]}]
    stub.add_response(
        "describe_dashboard",
        {"Dashboard": {"Version": {"VersionNumber": 1, "Status": "CREATION_FAILED", "Errors": errors}}},
        {**ids, "VersionNumber": 1},
    )
    with pytest.raises(DashboardError, match="version 1: CREATION_FAILED: COLUMN_TYPE_MISMATCH: dt is not a date"):
        res.publish_dashboard()


# -- the assets' reporting, with a stand-in service -------------------------------------------------------


class _FakeDashboards(DashboardsResource):
    statuses: dict

    def publish_data_source(self, warehouse):
        return Published("unchanged", {})

    def publish_data_sets(self, datasets, warehouse):
        return {
            ds.name: Published("unchanged", {"n": 1}, Refresh(self.statuses.get(ds.name, "COMPLETED"), f"{ds.name} refresh"))
            for ds in datasets
        }

    def publish_dashboard(self, warehouse):
        raise DashboardError("the principal cannot be granted")


def test_dataset_checks_report_each_refresh_and_a_dashboard_error_fails_the_step(tmp_path):
    resources = {
        "dashboards": _FakeDashboards(statuses={"funnel_daily": "TIMED_OUT", "users": "CANCELLED"}),
        "warehouse": LocalWarehouseResource(pg_dir=str(tmp_path / "unused")),
    }
    with dg.instance_for_test() as instance:
        result = dg.materialize([dashboard_datasets, dashboard], instance=instance, resources=resources, raise_on_error=False)
    assert not result.success
    checks = {c.asset_key.to_user_string(): c for c in result.get_asset_check_evaluations()}
    assert set(checks) == {ds.asset.to_user_string() for ds in DATASETS} and {c.check_name for c in checks.values()} == {REFRESH_CHECK}
    assert not checks["dashboard/dataset_funnel_daily"].passed
    assert checks["dashboard/dataset_funnel_daily"].severity == dg.AssetCheckSeverity.WARN
    assert (
        not checks["dashboard/dataset_users"].passed and checks["dashboard/dataset_users"].severity == dg.AssetCheckSeverity.ERROR
    )
    assert checks["dashboard/dataset_daily_events"].passed
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "the principal cannot be granted" in failure.event_specific_data.error.message


def test_resources_for_picks_the_dashboards_service(monkeypatch, aws_settings):
    from clickpipe_dagster.definitions import build_definitions
    from clickpipe_dagster.environments import resolved, resources_for
    from clickpipe_dagster.resources.dashboard import LocalDashboardResource

    assert isinstance(resources_for("local")["dashboards"], LocalDashboardResource)
    monkeypatch.setenv("CLICKPIPE_RDS_SECRET_ARN", SETTINGS["rds_secret_arn"])
    monkeypatch.setenv("CLICKPIPE_QUICKSIGHT_IMPORT_MODE", "direct_query")
    monkeypatch.setenv("CLICKPIPE_QUICKSIGHT_PRINCIPAL_ARN", PRINCIPAL)
    configured = resources_for("aws")["dashboards"]
    assert isinstance(configured, QuickSightResource)
    # deployment-specific settings are environment variables, read when the resource is used
    assert configured.principal_arn == "CLICKPIPE_QUICKSIGHT_PRINCIPAL_ARN" and configured.rds_secret_arn == "CLICKPIPE_RDS_SECRET_ARN"
    aws = resolved(configured)
    assert (
        aws.import_mode == "DIRECT_QUERY" and aws.principal_arn == PRINCIPAL and aws.rds_secret_arn == SETTINGS["rds_secret_arn"]
    )
    defs = build_definitions("aws")
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    for ds in DATASETS:
        node = graph.get(ds.asset)
        assert node.group_name == "dashboards" and ds.upstream_asset in node.parent_keys
        assert node.automation_condition is not None
    assert defs.resolve_job_def("dashboards_job") is not None
    sensor = defs.resolve_sensor_def("automation_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING

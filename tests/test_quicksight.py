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
from rehearsal import definition_check
from rehearsal.definition_check import ACCEPTS
from rehearsal.definition_check import walk as _walk
from rehearsal.model_check import operation_problems

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


def _one(node: dict) -> tuple[str, dict]:
    """The single member of a union structure: (its name, its value)."""
    ((kind, value),) = node.items()
    return kind, value


def field_problems(d: dict) -> list[str]:
    """``rehearsal.definition_check.field_problems`` with the columns of the mart contract."""
    return definition_check.field_problems(d, {ds.name: dict(ds.columns) for ds in DATASETS})


@pytest.fixture(scope="module")
def definition():
    return dash.dashboard_definition(USED)


def test_the_definition_passes_the_api_model_for_create_dashboard_and_create_analysis(definition):
    for shape in ("DashboardVersionDefinition", "AnalysisDefinition"):
        report = ParamValidator().validate(definition, MODEL.shape_for(shape))
        assert not report.has_errors(), report.generate_report()
    # and the checks botocore leaves to the service (patterns, lengths, enums), on both requests
    account = {"AwsAccountId": ACCOUNT, "Name": "clickpipe", "Definition": definition}
    assert operation_problems(MODEL, "CreateDashboard", {**account, "DashboardId": "clickpipe-dashboard"}) == []
    assert operation_problems(MODEL, "CreateAnalysis", {**account, "AnalysisId": "clickpipe-analysis"}) == []


def test_create_analysis_takes_the_same_definition_through_botocore():
    """moto has no create_analysis: botocore validates the request (and the session's model check its
    patterns) before the Stubber answers it."""
    client = boto3.client("quicksight", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    params = {"AwsAccountId": ACCOUNT, "AnalysisId": "clickpipe-analysis", "Name": "clickpipe",
              "Definition": dash.dashboard_definition(USED)}  # fmt: skip
    with Stubber(client) as stub:
        stub.add_response("create_analysis", {"AnalysisId": "clickpipe-analysis", "CreationStatus": "CREATION_IN_PROGRESS"}, params)
        assert client.create_analysis(**params)["CreationStatus"] == "CREATION_IN_PROGRESS"
        stub.assert_no_pending_responses()


def test_every_field_exists_in_its_dataset_with_a_type_its_visual_accepts(definition):
    assert field_problems(definition) == []
    named = [v for k, v in _walk(definition) if k in ACCEPTS and isinstance(v, dict) and "Column" in v]
    # every dataset the sheets need is read by some field
    assert {v["Column"]["DataSetIdentifier"] for v in named} == set(dash.DATASETS_USED)


@pytest.mark.parametrize(
    "where, change, problem",
    [
        ("channel-sessions", lambda f: f["Column"].update(ColumnName="channel"),
         "NumericalMeasureField channel-sessions on channel: a STRING column"),
        ("channel", lambda f: f["Column"].update(ColumnName="sessions"),
         "CategoricalDimensionField channel on sessions: a INTEGER column"),
        ("cohort-week", lambda f: f["Column"].update(ColumnName="weeks_since"),
         "DateDimensionField cohort-week on weeks_since: a INTEGER column"),
        ("transition-from", lambda f: f["Column"].update(ColumnName="from_path"),
         "page_transitions_daily.from_path is not a column"),
        ("device-class", lambda f: f["Column"].update(DataSetIdentifier="sessions"),
         "data set sessions is not declared"),
        ("cohort-share", lambda f: f.update(AggregationFunction={"SimpleNumericalAggregation": "SUM"}),
         "aggregates an aggregated calculated field again"),
    ],
)  # fmt: skip
def test_the_field_check_catches_a_wrong_field(where, change, problem):
    d = dash.dashboard_definition(USED)
    fields = [v for k, v in _walk(d) if k.endswith(("MeasureField", "DimensionField")) and v["FieldId"] == where]
    assert len(fields) == 1, where
    change(fields[0])
    assert any(problem in p for p in field_problems(d)), field_problems(d)


def test_the_field_check_catches_a_wrong_calculated_field():
    d = dash.dashboard_definition(USED)
    share = next(c for c in d["CalculatedFields"] if c["Name"] == "cohort_share")
    share["Expression"] = share["Expression"].replace("{purchasers}", "{buyers}").replace("CohortMeasure", "Measure")
    problems = field_problems(d)
    assert any("{buyers} is not a column of retention_weekly" in p for p in problems)
    assert any("parameter Measure is not declared" in p for p in problems)
    rate = next(c for c in d["CalculatedFields"] if c["Name"] == "devices_bounce_rate")
    rate["Expression"] = "sum({browser}) / sum({sessions})"
    assert any("aggregates browser, a STRING column" in p for p in field_problems(d))


def test_the_sheets_are_the_local_pages_with_the_same_visuals_and_titles(definition):
    sheets = definition["Sheets"]
    assert [(s["SheetId"], s["Name"]) for s in sheets] == [(s.id, s.name) for s in dash.SHEETS]
    assert [s.id for s in dash.SHEETS] == ["overview", "acquisition", "engagement", "retention", "paths"]
    all_ids: list[str] = []
    for sheet, spec in zip(sheets, dash.SHEETS):
        visuals = [_one(v) for v in sheet["Visuals"]]
        assert [v["VisualId"] for _, v in visuals] == [s.id for s in spec.visuals] and len(visuals) <= 75
        for (_, v), s in zip(visuals, spec.visuals):
            assert v["Title"]["FormatText"]["PlainText"] == s.title
            assert v.get("Subtitle", {}).get("FormatText", {}).get("PlainText", "") == s.subtitle
        all_ids += [v["VisualId"] for _, v in visuals]
    assert len(all_ids) == len(set(all_ids)) == len(dash.ALL_VISUALS)
    kinds = {v["VisualId"]: k for s in sheets for k, v in map(_one, s["Visuals"])}
    assert kinds["cohorts"] == "HeatMapVisual" and kinds["transitions"] == kinds["purchase-paths"] == "TableVisual"


def test_the_definition_is_consistent(definition):
    d = definition
    # Field ids are unique; every sort, series and label option names a field of its own visual.
    defined = [v["FieldId"] for k, v in _walk(d) if k.endswith(("MeasureField", "DimensionField"))]
    assert len(defined) == len(set(defined)) > 40
    for sheet in d["Sheets"]:
        for visual in sheet["Visuals"]:
            kind, v = _one(visual)
            own = {x["FieldId"] for k, x in _walk(v) if k.endswith(("MeasureField", "DimensionField"))}
            referenced = {x["FieldSort"]["FieldId"] for k, xs in _walk(v) if k.endswith(("RowSort", "CategorySort", "ColumnSort", "Sort"))
                          and isinstance(xs, list) for x in xs if "FieldSort" in x}  # fmt: skip
            referenced |= {s["FieldSeriesItem"]["FieldId"] for k, xs in _walk(v) if k == "Series" for s in xs}
            referenced |= {o["FieldId"] for k, xs in _walk(v) if k == "SelectedFieldOptions" for o in xs}
            assert referenced <= own, (v["VisualId"], referenced - own)
    # Each sheet's grid holds its visuals, every row fills the 36 columns exactly.
    for sheet in d["Sheets"]:
        elements = sheet["Layouts"][0]["Configuration"]["GridLayout"]["Elements"]
        assert sorted(e["ElementId"] for e in elements) == sorted(_one(v)[1]["VisualId"] for v in sheet["Visuals"])
        rows: dict[int, int] = {}
        for e in elements:
            assert 1 <= e["RowSpan"] <= 21 and 1 <= e["ColumnSpan"] <= 36  # maxima botocore does not check
            rows[e["RowIndex"]] = rows.get(e["RowIndex"], 0) + e["ColumnSpan"]
        assert set(rows.values()) == {36}, sheet["SheetId"]
    # Parameters: every declared one is used, every used one declared; control ids unique across sheets.
    parameters = {_one(p)[1]["Name"] for p in d["ParameterDeclarations"]}
    referenced = {v for k, v in _walk(d) if k in ("Parameter", "ParameterName", "SourceParameterName")}
    expressions = " ".join(c["Expression"] for c in d["CalculatedFields"])
    assert referenced | {p for p in parameters if "${" + p + "}" in expressions} == parameters
    controls = [_one(c)[1] for s in d["Sheets"] for c in s.get("ParameterControls", []) + s.get("FilterControls", [])]
    control_ids = [c.get("ParameterControlId") or c.get("FilterControlId") for c in controls]
    assert len(control_ids) == len(set(control_ids))
    filter_ids = {_one(f)[1]["FilterId"] for g in d["FilterGroups"] for f in g["Filters"]}
    assert {_one(c)[1]["SourceFilterId"] for s in d["Sheets"] for c in s.get("FilterControls", [])} <= filter_ids
    # Filter scopes name sheets that exist and visuals on that sheet.
    on_sheet = {s["SheetId"]: {_one(v)[1]["VisualId"] for v in s["Visuals"]} for s in d["Sheets"]}
    for g in d["FilterGroups"]:
        for scope in g["ScopeConfiguration"]["SelectedSheets"]["SheetVisualScopingConfigurations"]:
            assert scope["SheetId"] in on_sheet and set(scope.get("VisualIds", [])) <= on_sheet[scope["SheetId"]]


def test_the_date_range_filters_every_daily_visual_and_not_the_cohorts(definition):
    group = next(g for g in definition["FilterGroups"] if g["FilterGroupId"] == "date-range")
    assert group["CrossDataset"] == "ALL_DATASETS"  # applies to every data set with a dt of the same type
    scopes = group["ScopeConfiguration"]["SelectedSheets"]["SheetVisualScopingConfigurations"]
    assert {(s["SheetId"], s["Scope"]) for s in scopes} == {(s, "ALL_VISUALS") for s in ("overview", "acquisition", "engagement", "paths")}
    # every data set those sheets read has dt as a date, so the one filter reaches each of their visuals
    for sheet in definition["Sheets"]:
        read = {v["Column"]["DataSetIdentifier"] for k, v in _walk(sheet["Visuals"]) if k in ACCEPTS and "Column" in v}
        dated = sheet["SheetId"] != "retention"
        assert all((("dt", "DATETIME") in DATASETS_BY_NAME[ds].columns) == dated for ds in read), (sheet["SheetId"], read)
        pickers = {_one(c)[1]["SourceParameterName"] for c in sheet["ParameterControls"] if "DateTimePicker" in c}
        assert pickers == ({dash.P_DATE_FROM, dash.P_DATE_TO} if dated else set())
    retention = next(s for s in definition["Sheets"] if s["SheetId"] == "retention")
    (measure,) = [_one(c)[1] for c in retention["ParameterControls"]]
    assert measure["SourceParameterName"] == dash.P_COHORT_MEASURE and measure["SelectableValues"]["Values"] == ["users", "purchasers"]
    assert set(dash.COHORT_MEASURES) <= {n for n, _ in DATASETS_BY_NAME["retention_weekly"].columns}


def test_the_rehearsal_stand_in_fails_a_version_whose_fields_its_data_sets_lack():
    """The rehearsal's QuickSight store checks the Definition against the data sets created on it (not the
    contract): the dashboard's passes; a data set without a column the sheets read, a measure on a
    string, or an undeclared parameter fails the version with QuickSight's error types."""
    from rehearsal.quicksight import QuickSightStore

    res = QuickSightResource(**SETTINGS, aws_account_id=ACCOUNT, import_mode="DIRECT_QUERY")  # no SPICE read
    store = QuickSightStore(read_secret=lambda arn: {}, log=lambda *a: None)
    for ds in DATASETS:
        store.handle("CreateDataSet", {"AwsAccountId": ACCOUNT, **res.data_set_request(ds)})
    want = res.dashboard_request()

    def version(definition):
        store.handle("CreateDashboard", {**want, "Definition": definition})
        return store.handle("DescribeDashboard", {"DashboardId": want["DashboardId"]})["Dashboard"]["Version"]

    good = version(want["Definition"])
    assert good["Status"] == "CREATION_SUCCESSFUL" and "Errors" not in good
    assert [s["Name"] for s in good["Sheets"]] == [s.name for s in dash.SHEETS]

    wrong = dash.dashboard_definition(USED)
    next(v for k, v in _walk(wrong) if k == "NumericalMeasureField" and v["FieldId"] == "device-sessions")["Column"]["ColumnName"] = "browser"
    next(c for c in wrong["CalculatedFields"] if c["Name"] == "cohort_share")["Expression"] += " * ${Scale}"
    failed = version(wrong)
    assert failed["Status"] == "CREATION_FAILED"
    assert {(e["Type"], e["Message"].split(":")[0]) for e in failed["Errors"]} == {
        ("COLUMN_TYPE_MISMATCH", "NumericalMeasureField device-sessions on browser"),
        ("PARAMETER_NOT_FOUND", "calculated field cohort_share"),
    }

    table = store.sets[res.data_set_id("retention_weekly")]["PhysicalTableMap"]["retention-weekly"]["RelationalTable"]
    table["InputColumns"] = [c for c in table["InputColumns"] if c["Name"] != "weeks_since"]  # edited in the console
    errors = version(want["Definition"])["Errors"]
    assert errors and all("weeks_since" in e["Message"] for e in errors)


def test_a_sheet_has_a_control_for_each_parameter_its_visuals_depend_on(definition):
    """The Currency decides the revenue tile and chart (a filter) and the campaigns' revenue (a calculated
    field); the cohort measure decides the heat map's colour: the sheets showing them offer the control."""
    import re

    calculated = {(c["DataSetIdentifier"], c["Name"]): set(re.findall(r"\$\{(\w+)\}", c["Expression"])) for c in definition["CalculatedFields"]}
    filtered: dict[str, set[str]] = {}  # sheet -> parameters its filters use
    for g in definition["FilterGroups"]:
        used = {v for k, v in _walk(g["Filters"]) if k in ("Parameter", "ParameterName")}
        for scope in g["ScopeConfiguration"]["SelectedSheets"]["SheetVisualScopingConfigurations"]:
            filtered.setdefault(scope["SheetId"], set()).update(used)
    for sheet in definition["Sheets"]:
        needed = set(filtered.get(sheet["SheetId"], set()))
        for k, v in _walk(sheet["Visuals"]):
            if k in ACCEPTS and "Column" in v:
                needed |= calculated.get((v["Column"]["DataSetIdentifier"], v["Column"]["ColumnName"]), set())
        offered = {_one(c)[1]["SourceParameterName"] for c in sheet["ParameterControls"]}
        assert offered == needed, sheet["SheetId"]
    assert any(dash.P_CURRENCY in n for n in calculated.values()) and any(dash.P_COHORT_MEASURE in n for n in calculated.values())


def test_the_local_page_has_every_visual_of_the_definition():
    from clickpipe_dagster.dashboard import page

    html = (page.HERE / "page.html").read_text()
    js = (page.HERE / "page.js").read_text()
    for v in dash.ALL_VISUALS:
        assert f'id="{v.id}"' in html or f'"{v.id}"' in js, v.id
    for sheet in dash.SHEETS:
        assert f'id="page-{sheet.id}"' in html and f'id="tab-{sheet.id}"' in html, sheet.id


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

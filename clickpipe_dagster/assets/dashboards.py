"""Dashboards over the marts (group ``dashboards``): the same assets on a laptop and on AWS.

- ``dashboard/data_source``: the way into PostgreSQL (QuickSight data source on RDS; locally a
  connection check).
- ``dashboard/dataset_<mart>``: one dataset per mart table, downstream of its ``marts/*`` asset, with
  a check ``refresh_succeeded`` that reports the SPICE ingestion started after each load (locally
  the columns are checked against the live table and nothing needs refreshing).
- ``dashboard/dashboard``: the dashboard of ``dashboard/definition.py``, downstream of every page's dataset
  (QuickSight, one sheet per page; locally the HTML page ``$CLICKPIPE_HOME/dashboard/index.html``, one tab
  per page, rendered from every loaded day).

The ``dashboards`` resource decides which (``environments.resources_for``). Datasets and the
dashboard run again after each upstream load (their automation conditions, evaluated by the one
``automation_sensor``).
"""

from __future__ import annotations

import dagster as dg

from clickpipe_dagster import automation
from clickpipe_dagster.assets import keys
from clickpipe_dagster.assets.common import OWNERS
from clickpipe_dagster.dashboard import definition
from clickpipe_dagster.dashboard.datasets import DATASETS, DATASETS_BY_NAME
from clickpipe_dagster.resources.dashboard import DashboardError, DashboardsResource
from clickpipe_dagster.resources.warehouse import WarehouseResource

GROUP = "dashboards"
KINDS = {"quicksight", "postgres"}
REFRESH_CHECK = "refresh_succeeded"

# Any load of a mart not dealt with yet (a daily mart is partitioned, this is not: every partition
# load counts), once nothing upstream is still running. The data source starts nothing by itself,
# but a dataset waits until it exists.
AFTER_LOAD = automation.after_upstream_loads()
DATASET_AFTER_LOAD = (
    automation.after_upstream_loads(ignore=[keys.dashboard("data_source")])
    & ~dg.AutomationCondition.any_deps_match(dg.AutomationCondition.missing()).allow(dg.AssetSelection.assets(keys.dashboard("data_source")))
).with_label("after a mart load, once the data source exists")


def _fail(e: DashboardError):
    return dg.Failure(description=str(e), allow_retries=False)


@dg.asset(
    key=keys.dashboard("data_source"),
    group_name=GROUP,
    kinds=KINDS,
    owners=OWNERS,
    automation_condition=automation.ONCE,
    description=(
        "The connection the dashboard's datasets read the marts through. AWS: a QuickSight data source "
        "(POSTGRESQL) on the RDS endpoint via the QuickSight VPC connection, credentials from the RDS "
        "secret, SSL on. Local: a check that the warehouse answers."
    ),
)
def dashboard_data_source(dashboards: DashboardsResource, warehouse: WarehouseResource) -> dg.MaterializeResult:
    try:
        published = dashboards.publish_data_source(warehouse)
    except DashboardError as e:
        raise _fail(e) from None
    return dg.MaterializeResult(metadata={"action": published.action, **published.metadata})


def _dataset_spec(ds) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=ds.asset,
        deps=[ds.upstream_asset, keys.dashboard("data_source")],
        group_name=GROUP,
        kinds=KINDS,
        owners=OWNERS,
        automation_condition=DATASET_AFTER_LOAD,
        skippable=True,
        description=(
            f"What the dashboard shows from `{ds.schema}.{ds.table}`. AWS: a QuickSight data set (SPICE by default, "
            "DIRECT_QUERY selectable) refreshed by a SPICE ingestion after each load. Local: the table's "
            "columns checked against the dataset's."
        ),
        metadata={
            "table": f"{ds.schema}.{ds.table}",
            "dagster/column_schema": dg.TableSchema(columns=[dg.TableColumn(n, t) for n, t in ds.columns]),
        },
    )


@dg.multi_asset(
    name="dashboard_datasets",
    specs=[_dataset_spec(ds) for ds in DATASETS],
    check_specs=[
        dg.AssetCheckSpec(
            REFRESH_CHECK,
            asset=ds.asset,
            description="The data refresh after the load finished: the SPICE ingestion COMPLETED with no row dropped "
            "(WARN if still running at the deadline); DIRECT_QUERY and the local page need none.",
        )
        for ds in DATASETS
    ],
    can_subset=True,
    description="Create or update one dashboard dataset per mart, then refresh and report each.",
)
def dashboard_datasets(context, dashboards: DashboardsResource, warehouse: WarehouseResource):
    selected = [ds for ds in DATASETS if ds.asset in context.selected_asset_keys]
    try:
        published = dashboards.publish_data_sets(selected, warehouse)
    except DashboardError as e:
        raise _fail(e) from None
    for ds in selected:
        p = published[ds.name]
        yield dg.MaterializeResult(asset_key=ds.asset, metadata={"action": p.action, **p.metadata, "refresh": p.refresh.status})
        yield dg.AssetCheckResult(
            asset_key=ds.asset,
            check_name=REFRESH_CHECK,
            passed=p.refresh.passed,
            severity=p.refresh.severity,
            description=p.refresh.description,
            metadata=p.refresh.metadata,
        )


@dg.asset(
    key=keys.dashboard("dashboard"),
    group_name=GROUP,
    kinds={"quicksight", "html"},
    owners=OWNERS,
    deps=[DATASETS_BY_NAME[name].asset for name in definition.DATASETS_USED],  # every page's
    automation_condition=AFTER_LOAD,
    freshness_policy=automation.DASHBOARD_FRESHNESS,
    description=(
        "What the business looks at every morning: events, sessions, orders and revenue, day by day, and where "
        "sessions come from, how they go, who comes back and the paths to a purchase. "
        "The dashboard (dashboard/definition.py), five pages: Overview (KPI tiles, events per day by type, revenue "
        "per day, the session funnel, top pages), Acquisition, Engagement, Retention (a weekly cohort heat map) and "
        "Paths; date-range, event-type, currency and cohort-measure controls. It follows a load of any page's "
        "dataset. AWS: a QuickSight dashboard with one sheet per page, published for the configured principal. "
        "Local: a self-contained HTML page with every loaded day ($CLICKPIPE_HOME/dashboard/index.html; "
        "`clickpipe dashboard` serves it), one tab per page."
    ),
)
def dashboard(dashboards: DashboardsResource, warehouse: WarehouseResource) -> dg.MaterializeResult:
    try:
        published = dashboards.publish_dashboard(warehouse)
    except DashboardError as e:
        raise _fail(e) from None
    return dg.MaterializeResult(metadata={"action": published.action, **published.metadata})


dashboard_assets = [dashboard_data_source, dashboard_datasets, dashboard]

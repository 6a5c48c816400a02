"""Reporting marts in PostgreSQL (RDS), built by Glue Job 2 from the processed zone.

A daily mart partition is a UTC event day (``dt``). Processed partitions are ingest days, and a
record reaches them at most the late window after its event day (``LATE_WINDOW_DAYS`` in the
contract; Job 1 quarantines a later one), so mart day E depends on ingest days E .. E + window.
The marts that read the users snapshot depend on it whole (it is not partitioned), but a users
delivery does not by itself reload every past day: revenue by country uses the snapshot of the
time its day was loaded.

One run (or one single-run backfill) replaces each day in one PostgreSQL transaction across the
marts it builds; any subset of marts can be built, so a backfill of any selection launches. The
users dimension and weekly retention are not partitioned: those day transactions keep them up to
date (from per-user activity rows), and their own runs catch up days never loaded. Reconciliation
checks compare every loaded day with the processed zone through the query engine.
"""

import dagster as dg

from clickpipe_core.catalog import GLUE_DATABASE, SESSIONS_TABLE
from clickpipe_core.contracts import LATE_WINDOW_DAYS, get_dataset
from clickpipe_core.errors import WarehouseError
from clickpipe_core.marts import DAILY_MARTS, RETENTION_WEEKLY, SESSION_MARTS, SESSIONS, USERS_DIM, Mart
from clickpipe_dagster import automation, metadata, reconcile
from clickpipe_dagster.assets import keys
from clickpipe_dagster.assets.common import OWNERS
from clickpipe_dagster.assets.jobs import code_references, run_glue_job
from clickpipe_dagster.lineage import column_lineage
from clickpipe_dagster.partitions import beta_parameters, event_days, late_window, session_window, single_run
from clickpipe_dagster.resources.athena import QueryEngineResource
from clickpipe_dagster.resources.glue import GlueJobsResource
from clickpipe_dagster.resources.lake import LakeResource
from clickpipe_dagster.resources.warehouse import WarehouseResource

JOB2 = "processed_to_rds.py"
KINDS = {"postgres", "duckdb", "glue"}

WHAT = {
    "daily_events": "How many events of each type happened each day, and how many people and sessions made them.",
    "funnel_daily": "How many sessions went from viewing to adding to cart to buying, each day.",
    "revenue_daily": "How much was earned each day, per customer country and currency.",
    "top_pages_daily": "The pages people looked at most, each day.",
    "users": "One row per user with what they did over their whole lifetime.",
    "sessions": "One row per visit: when, how long, which pages, where it came from, on what device, and whether it bought.",
    "acquisition_daily": "Where visits came from each day (channel, source, campaign), and how many bought.",
    "engagement_daily": "How long visits lasted each day, how many pages they saw, and how many left at once.",
    "devices_daily": "Which devices, browsers and operating systems visits used each day.",
    "session_funnel_daily": "How many visits went from viewing to cart to checkout to buying, in that order, each day.",
    "page_transitions_daily": "Which page people went to next from which page, each day.",
    "purchase_paths_daily": "The pages people most often saw right before they bought, each day.",
    "retention_weekly": "How many people of each week's newcomers came back, and bought, in the weeks after.",
}


def column_schema(mart: Mart) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(c.name, c.pg_type, description=c.description or None,
                           constraints=dg.TableColumnConstraints(nullable=c.nullable))  # fmt: skip
            for c in mart.columns
        ],
        constraints=dg.TableConstraints(other=[f"PRIMARY KEY ({', '.join(mart.key)})"]),
    )


def _deps(mart: Mart) -> list[dg.AssetDep]:
    deps = []
    for name in mart.sources:
        partitioned = get_dataset(name).partition_time_column is not None
        mapping = (session_window() if mart.sessionized else late_window()) if (partitioned and mart.daily) else None
        deps.append(dg.AssetDep(keys.processed(name), partition_mapping=mapping) if mapping else dg.AssetDep(keys.processed(name)))
    if mart.sessionized and not mart.daily:
        # The session marts' day loads keep retention (their visits), and its reconciliation counts the
        # bot-only users of marts.sessions: it runs after they load.
        deps.append(dg.AssetDep(keys.mart(SESSIONS)))
    return deps


def _automation_condition(mart: Mart) -> dg.AutomationCondition:
    if mart.daily:
        return automation.after_upstream_loads(ignore=[keys.processed("users")])
    if mart.sessionized:
        # Weekly retention follows the session marts' loads, which keep it up to date; new processed
        # clicks reach it only through them. Following the clicks as well requested it in the same tick
        # as the session marts (another run, as it is not partitioned), then again after their load.
        return automation.after_upstream_loads(ignore=[keys.processed(name) for name in mart.sources])
    return automation.users_dimension()


def _spec(mart: Mart) -> dg.AssetSpec:
    if mart.sessionized and mart.daily:
        grain = (
            f"A partition is a day of session start; day E is derived on DuckDB from the event days E-1 .. E+1, which "
            f"ingest days E-1 .. E+{LATE_WINDOW_DAYS + 1} fill, and replaced in one transaction."
        )
    elif mart.daily:
        grain = (
            f"A partition is an event day; day E is rebuilt from the ingest days E .. E+{LATE_WINDOW_DAYS} of its sources, "
            "and replaced in one transaction."
        )
    else:
        grain = (
            "Not partitioned: each day's load keeps it up to date from per-user activity rows in PostgreSQL, in the day's "
            "transaction; its own run first loads the activity of processed days never loaded."
        )
    return dg.AssetSpec(
        key=keys.mart(mart),
        deps=_deps(mart),
        group_name="serving",
        kinds=KINDS,
        owners=OWNERS,
        skippable=True,
        partitions_def=event_days if mart.daily else None,
        automation_condition=_automation_condition(mart),
        freshness_policy=automation.MARTS_FRESHNESS,
        description=(
            f"{WHAT[mart.name]} `{mart.table}` in PostgreSQL. {mart.description} Built by Glue Job 2 "
            f"(`glue_scripts/{JOB2}`) with `clickpipe_core/sql/marts/{mart.name}.sql` and loaded with binary COPY "
            f"(ADBC). {grain}"
        ),
        metadata={
            "dagster/column_schema": column_schema(mart),
            "dagster/column_lineage": column_lineage(mart),
            "dagster/table_name": mart.table,
            "key": ", ".join(mart.key),
            "dagster/code_references": code_references(
                (f"clickpipe_core/sql/marts/{mart.name}.sql", f"{mart.name}.sql"), (f"glue_scripts/{JOB2}", "Glue Job 2")
            ),
        },
    )


def _selected(context: dg.AssetExecutionContext, marts: list[Mart]) -> list[Mart]:
    return [m for m in marts if keys.mart(m) in context.selected_asset_keys]


def _marts_argument(marts: list[Mart]) -> str:
    """Job 2's --marts: its group when a run builds a whole one (``daily``, ``users``), else the names."""
    if marts == DAILY_MARTS:
        return "daily"
    if marts == SESSION_MARTS:
        return "sessions"
    if marts == [RETENTION_WEEKLY]:
        return "retention"
    return "users" if marts == [USERS_DIM] else ",".join(m.name for m in marts)


def run_job2(context, marts: list[Mart], lake: LakeResource, glue: GlueJobsResource, warehouse: WarehouseResource, days, *, publish_sessions=False):
    try:
        if marts:
            warehouse.check_connection()
        env = {**lake.job_env(), **(warehouse.job_env() if marts else {})}
    except WarehouseError as e:
        raise dg.Failure(description=str(e), allow_retries=False) from None
    arguments = {"--lake": lake.job_uri, **warehouse.job_arguments()}
    if marts:
        arguments["--marts"] = _marts_argument(marts)
    if publish_sessions:
        arguments["--publish-sessions"] = "true"
    return run_glue_job(
        context,
        glue,
        script=JOB2,
        arguments=arguments,
        partition_keys=days,
        env=env,
        extras={"run_id": context.run_id},
    )


def _run_metadata(md: dict) -> dict:
    files = md.get("files_read") or {}
    out = {
        "table": md.get("table"),
        "engine": md.get("engine"),
        "warehouse": md.get("warehouse"),
        "files_read": metadata.table(["dataset", "files"], sorted(files.items())) if files else None,
        "seconds": md.get("seconds"),
        "migrations_applied": ", ".join(md.get("migrations_applied") or []) or "none",
    }
    return {k: v for k, v in out.items() if v is not None}


PROCESSED_SESSIONS = keys.processed(SESSIONS_TABLE.name)


def processed_sessions_spec() -> dg.AssetSpec:
    """The processed sessions table: the same sessions as ``marts.sessions``, from the same derivation."""
    return dg.AssetSpec(
        key=PROCESSED_SESSIONS,
        deps=[dg.AssetDep(keys.processed("clicks"), partition_mapping=session_window())],
        group_name="processed",
        kinds={"glue", "duckdb", "parquet"},
        owners=OWNERS,
        skippable=True,
        partitions_def=event_days,
        automation_condition=automation.after_upstream_loads(),
        description=(
            "One row per visit in the processed zone, by the day it starts: the sessions Glue Job 2 derives on DuckDB "
            "(`clickpipe_core/sessions.py`) from the processed clicks of the days around each day, written as "
            f"`processed/sessions/dt=D/sessions.parquet` (replaced whole) in the run that loads the sessionized marts, so "
            f"`marts.sessions` holds the same rows. A partition is a day of session start; day E reads the event days "
            f"E-1 .. E+1, which ingest days E-1 .. E+{LATE_WINDOW_DAYS + 1} fill. {SESSIONS_TABLE.description}"
        ),
        metadata={
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(c.name, c.pg_type, description=c.description or None) for c in SESSIONS_TABLE.mart.columns]
            ),
            "dagster/table_name": f"{GLUE_DATABASE}.{SESSIONS_TABLE.name}",
            "layout": "processed/sessions/dt=YYYY-MM-DD/sessions.parquet",
        },
    )


def _daily_marts_asset(name: str, marts: list[Mart], description: str, *, sessions_table: bool = False) -> dg.AssetsDefinition:
    """One Glue Job 2 multi-asset for daily marts: the selected ones, one transaction per day across them
    (and, with ``sessions_table``, the processed sessions table from the same derivation)."""
    with beta_parameters():

        @dg.multi_asset(
            name=name,
            specs=[_spec(m) for m in marts] + ([processed_sessions_spec()] if sessions_table else []),
            check_specs=[s for m in marts for s in reconcile.check_specs(m)],
            partitions_def=event_days,
            backfill_policy=single_run(),
            can_subset=True,
            description=description,
        )
        def _daily_marts(
            context: dg.AssetExecutionContext,
            lake: LakeResource,
            glue: GlueJobsResource,
            warehouse: WarehouseResource,
            query_engine: QueryEngineResource,
        ):
            selected = _selected(context, marts)
            days = list(context.partition_keys)
            publish = PROCESSED_SESSIONS in context.selected_asset_keys
            report = run_job2(context, selected, lake, glue, warehouse, days, publish_sessions=publish)
            for key in [*(keys.mart(m) for m in selected), *([PROCESSED_SESSIONS] if publish else [])]:
                md = report.materializations.get(key, {})
                by_day = md.get("rows_by_day") or {}
                for day in days:
                    n = int(by_day.get(day, 0))
                    context.add_asset_metadata(
                        {"dagster/row_count": n, "rows_loaded": n, "empty_day": n == 0}, asset_key=key, partition_key=day
                    )
                yield dg.MaterializeResult(asset_key=key, metadata=_run_metadata(md))
            yield from report.checks
            selected_checks = context.selected_asset_check_keys
            for check in reconcile.evaluate(selected, query_engine, warehouse, (days[0], days[-1])):
                if dg.AssetCheckKey(check.asset_key, check.check_name) in selected_checks:
                    yield check

    return _daily_marts


rds_daily_marts = _daily_marts_asset(
    "rds_daily_marts", DAILY_MARTS, "Glue Job 2 for the daily marts: the selected marts, one transaction per day across them."
)
# A multi-asset of its own: its days read more processed days (a dependency must map one way per asset).
rds_session_marts = _daily_marts_asset(
    "rds_session_marts",
    SESSION_MARTS,
    "Glue Job 2 for the sessionized marts (sessions derived on DuckDB from the clicks of the days around each day, "
    "with Job 1's enrichment columns): the selected marts, one transaction per day across them, and the processed "
    "sessions table from the same derivation.",
    sessions_table=True,
)


def _whole_mart_asset(name: str, mart: Mart, description: str) -> dg.AssetsDefinition:
    """One Glue Job 2 multi-asset for a mart that is not partitioned (kept up to date by the day loads)."""

    @dg.multi_asset(name=name, specs=[_spec(mart)], check_specs=reconcile.check_specs(mart), description=description)
    def _whole_mart(
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        glue: GlueJobsResource,
        warehouse: WarehouseResource,
        query_engine: QueryEngineResource,
    ):
        report = run_job2(context, [mart], lake, glue, warehouse, None)
        md = report.materializations.get(keys.mart(mart), {})
        n = int(md.get("rows_loaded") or 0)
        yield dg.MaterializeResult(asset_key=keys.mart(mart), metadata={"dagster/row_count": n, "rows_loaded": n, **_run_metadata(md)})
        yield from report.checks
        yield from reconcile.evaluate([mart], query_engine, warehouse, None)

    return _whole_mart


rds_users_dimension = _whole_mart_asset(
    "rds_users_dimension",
    USERS_DIM,
    "Glue Job 2 for the users dimension: the daily loads keep its lifetime activity; this run upserts the users "
    "snapshot's attributes and computes the lifetime of users new to it.",
)
# After the session marts' loads, which keep it (pg_load): no session is derived again here unless a
# processed day was never loaded.
rds_retention = _whole_mart_asset(
    "rds_retention",
    RETENTION_WEEKLY,
    "Glue Job 2 for weekly retention: the session marts' day loads keep it up to date from each day's visits; this "
    "run loads the visits of processed days never loaded (derived on DuckDB) and records the mart.",
)


rds_assets = [rds_daily_marts, rds_session_marts, rds_users_dimension, rds_retention]

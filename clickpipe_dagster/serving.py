"""The serving layer from the outside: where the dashboard went, and KPIs read back from PostgreSQL."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import dagster as dg

from clickpipe_dagster.assets import keys

QUERIES = Path(__file__).resolve().parent / "sql" / "queries"


def run_serving(defs: dg.Definitions, instance: dg.DagsterInstance, days: list[str], *, run_config=None) -> tuple[bool, list[str]]:
    """The serving layer by hand, in this process (no daemon): the daily marts over ``days`` in one
    run (a single-run range), then the Athena tables, the users dimension and retention, then the dashboards.
    Returns (every run succeeded, the failed checks)."""
    range_tags = {"dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[-1]}
    results = [defs.resolve_job_def("serving_daily_job").execute_in_process(
        instance=instance, raise_on_error=False, run_config=run_config, tags=range_tags)]  # fmt: skip
    results.append(defs.resolve_job_def("serving_refresh_job").execute_in_process(
        instance=instance, raise_on_error=False, run_config=run_config))  # fmt: skip
    if results[-1].success:
        results.append(defs.resolve_job_def("dashboards_job").execute_in_process(
            instance=instance, raise_on_error=False, run_config=run_config))  # fmt: skip
    failed = [f"{e.asset_key.to_user_string()}:{e.check_name}" for r in results for e in r.get_asset_check_evaluations() if not e.passed]
    return all(r.success for r in results), failed


def dashboard_location(instance: dg.DagsterInstance, since: float = 0.0) -> str | None:
    """Where the last materialization of the ``dashboard`` asset (after ``since``, a Unix time) put it:
    a path locally, a URL on AWS."""
    event = instance.get_latest_materialization_event(keys.dashboard("dashboard"))
    if event is None or event.asset_materialization is None or event.timestamp < since:
        return None
    md = event.asset_materialization.metadata
    value = md.get("path") or md.get("url")
    return getattr(value, "value", value)


def _money(v) -> str:
    return f"{Decimal(v or 0):,.2f}"


def serving_summary(warehouse) -> list[str]:
    """A few KPIs read back from the marts in PostgreSQL, as printable lines."""
    kpis = warehouse.query((QUERIES / "kpis.rds.sql").read_text()).as_dicts()[0]
    days = warehouse.query((QUERIES / "loaded_days.rds.sql").read_text()).as_dicts()[0]
    revenue = warehouse.query((QUERIES / "revenue_by_currency.rds.sql").read_text()).as_dicts()
    funnel = warehouse.query(
        "SELECT SUM(viewed_sessions) AS v, SUM(cart_sessions) AS c, SUM(purchase_sessions) AS p FROM marts.funnel_daily"
    ).as_dicts()[0]
    lines = [f"serving layer: PostgreSQL {warehouse.display_url()}, schema marts"]
    if days["days"]:
        lines.append(f"  days loaded     {days['first_day']} .. {days['last_day']} ({days['days']} days; "
                     f"{days['empty_mart_days']} empty mart-days)")  # fmt: skip
    lines.append(f"  users           {kpis['users']:,} ({kpis['active_users']:,} active)")
    lines.append(f"  orders          {int(kpis['orders']):,} completed")
    top = ", ".join(f"{r['currency']} {_money(r['revenue'])} (AOV {_money(r['avg_order_value'])})" for r in revenue[:4])
    lines.append(f"  revenue         {top or 'none'}" + (f" and {len(revenue) - 4} more currencies" if len(revenue) > 4 else ""))
    lines.append(f"  click events    {int(kpis['events']):,}")
    if funnel["v"]:
        v, c, p = int(funnel["v"]), int(funnel["c"] or 0), int(funnel["p"] or 0)
        lines.append(f"  funnel          {v:,} viewed → {c:,} carted ({c / v:.1%}) → {p:,} purchased ({p / v:.1%})")
    sessions = warehouse.query(
        "SELECT COUNT(*) FILTER (WHERE NOT is_bot) AS people, COUNT(*) FILTER (WHERE is_bot) AS bots, "
        "AVG(CASE WHEN bounce THEN 1.0 ELSE 0.0 END) FILTER (WHERE NOT is_bot) AS bounce_rate FROM marts.sessions"
    ).as_dicts()[0]
    if sessions["people"]:
        lines.append(f"  sessions        {int(sessions['people']):,}, bounce rate {float(sessions['bounce_rate']):.1%} "
                     f"({int(sessions['bots']):,} bot sessions left out of the analytics marts)")  # fmt: skip
    return lines

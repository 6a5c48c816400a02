"""Checks that reconcile the marts in PostgreSQL with the processed zone.

Each reconciliation is a pair of SQL files in ``clickpipe_dagster/sql/reconcile/``: one runs on the
query engine over the processed zone (Athena on AWS, DuckDB locally, ``?`` parameters), the other
on PostgreSQL (``%s`` parameters); both return the same columns, the first ones the key. The
check passes when both return the same rows. Daily checks take the first and last day checked.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import dagster as dg

from clickpipe_dagster.assets import keys
from clickpipe_core.marts import MARTS, Mart, identifier

RECONCILE_DIR = Path(__file__).resolve().parent / "sql" / "reconcile"
MAX_SHOWN = 10


@dataclass(frozen=True)
class Reconciliation:
    check: str
    mart: str
    description: str
    keys: int  # how many leading columns form the row's key
    processed: str = ""  # the processed-side file's stem when shared with other checks (default: check)
    columns: tuple[str, ...] = ()  # the processed-side columns compared after the key (default: all)
    rds: str = ""  # the PostgreSQL-side file's stem when shared; {table} in it is this check's mart table

    @property
    def asset(self) -> dg.AssetKey:
        return keys.mart(MARTS[self.mart])

    @property
    def daily(self) -> bool:
        return MARTS[self.mart].daily

    def processed_sql(self) -> str:
        return (RECONCILE_DIR / f"{self.processed or self.check}.processed.sql").read_text()

    def rds_sql(self) -> str:
        return (RECONCILE_DIR / f"{self.rds or self.check}.rds.sql").read_text().replace("{table}", MARTS[self.mart].table)


RECONCILIATIONS = [
    Reconciliation("events_match_processed", "daily_events", "Events per day and type in PostgreSQL equal the click rows in the processed zone.", 2),
    Reconciliation("sessions_match_processed", "funnel_daily", "Sessions per day in the funnel equal the distinct sessions in the processed zone.", 1),
    Reconciliation(
        "revenue_matches_processed",
        "revenue_daily",
        "Per day and currency, transactions, orders and revenue (completed amounts) in PostgreSQL equal the processed Parquet.",
        2,
    ),
    Reconciliation("top_page_matches_processed", "top_pages_daily", "The rank-1 page's views equal the most viewed page in the processed zone.", 1),
    Reconciliation(
        "sessions_match_processed_clicks",
        "sessions",
        "Sessions and converted sessions per day of start (bots included) equal those the session rule derives in SQL "
        "from the processed clicks.",
        1,
        processed="session_days",
        columns=("sessions", "conversions"),
    ),
    Reconciliation(
        "acquisition_covers_processed",
        "acquisition_daily",
        "Per day, acquisition's sessions and conversions plus the bot sessions it leaves out equal those derived from the "
        "processed clicks.",
        1,
        processed="session_days",
        columns=("sessions", "conversions"),
        rds="sessions_plus_bots",
    ),
    Reconciliation(
        "devices_cover_processed",
        "devices_daily",
        "Per day, the device mart's sessions and conversions plus the bot sessions it leaves out equal those derived from "
        "the processed clicks.",
        1,
        processed="session_days",
        columns=("sessions", "conversions"),
        rds="sessions_plus_bots",
    ),
    Reconciliation(
        "engagement_covers_processed",
        "engagement_daily",
        "Per day, the engagement mart's sessions plus the bot sessions it leaves out equal those derived from the "
        "processed clicks.",
        1,
        processed="session_days",
        columns=("sessions",),
    ),
    Reconciliation(
        "funnel_views_match_processed",
        "session_funnel_daily",
        "Per day, the sessions at the funnel's first step (a page view) plus the bot sessions with a page view equal the "
        "sessions with a page view derived from the processed clicks.",
        1,
        processed="session_days",
        columns=("viewed_sessions",),
    ),
    Reconciliation(
        "transitions_match_processed",
        "page_transitions_daily",
        "Per day, all page-to-page transitions (day_transitions) plus the bot sessions' equal those derived from the "
        "processed clicks (page views of a session less one).",
        1,
        processed="session_days",
        columns=("transitions",),
    ),
    Reconciliation(
        "purchase_paths_match_processed",
        "purchase_paths_daily",
        "Per day, the converted sessions behind the purchase paths (day_sessions) plus the converted bot sessions equal "
        "the converted sessions derived from the processed clicks.",
        1,
        processed="session_days",
        columns=("conversions",),
    ),
    Reconciliation(
        "cohorts_cover_processed_users",
        "retention_weekly",
        "The cohorts' users plus the users with bot sessions only (in marts.sessions) equal the distinct users of the "
        "processed clicks: every user is in exactly one cohort.",
        0,
    ),
    Reconciliation("users_match_snapshot", "users", "marts.users has one row per user of the processed users snapshot.", 0),
    Reconciliation(
        "lifetime_revenue_matches_processed",
        "users",
        "Lifetime orders and revenue per currency in marts.users equal the completed transactions of snapshot users.",
        1,
    ),
]


def _norm(v):
    if isinstance(v, _dt.datetime):
        return v.isoformat()
    if isinstance(v, _dt.date):
        return v.isoformat()
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, Decimal)):
        return Decimal(v).normalize()
    if isinstance(v, float):
        return round(v, 9)
    return str(v)


def compare(rec: Reconciliation, processed, rds) -> tuple[bool, dict]:
    """Both results as key -> values; the check passes when they are equal."""

    def keyed(result, picked=None):
        picked = picked or range(rec.keys, len(result.columns))
        return {tuple(_norm(v) for v in r[: rec.keys]): tuple(_norm(r[i]) for i in picked) for r in result.rows}

    picked = [processed.columns.index(c) for c in rec.columns] or None
    left, right = keyed(processed, picked), keyed(rds)
    mismatches = []
    for key in sorted(set(left) | set(right), key=str):
        if left.get(key) != right.get(key):
            mismatches.append({"key": [str(k) for k in key], "processed": [str(v) for v in left.get(key, ())] or None,
                               "postgres": [str(v) for v in right.get(key, ())] or None})  # fmt: skip
    metadata = {
        "compared": dg.MetadataValue.json({
            "columns": list(processed.columns[: rec.keys]) + list(rec.columns) if rec.columns else processed.columns,
            "keys": len(set(left) | set(right)),
        }),
        "mismatches": len(mismatches),
        "query_engine": processed.engine,
    }
    if mismatches:
        metadata["first_mismatches"] = dg.MetadataValue.json(mismatches[:MAX_SHOWN])
    if processed.bytes_scanned is not None:
        metadata["bytes_scanned"] = processed.bytes_scanned
    return not mismatches, metadata


def reconcile(rec: Reconciliation, query_engine, warehouse, days: tuple[str, str] | None) -> dg.AssetCheckResult:
    params = list(days) if rec.daily else None
    processed = query_engine.query(rec.processed_sql(), params)
    rds = warehouse.query(rec.rds_sql(), params)
    passed, metadata = compare(rec, processed, rds)
    if days:
        metadata["days"] = f"{days[0]} .. {days[1]}"
    return dg.AssetCheckResult(asset_key=rec.asset, check_name=rec.check, passed=passed, metadata=metadata)


def key_unique_sql(mart: Mart, daily_range: bool) -> str:
    keys = ", ".join(identifier(k) for k in mart.key)
    where = " WHERE dt BETWEEN CAST(%s AS date) AND CAST(%s AS date)" if daily_range else ""
    return (
        f"SELECT COUNT(*) AS duplicate_keys, COALESCE(SUM(n), 0) AS rows_in_duplicates FROM ("
        f"SELECT COUNT(*) AS n FROM {identifier('marts')}.{identifier(mart.name)}{where} "
        f"GROUP BY {keys} HAVING COUNT(*) > 1) d"
    )


def key_unique(mart: Mart, warehouse, days: tuple[str, str] | None) -> dg.AssetCheckResult:
    result = warehouse.query(key_unique_sql(mart, days is not None), list(days) if days else None)
    duplicates, rows = result.rows[0]
    return dg.AssetCheckResult(
        asset_key=keys.mart(mart),
        check_name="key_unique",
        passed=duplicates == 0,
        metadata={"key": ", ".join(mart.key), "duplicate_keys": int(duplicates), "rows_in_duplicates": int(rows)},
    )


def check_specs(mart: Mart) -> list[dg.AssetCheckSpec]:
    specs = [
        dg.AssetCheckSpec("key_unique", asset=keys.mart(mart), description=f"({', '.join(mart.key)}) is unique in {mart.table}.")
    ]
    specs += [dg.AssetCheckSpec(r.check, asset=keys.mart(mart), description=r.description) for r in RECONCILIATIONS if r.mart == mart.name]
    return specs


def evaluate(marts: list[Mart], query_engine, warehouse, days: tuple[str, str] | None):
    for mart in marts:
        yield key_unique(mart, warehouse, days)
        for rec in RECONCILIATIONS:
            if rec.mart == mart.name:
                yield reconcile(rec, query_engine, warehouse, days)

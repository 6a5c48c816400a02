"""Column lineage of the marts (``dagster/column_lineage``): which processed columns each mart
column is computed from, read off the SQL in ``clickpipe_core/sql/marts/``. ``dt`` is the processed
zone's partition column (the UTC day of ``ts`` or ``transaction_ts``)."""

from __future__ import annotations

import dagster as dg

from clickpipe_core.contracts import CLICKS
from clickpipe_core.marts import Mart
from clickpipe_dagster.assets import keys

C, T, U = "clicks", "transactions", "users"

MART_COLUMNS: dict[str, dict[str, list[tuple[str, str]]]] = {
    "daily_events": {
        "dt": [(C, "dt")],
        "event_type": [(C, "event_type")],
        "events": [(C, "event_id")],
        "users": [(C, "user_id")],
        "sessions": [(C, "session_id")],
    },
    "funnel_daily": {
        "dt": [(C, "dt")],
        "sessions": [(C, "session_id")],
        **{
            col: [(C, "session_id"), (C, "event_type"), (C, "ts")]
            for col in ("viewed_sessions", "cart_sessions", "purchase_sessions", "view_to_cart_rate",
                        "cart_to_purchase_rate", "view_to_purchase_rate")  # fmt: skip
        },
    },
    "revenue_daily": {
        "dt": [(T, "dt")],
        "country": [(U, "country"), (T, "user_id")],
        "currency": [(T, "currency")],
        "transactions": [(T, "transaction_id")],
        "orders": [(T, "status")],
        "revenue": [(T, "amount"), (T, "status")],
        "avg_order_value": [(T, "amount"), (T, "status")],
        "refunded_amount": [(T, "amount"), (T, "status")],
    },
    "top_pages_daily": {
        "dt": [(C, "dt")],
        "page_rank": [(C, "page"), (C, "event_type")],
        "page": [(C, "page")],
        "views": [(C, "page"), (C, "event_type")],
        "users": [(C, "user_id")],
        "sessions": [(C, "session_id")],
    },
    "users": {
        "user_id": [(U, "user_id")],
        "country": [(U, "country")],
        "plan": [(U, "plan")],
        "signup_date": [(U, "signup_date")],
        "first_seen": [(C, "ts"), (T, "transaction_ts")],
        "last_seen": [(C, "ts"), (T, "transaction_ts")],
        "lifetime_events": [(C, "event_id")],
        "lifetime_sessions": [(C, "session_id")],
        "lifetime_orders": [(T, "status")],
        "lifetime_revenue": [(T, "amount"), (T, "status"), (T, "currency")],
        "revenue_currency": [(T, "currency"), (T, "status")],
    },
}

# The sessionized marts (clickpipe_core/sessions.py): every column depends on how the clicks cut into
# sessions (user, session, time), plus the columns it reads.
_SESSION = [(C, "user_id"), (C, "session_id"), (C, "ts")]
_READS = {
    "dt": [], "user_id": [], "session_id": [], "started_at": [], "ended_at": [], "duration_seconds": [],
    "events": [(C, "event_id")], "page_views": [(C, "event_type")], "bounce": [(C, "event_id")],
    "landing_page": [(C, "page"), (C, "event_type")], "exit_page": [(C, "page"), (C, "event_type")],
    "from_page": [(C, "page"), (C, "event_type")], "to_page": [(C, "page"), (C, "event_type")],
    # Job 1's enrichment columns of the session's first event (clickpipe_core/enrichment.py)
    **{name: [(C, name)] for name in CLICKS.derived_column_names},
    "converted": [(C, "event_type")], "conversions": [(C, "event_type")], "step": [(C, "event_type")],
    "event_type": [(C, "event_type")], "revenue": [(C, "properties"), (C, "event_type")],
    "currency": [(C, "properties")], "revenue_currency": [(C, "properties")],
}  # fmt: skip


def _session_lineage(mart: Mart) -> dict[str, list[tuple[str, str]]]:
    return {c.name: _SESSION + [r for r in _READS.get(c.name, []) if r not in _SESSION] for c in mart.columns}


def column_lineage(mart: Mart) -> dg.TableColumnLineage:
    return dg.TableColumnLineage(
        deps_by_column={
            column: [dg.TableColumnDep(asset_key=keys.processed(ds), column_name=name) for ds, name in sources]
            for column, sources in (MART_COLUMNS.get(mart.name) or _session_lineage(mart)).items()
        }
    )

"""The local dashboard: the visuals of ``definition.py`` as one self-contained HTML page.

The page carries everything it needs: the marts read from PostgreSQL as JSON, Chart.js
(``vendor/chart.umd.min.js``, inlined), the CSS and the filter/chart code (``page.css``,
``page.js``). It opens from disk with no network; a Content-Security-Policy forbids any fetch.
Filters (date range, event types, currency) run in plain JavaScript over the embedded rows. Five
pages, as tabs (the QuickSight sheets): Overview, Acquisition, Engagement, Retention (a
cohort heat map) and Paths (transition tables), the last four over the sessionized marts.

Written atomically (temporary file, then rename): a reader never sees half a page.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from clickpipe_core.contracts import EVENT_TYPES
from clickpipe_dagster.dashboard import definition

HERE = Path(__file__).resolve().parent
VENDOR_CHARTJS = HERE / "vendor" / "chart.umd.min.js"
CHARTJS_VERSION = "4.6.1"
PAGE_NAME = "index.html"

# What the page embeds from each mart (column order = the JSON's column order).
QUERIES = {
    "daily_events": "SELECT dt, event_type, events, users, sessions FROM marts.daily_events ORDER BY dt, event_type",
    "funnel_daily": (
        "SELECT dt, sessions, viewed_sessions, cart_sessions, purchase_sessions FROM marts.funnel_daily ORDER BY dt"
    ),
    "revenue_daily": (
        "SELECT dt, country, currency, transactions, orders, revenue, refunded_amount "
        "FROM marts.revenue_daily ORDER BY dt, country, currency"
    ),
    "top_pages_daily": "SELECT dt, page_rank, page, views, users, sessions FROM marts.top_pages_daily ORDER BY dt, page_rank",
    "acquisition_daily": (
        "SELECT dt, channel, source, campaign, sessions, bounces, conversions, revenue, revenue_currency "
        "FROM marts.acquisition_daily ORDER BY dt, channel, source, campaign"
    ),
    "engagement_daily": (
        "SELECT dt, duration_bucket, bucket_order, sessions, page_views, bounces FROM marts.engagement_daily ORDER BY dt, bucket_order"
    ),
    "devices_daily": (
        "SELECT dt, device_class, browser, os, sessions, users, bounces, conversions FROM marts.devices_daily "
        "ORDER BY dt, device_class, browser, os"
    ),
    "session_funnel_daily": "SELECT dt, step, event_type, sessions FROM marts.session_funnel_daily ORDER BY dt, step",
    "page_transitions_daily": (
        "SELECT dt, transition_rank, from_page, to_page, transitions, sessions, day_transitions "
        "FROM marts.page_transitions_daily ORDER BY dt, transition_rank"
    ),
    "purchase_paths_daily": "SELECT dt, path_rank, path, sessions, day_sessions FROM marts.purchase_paths_daily ORDER BY dt, path_rank",
}
assert set(QUERIES) == set(definition.DATASETS_USED) - {"retention_weekly"}
# Marts not partitioned by day: embedded as they are, not part of the days the date filter offers.
WHOLE_QUERIES = {
    "retention_weekly": (
        "SELECT cohort_week, weeks_since, cohort_users, users, purchasers FROM marts.retention_weekly ORDER BY cohort_week, weeks_since"
    ),
}
LOADS_SQL = "SELECT mart, partition, loaded_at FROM marts.partition_loads WHERE partition <> '*' ORDER BY mart, partition"


class DashboardError(Exception):
    """The dashboard could not be published; the message says why and what to do."""


def _json_value(v):
    if isinstance(v, Decimal):
        return str(v)  # exact: the page sums money in integer cents
    if isinstance(v, (date, datetime)):
        return v.isoformat()
    return v


def collect(warehouse, *, default_currency: str = "USD", now: datetime | None = None) -> dict:
    """Everything the page shows, read from the marts in PostgreSQL."""
    from clickpipe_core.errors import WarehouseError

    marts, loaded = {}, {}
    try:
        for name, sql in {**QUERIES, **WHOLE_QUERIES}.items():
            result = warehouse.query(sql)
            marts[name] = {"columns": result.columns, "rows": [[_json_value(v) for v in row] for row in result.rows]}
        loads = warehouse.query(LOADS_SQL).as_dicts()
    except WarehouseError as e:
        raise DashboardError(
            f"cannot read the marts from PostgreSQL ({e}); materialize the rds_* assets first (clickpipe demo does)"
        ) from None
    for name in QUERIES:
        days = {row[0] for row in marts[name]["rows"]}
        if name in definition.OVERVIEW_DATASETS:
            # The Overview tells a loaded empty day (0) from a day never loaded (a gap). The session marts
            # also load the empty days around the data (their days read the neighbours): those widen nothing.
            days |= {r["partition"] for r in loads if r["mart"] == name}
        loaded[name] = sorted(days)
    all_days = sorted(set().union(*loaded.values()))
    days = []
    if all_days:
        first, last = date.fromisoformat(all_days[0]), date.fromisoformat(all_days[-1])
        days = [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    types = list(EVENT_TYPES) + sorted({r[1] for r in marts["daily_events"]["rows"]} - set(EVENT_TYPES))
    last_load = max((r["loaded_at"] for r in loads), default=None)
    return {
        "meta": {
            "generated_at": (now or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M UTC"),
            "last_load": last_load.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if last_load else None,
            "source": f"{warehouse.display_url()}, schema marts",
            "default_currency": default_currency,
            "chartjs": CHARTJS_VERSION,
        },
        "titles": {v.id: {"title": v.title, "subtitle": v.subtitle} for v in (*definition.VISUALS, *definition.ANALYTICS_VISUALS)},
        "funnel_steps": [{"column": c, "label": label} for c, label in definition.FUNNEL_STEPS],
        "event_types": types,
        "days": days,
        "loaded": loaded,
        "marts": marts,
    }


def _embed_json(data: dict) -> str:
    # Inside <script type="application/json">: only "</script" could end the block early; "<" never
    # occurs outside JSON strings, where \u003c is the same character.
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).replace("<", "\\u003c")


def _inline_js(text: str) -> str:
    lines = [ln for ln in text.splitlines() if not ln.startswith("//# sourceMappingURL=")]
    text = "\n".join(lines)
    if "</script" in text.lower():
        raise DashboardError("refusing to inline a script that contains </script")
    return text


def render_html(data: dict) -> str:
    template = (HERE / "page.html").read_text()
    parts = {
        "{{TITLE}}": "clickpipe dashboard",
        "{{CSS}}": (HERE / "page.css").read_text(),
        "{{CHARTJS}}": _inline_js(VENDOR_CHARTJS.read_text()),
        "{{DATA}}": _embed_json(data),
        "{{APP}}": _inline_js((HERE / "page.js").read_text()),
    }
    for key, value in parts.items():
        if template.count(key) != 1:
            raise DashboardError(f"page.html must contain {key} exactly once")
        before, after = template.split(key)
        template = before + value + after  # not str.replace: values may contain other markers' text
    return template


def write_page(out_dir: str | Path, html: str) -> Path:
    """Write ``index.html`` atomically into out_dir and return its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".index-", suffix=".html", dir=out)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(html)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out / PAGE_NAME)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out / PAGE_NAME


def render(warehouse, out_dir: str | Path, *, default_currency: str = "USD") -> tuple[Path, dict]:
    """Read the marts, write the page; returns its path and the embedded data."""
    data = collect(warehouse, default_currency=default_currency)
    return write_page(out_dir, render_html(data)), data

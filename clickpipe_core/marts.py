"""The reporting marts Glue Job 2 builds: one definition each, for the job, the loader and Dagster.

Pure Python (no Dagster import): the job imports this on Glue workers.

A mart is the result of one SQL file in ``clickpipe_core/sql/marts/`` run over the processed zone's
tables (``users``, ``transactions``, ``clicks``: the Athena table names). The SQL keeps to the
dialect DuckDB, Athena (Trino) and Spark SQL share, so the same file runs on each. Its rows are
loaded into ``marts.<name>`` in PostgreSQL, whose DDL lives in versioned migrations
(``clickpipe_core/sql/migrations/``); ``tests/serving/test_serving_marts.py`` loads every mart into
those tables, so the two cannot drift apart unnoticed.

Daily marts are keyed by ``dt``, the UTC day of the event (the processed zone's ``dt=``
directory), and one Dagster partition replaces one ``dt`` in one PostgreSQL transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

from clickpipe_core.contracts import LOGICAL_TYPES, LogicalType, types_table

# Package resources, not file paths: on Glue the package is a zip (--extra-py-files).
SQL_DIR: Traversable = files("clickpipe_core") / "sql"
MARTS_SQL_DIR = SQL_DIR / "marts"
MIGRATIONS_DIR = SQL_DIR / "migrations"
SCHEMA = "marts"

# The contract's logical types plus the few a mart needs.
# A sum of amounts is wider than one amount: 36 integer digits hold any day (or lifetime) of amounts
# of 16 digits each, far beyond any row count a day can have; the widest decimal all four targets
# share exactly. An average stays "money": it is never larger than the largest amount.
MART_TYPES = {
    **LOGICAL_TYPES,
    **types_table(
        LogicalType("money_total", "DECIMAL(38,2)", "decimal(38,2)", "numeric(38,2)", lambda pa: pa.decimal128(38, 2)),
        LogicalType("count", "BIGINT", "bigint", "bigint", lambda pa: pa.int64()),
        LogicalType("rank", "INTEGER", "int", "integer", lambda pa: pa.int32()),
        LogicalType("rate", "DOUBLE", "double", "double precision", lambda pa: pa.float64()),
    ),
}

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def identifier(name: str) -> str:
    """A checked SQL identifier: lower-case letters, digits and underscores only."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"{name!r} is not a safe SQL identifier")
    return name


@dataclass(frozen=True)
class MartColumn:
    name: str
    type: str  # a MART_TYPES key
    description: str = ""
    nullable: bool = False

    def __post_init__(self):
        identifier(self.name)
        if self.type not in MART_TYPES:
            raise ValueError(f"mart column {self.name}: unknown type {self.type!r}")

    @property
    def pg_type(self) -> str:
        return MART_TYPES[self.type].postgres


@dataclass(frozen=True)
class Mart:
    name: str  # table name in the marts schema and the SQL file's stem
    description: str
    columns: tuple[MartColumn, ...]
    key: tuple[str, ...]
    daily: bool  # True: replaced one dt at a time; False: not partitioned (kept by the day loads)
    sources: tuple[str, ...]  # processed datasets the SQL reads
    # True: the SQL reads the derived tables sessions and session_events (clickpipe_core/sessions.py),
    # built by DuckDB from the clicks of the days around each mart day, whatever Job 2's engine.
    sessionized: bool = False

    def __post_init__(self):
        identifier(self.name)
        names = [c.name for c in self.columns]
        if not set(self.key) <= set(names):
            raise ValueError(f"mart {self.name}: key {self.key} not among its columns")
        if self.daily and names[0] != "dt":
            raise ValueError(f"daily mart {self.name} must have dt as its first column")

    @property
    def table(self) -> str:
        return f"{SCHEMA}.{self.name}"

    @property
    def asset_key(self) -> str:
        """The asset the load materializes, as a Pipes asset key path: ``marts/<name>``."""
        return f"{SCHEMA}/{self.name}"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def sql_path(self) -> Traversable:
        return MARTS_SQL_DIR / f"{self.name}.sql"

    def sql(self) -> str:
        text = self.sql_path.read_text()
        if "{funnel_steps}" in text:
            steps = ", ".join(f"({i}, '{identifier(t)}')" for i, t in enumerate(SESSION_FUNNEL_STEPS, start=1))
            text = text.replace("{funnel_steps}", steps)
        return text


def _c(name, type_, description="", nullable=False):
    return MartColumn(name, type_, description, nullable)


DT = _c("dt", "date", "UTC day of the event (the processed zone's dt= partition)")

DAILY_EVENTS = Mart(
    name="daily_events",
    description="Click events per UTC day and event type: events, distinct users, distinct sessions.",
    columns=(
        DT,
        _c("event_type", "string", "page_view, click, search, add_to_cart, remove_from_cart, checkout, purchase"),
        _c("events", "count", "Number of events"),
        _c("users", "count", "Distinct users with such an event that day"),
        _c("sessions", "count", "Distinct sessions with such an event that day"),
    ),
    key=("dt", "event_type"),
    daily=True,
    sources=("clicks",),
)

FUNNEL_DAILY = Mart(
    name="funnel_daily",
    description=(
        "The daily session funnel page_view → add_to_cart → purchase. A session reaches a step when it "
        "has that event at or after the previous step's first event, within the same UTC day."
    ),
    columns=(
        DT,
        _c("sessions", "count", "Distinct sessions with any event that day"),
        _c("viewed_sessions", "count", "Sessions with a page_view"),
        _c("cart_sessions", "count", "Sessions with an add_to_cart at or after their first page_view"),
        _c("purchase_sessions", "count", "Sessions with a purchase at or after their first such add_to_cart"),
        _c("view_to_cart_rate", "rate", "cart_sessions / viewed_sessions (NULL when no view)", True),
        _c("cart_to_purchase_rate", "rate", "purchase_sessions / cart_sessions (NULL when no cart)", True),
        _c("view_to_purchase_rate", "rate", "purchase_sessions / viewed_sessions (NULL when no view)", True),
    ),
    key=("dt",),
    daily=True,
    sources=("clicks",),
)

REVENUE_DAILY = Mart(
    name="revenue_daily",
    description=(
        "Daily revenue per customer country and currency. Revenue and orders count completed "
        "transactions only (pending, failed and refunded payments are not revenue); amounts stay in "
        "their own currency (no FX conversion). Country is the user's current country ('ZZ' if unknown)."
    ),
    columns=(
        DT,
        _c("country", "string", "The paying user's country, ISO 3166-1 alpha-2 ('ZZ' when unknown)"),
        _c("currency", "string", "ISO 4217 currency of the amounts"),
        _c("transactions", "count", "All transactions, any status"),
        _c("orders", "count", "Completed transactions"),
        _c("revenue", "money_total", "Sum of completed amounts"),
        _c("avg_order_value", "money", "revenue / orders, rounded to cents (NULL without orders)", True),
        _c("refunded_amount", "money_total", "Sum of refunded amounts (not subtracted from revenue)"),
    ),
    key=("dt", "country", "currency"),
    daily=True,
    sources=("transactions", "users"),
)

TOP_PAGES_DAILY = Mart(
    name="top_pages_daily",
    description="The 50 most viewed pages of each UTC day (page_view events; ties by page path).",
    columns=(
        DT,
        _c("page_rank", "rank", "1 = most viewed that day"),
        _c("page", "string", "URL path"),
        _c("views", "count", "page_view events"),
        _c("users", "count", "Distinct users who viewed it"),
        _c("sessions", "count", "Distinct sessions that viewed it"),
    ),
    key=("dt", "page_rank"),
    daily=True,
    sources=("clicks",),
)

USERS_DIM = Mart(
    name="users",
    description=(
        "One row per user of the current users snapshot (no name or e-mail: no PII in the serving layer), "
        "with lifetime activity over every processed day: first and last seen (any click or transaction), "
        "events, sessions, orders and revenue (completed transactions). Maintained incrementally: each daily "
        "load updates the users active that day, each users load the snapshot's attributes and new users."
    ),
    columns=(
        _c("user_id", "string", "Stable user identifier"),
        _c("country", "string", "ISO 3166-1 alpha-2"),
        _c("plan", "string", "Subscription plan", True),
        _c("signup_date", "date", "Date the account was created"),
        _c("first_seen", "timestamp", "First click or transaction (NULL if never active)", True),
        _c("last_seen", "timestamp", "Last click or transaction (NULL if never active)", True),
        _c("lifetime_events", "count", "Click events"),
        _c("lifetime_sessions", "count", "Distinct sessions"),
        _c("lifetime_orders", "count", "Completed transactions"),
        _c("lifetime_revenue", "money_total", "Sum of completed amounts in revenue_currency (NULL when MIXED)", True),
        _c("revenue_currency", "string", "Currency of the completed orders; 'MIXED' if several, NULL if none", True),
    ),
    key=("user_id",),
    daily=False,
    sources=("users", "transactions", "clicks"),
)

# -- sessionized marts (rules: clickpipe_core/sessions.py) ---------------------------------------------

# The ordered event types of session_funnel_daily: a session reaches step k when it has that event
# after (by event order) the event that made it reach step k-1, anywhere in the session.
SESSION_FUNNEL_STEPS = ("page_view", "add_to_cart", "checkout", "purchase")
NOT_BOTS = "Bot sessions (the user agent parser's crawlers and automation clients) are left out."

SESSIONS = Mart(
    name="sessions",
    description=(
        "One row per session (the events of a user's session_id with no gap over 30 minutes), on the UTC day it "
        "starts, enriched with acquisition and user agent. Bot sessions are kept, flagged is_bot; the marts built "
        "from sessions leave them out."
    ),
    columns=(
        _c("dt", "date", "UTC day the session starts"),
        _c("user_id", "string", "The user"),
        _c("session_id", "string", "The client's session_id; '#2', '#3', ... for later parts after a 30-minute gap"),
        _c("started_at", "timestamp", "First event"),
        _c("ended_at", "timestamp", "Last event"),
        _c("duration_seconds", "count", "ended_at - started_at, whole seconds"),
        _c("events", "count", "Events of the session"),
        _c("page_views", "count", "page_view events"),
        _c("landing_page", "string", "Path of the first page view (of the first event without one)"),
        _c("exit_page", "string", "Path of the last page view (of the last event without one)"),
        _c("channel", "string", "search, social, email, paid, referral, other or direct"),
        _c("source", "string", "utm_source, else the referrer's host, else (direct)"),
        _c("medium", "string", "utm_medium", True),
        _c("campaign", "string", "utm_campaign or (none)"),
        _c("device_class", "string", "desktop, mobile, tablet, bot or unknown (from the user agent)"),
        _c("browser", "string", "Browser family (ua-parser)"),
        _c("browser_version", "string", "major[.minor]", True),
        _c("os", "string", "Operating system family (ua-parser)"),
        _c("is_bot", "flag", "A crawler or automation client"),
        _c("bounce", "flag", "The session has exactly one event"),
        _c("converted", "flag", "The session has a purchase"),
        _c("revenue", "money_total", "Sum of its purchases' revenue (NULL when in several currencies)", True),
        _c("currency", "string", "Currency of its purchases; MIXED if several, NULL if none", True),
    ),
    key=("dt", "user_id", "session_id"),
    daily=True,
    sources=("clicks",),
    sessionized=True,
)

ACQUISITION_DAILY = Mart(
    name="acquisition_daily",
    description=f"Sessions, users, bounces, conversions and revenue per day by channel, source and campaign. {NOT_BOTS}",
    columns=(
        DT,
        _c("channel", "string", "search, social, email, paid, referral, other or direct"),
        _c("source", "string", "utm_source, else the referrer's host, else (direct)"),
        _c("campaign", "string", "utm_campaign or (none)"),
        _c("sessions", "count", "Sessions starting that day"),
        _c("users", "count", "Distinct users of those sessions"),
        _c("bounces", "count", "Sessions with one event"),
        _c("conversions", "count", "Sessions with a purchase"),
        _c("revenue", "money_total", "Revenue of those sessions (NULL when in several currencies)", True),
        _c("revenue_currency", "string", "Currency of the revenue; MIXED if several, NULL if none", True),
    ),
    key=("dt", "channel", "source", "campaign"),
    daily=True,
    sources=("clicks",),
    sessionized=True,
)

ENGAGEMENT_DAILY = Mart(
    name="engagement_daily",
    description=f"Sessions per day by duration bucket, with their page views and bounces. {NOT_BOTS}",
    columns=(
        DT,
        _c("duration_bucket", "string", "0-10s, 10-30s, 30s-1m, 1-3m, 3-10m, 10-30m, 30m+"),
        _c("bucket_order", "rank", "1 = shortest bucket"),
        _c("sessions", "count", "Sessions in the bucket"),
        _c("page_views", "count", "Their page views"),
        _c("bounces", "count", "Their sessions with one event"),
        _c("pages_per_session", "rate", "page_views / sessions"),
        _c("bounce_rate", "rate", "bounces / sessions"),
    ),
    key=("dt", "duration_bucket"),
    daily=True,
    sources=("clicks",),
    sessionized=True,
)

DEVICES_DAILY = Mart(
    name="devices_daily",
    description=f"Sessions, users, bounces and conversions per day by device class, browser and OS. {NOT_BOTS}",
    columns=(
        DT,
        _c("device_class", "string", "desktop, mobile, tablet or unknown"),
        _c("browser", "string", "Browser family (ua-parser)"),
        _c("os", "string", "Operating system family (ua-parser)"),
        _c("sessions", "count", "Sessions starting that day"),
        _c("users", "count", "Distinct users"),
        _c("bounces", "count", "Sessions with one event"),
        _c("conversions", "count", "Sessions with a purchase"),
    ),
    key=("dt", "device_class", "browser", "os"),
    daily=True,
    sources=("clicks",),
    sessionized=True,
)

SESSION_FUNNEL_DAILY = Mart(
    name="session_funnel_daily",
    description=(
        f"The session funnel {' → '.join(SESSION_FUNNEL_STEPS)} per day of session start: a session reaches a step "
        f"when it has that event after the event that reached the step before, anywhere in the session (across "
        f"midnight too). {NOT_BOTS}"
    ),
    columns=(
        DT,
        _c("step", "rank", "1 = the first step"),
        _c("event_type", "string", "The step's event type"),
        _c("sessions", "count", "Sessions that reached the step"),
        _c("rate_from_previous", "rate", "sessions / the previous step's sessions (NULL when that is 0; 1 for step 1)", True),
        _c("rate_from_first", "rate", "sessions / step 1's sessions (NULL when that is 0)", True),
    ),
    key=("dt", "step"),
    daily=True,
    sources=("clicks",),
    sessionized=True,
)

PAGE_TRANSITIONS_DAILY = Mart(
    name="page_transitions_daily",
    description=(
        "The 100 most frequent next-page transitions of each day (a page view to the session's next page view, "
        f"paths without query strings, repeats of the same page included), by session start day. {NOT_BOTS}"
    ),
    columns=(
        DT,
        _c("transition_rank", "rank", "1 = most frequent that day (ties by pages)"),
        _c("from_page", "string", "Path viewed"),
        _c("to_page", "string", "Path viewed next in the same session"),
        _c("transitions", "count", "How often"),
        _c("sessions", "count", "Distinct sessions making it"),
        _c("day_transitions", "count", "All transitions of the day, top 100 or not (the denominator of a share)"),
    ),
    key=("dt", "transition_rank"),
    daily=True,
    sources=("clicks",),
    sessionized=True,
)

PURCHASE_PATHS_DAILY = Mart(
    name="purchase_paths_daily",
    description=(
        "The 20 most common paths to a purchase of each day: the last four pages viewed before a session's first "
        f"purchase (a page repeated in a row once), by session start day. {NOT_BOTS}"
    ),
    columns=(
        DT,
        _c("path_rank", "rank", "1 = most common that day (ties by path)"),
        _c("path", "string", "Pages joined by ' → ', or '(no page view)'"),
        _c("sessions", "count", "Converted sessions that took it"),
        _c("day_sessions", "count", "All converted sessions of the day, top 20 or not"),
    ),
    key=("dt", "path_rank"),
    daily=True,
    sources=("clicks",),
    sessionized=True,
)

RETENTION_WEEKLY = Mart(
    name="retention_weekly",
    description=(
        "Weekly cohorts: users by the ISO week (UTC) of their first session, and how many of them came back, and "
        "bought, each week after, over every loaded day of sessions. Maintained incrementally: each day's load of the "
        f"session marts updates the cohorts of the users active that day, from their visits (user_visits_daily). {NOT_BOTS}"
    ),
    columns=(
        _c("cohort_week", "date", "Monday of the week of the users' first session"),
        _c("weeks_since", "rank", "0 = the cohort's own week"),
        _c("cohort_users", "count", "Users of the cohort"),
        _c("users", "count", "Of them, users with a session that week"),
        _c("purchasers", "count", "Of them, users with a purchase that week"),
        _c("user_retention", "rate", "users / cohort_users"),
        _c("purchaser_share", "rate", "purchasers / cohort_users"),
    ),
    key=("cohort_week", "weeks_since"),
    daily=False,
    sources=("clicks",),
    sessionized=True,
)

# User activity per day: internal daily tables (no assets, no dashboard) loaded with the daily marts
# of the same sources, from which the users dimension is maintained incrementally (pg_load).
USER_CLICKS_DAILY = Mart(
    name="user_clicks_daily",
    description="Per UTC day and user: first and last click, click events.",
    columns=(DT, _c("user_id", "string"), _c("first_ts", "timestamp"), _c("last_ts", "timestamp"), _c("events", "count")),
    key=("dt", "user_id"),
    daily=True,
    sources=("clicks",),
)
USER_SESSIONS_DAILY = Mart(
    name="user_sessions_daily",
    description="Per UTC day and user: each session, once.",
    columns=(DT, _c("user_id", "string"), _c("session_id", "string")),
    key=("dt", "user_id", "session_id"),
    daily=True,
    sources=("clicks",),
)
USER_PAYMENTS_DAILY = Mart(
    name="user_payments_daily",
    description="Per UTC day and user: first and last transaction, completed orders and revenue, their currencies.",
    columns=(
        DT,
        _c("user_id", "string"),
        _c("first_ts", "timestamp"),
        _c("last_ts", "timestamp"),
        _c("orders", "count"),
        _c("revenue", "money_total"),
        _c("min_currency", "string", nullable=True),
        _c("max_currency", "string", nullable=True),
    ),
    key=("dt", "user_id"),
    daily=True,
    sources=("transactions",),
)
USER_ACTIVITY = (USER_CLICKS_DAILY, USER_SESSIONS_DAILY, USER_PAYMENTS_DAILY)
# The visits weekly retention is maintained from (pg_load): loaded with the session marts of the same days.
USER_VISITS_DAILY = Mart(
    name="user_visits_daily",
    description="Per UTC day of session start and user with a session that is not a bot's: whether one of them bought.",
    columns=(DT, _c("user_id", "string"), _c("purchased", "flag")),
    key=("dt", "user_id"),
    daily=True,
    sources=("clicks",),
    sessionized=True,
)


def activity_for(marts: list[Mart]) -> list[Mart]:
    """The user activity tables a daily load of ``marts`` replaces too: those of the same sources."""
    sources = {s for m in marts for s in m.sources}
    return [a for a in USER_ACTIVITY if set(a.sources) <= sources]


def visits_for(marts: list[Mart]) -> list[Mart]:
    """The visits table a daily load of ``marts`` replaces too: with any sessionized daily mart."""
    return [USER_VISITS_DAILY] if any(m.sessionized and m.daily for m in marts) else []


MARTS: dict[str, Mart] = {
    m.name: m
    for m in (DAILY_EVENTS, FUNNEL_DAILY, REVENUE_DAILY, TOP_PAGES_DAILY, SESSIONS, ACQUISITION_DAILY,
              ENGAGEMENT_DAILY, DEVICES_DAILY, SESSION_FUNNEL_DAILY, PAGE_TRANSITIONS_DAILY, PURCHASE_PATHS_DAILY,
              USERS_DIM, RETENTION_WEEKLY)
}  # fmt: skip
DAILY_MARTS = [m for m in MARTS.values() if m.daily and not m.sessionized]
SESSION_MARTS = [m for m in MARTS.values() if m.sessionized and m.daily]  # by day of session start
FULL_MARTS = [m for m in MARTS.values() if not m.daily]
MART_GROUPS = {"daily": DAILY_MARTS, "sessions": SESSION_MARTS, "users": [USERS_DIM], "retention": [RETENTION_WEEKLY]}


def arrow_schema(mart: Mart):
    import pyarrow as pa

    return pa.schema([pa.field(c.name, MART_TYPES[c.type].arrow, nullable=c.nullable) for c in mart.columns])

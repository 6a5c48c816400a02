"""Sessions: the rule that cuts click events into visits.

Pure Python (no engine): Glue Job 2 builds the sessionized marts with DuckDB
(``glue_scripts/marts_engine.py``) from the SQL in ``clickpipe_core/sql/sessions/``, on one engine,
so there is no second implementation of the session rule to keep in parity. Enrichment is not
derived here: every processed click carries Job 1's enrichment columns (browser, OS, device class,
bot flag, channel, source, medium, campaign; ``clickpipe_core/enrichment.py``), and a session takes
those of its first event.

**The session rule.** The events of one ``(user_id, session_id)`` ordered by ``ts`` (ties by
``event_id``, so out-of-order arrival changes nothing) form one session until a gap of more than
``SESSION_GAP_MINUTES``; the next event starts a new session, whose id is the client's
``session_id`` with ``#2``, ``#3``, ... appended. A session belongs to the UTC day it *starts*
(``dt``), also when it runs past midnight.

**Which events a mart day reads.** Mart day D is derived from the processed event days
D-1 .. D+1 (``window_days``): D-1 tells whether D's first events continue a session that began the
day before (then they belong to D-1), D+1 holds the tail of D's sessions that cross midnight. A
session of continuous activity longer than a whole day (a crawler) is cut where the window ends.
A late event (within the contract's late window) lands in its own event day; every mart day whose
window holds that day is rebuilt (the Dagster dependency is ingest days D-1 .. D+1+late window), so
the sessions it changes are derived again from all their events.

**Per session** (``sql/sessions/sessions.sql``): start, end, duration (seconds, whole), events and
page views; landing page = the path (no query string) of the first page view, exit page = of the
last one, or of the first / last event when the session has no page view (a purchase with no view
still makes a row); acquisition (channel, source, medium, campaign) and browser, OS, device class
and bot flag = the first event's enrichment columns (from its page, referrer and user agent); ``bounce`` =
the session has exactly one event; ``converted`` = it has a purchase; ``revenue`` = the sum of its
purchases' ``properties.revenue`` (a purchase without a readable number counts 0) in their
``currency``, or NULL with currency ``MIXED`` when they are in several.

**Retention** (``retention_weekly``) covers every day's sessions: weeks are ISO weeks (Monday,
UTC); a user's cohort is the week of their first non-bot session; the first and last weeks of the
data are partial weeks. Like the users dimension it is maintained incrementally: each day's load of
the session marts also loads that day's visits (``user_visits_daily``: per user, a non-bot session
started that day, and whether one bought), from which PostgreSQL updates the cohorts of that day's
users (``clickpipe_core/pg_load.py``).

**Bots** stay in the sessions mart, flagged (``is_bot``), so it accounts for every processed event;
every mart built from it leaves them out (``WHERE NOT is_bot``).
"""

from __future__ import annotations

import datetime as _dt

from clickpipe_core.marts import SQL_DIR

SESSION_GAP_MINUTES = 30
SESSIONS_SQL_DIR = SQL_DIR / "sessions"


def window_days(days: list[str]) -> list[str]:
    """The event days the sessions of ``days`` are derived from: each day with its neighbours."""
    out = set()
    for day in days:
        d = _dt.date.fromisoformat(day)
        out.update((d + _dt.timedelta(days=k)).isoformat() for k in (-1, 0, 1))
    return sorted(out)


def session_events_sql() -> str:
    return (SESSIONS_SQL_DIR / "session_events.sql").read_text().replace("{gap_minutes}", str(int(SESSION_GAP_MINUTES)))


def sessions_sql(days: list[str] | None) -> str:
    """The sessions that start on ``days`` (checked ISO dates, inlined as DATE literals); every
    session when None."""
    if days is None:
        day_filter = "TRUE"
    else:
        literals = ", ".join(f"DATE '{_dt.date.fromisoformat(d).isoformat()}'" for d in days) or "NULL"
        day_filter = f"CAST(s.started_at AS DATE) IN ({literals})"
    return (SESSIONS_SQL_DIR / "sessions.sql").read_text().replace("{day_filter}", day_filter)

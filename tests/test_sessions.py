"""Sessions from hand-written click sequences (clickpipe_core/sessions.py): the 30-minute rule, midnight,
late and out-of-order events, one-event sessions, a purchase with no view, bots, and bad user agents,
referrers and UTM parameters; then the sessionized marts through Glue Job 2 into PostgreSQL."""

from __future__ import annotations

import json
import sys
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import psycopg
import pyarrow.parquet as pq
import pytest

from clickpipe_core import catalog, layout
from clickpipe_core import sessions as rules
from clickpipe_core.lake_store import LocalStore
from clickpipe_core.marts import RETENTION_WEEKLY, SESSION_FUNNEL_STEPS, SESSION_MARTS
from glue_scripts.marts_engine import DuckDBMartEngine
from support import run_job2

sys.path.insert(0, str(Path(__file__).parent / "serving"))
from serving_data import write_processed  # noqa: E402

UTC = timezone.utc
D0, D1, D2 = "2026-11-01", "2026-11-02", "2026-11-03"
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def at(day: str, hh: int, mm: int, ss: int = 0) -> datetime:
    d = date.fromisoformat(day)
    return datetime(d.year, d.month, d.day, hh, mm, ss, tzinfo=UTC)


def click(user, session, event_type, ts, page="/", *, referrer=None, ua=CHROME, props=None, ingest=None, n=[0]):
    n[0] += 1
    return {
        "event_id": str(uuid.UUID(int=n[0], version=4)),
        "user_id": user,
        "session_id": session,
        "event_type": event_type,
        "page": page,
        "referrer": referrer,
        "device": "desktop",
        "user_agent": ua,
        "country": "US",
        "ts": ts,
        "properties": json.dumps(props) if props is not None else None,
        "ingest_date": date.fromisoformat(ingest) if ingest else ts.date(),
    }


def buy(revenue, currency="USD"):
    return {"order_id": "O1", "revenue": revenue, "currency": currency}


def sequences() -> list[dict]:
    """Each session of the fixture, listed out of order on purpose (files do not order events)."""
    return [
        # midnight: 23:50 .. 00:10 with 12-minute gaps is one session of D0
        click("U1", "mid", "page_view", at(D1, 0, 10), "/cart"),
        click("U1", "mid", "page_view", at(D0, 23, 50), "/?utm_source=news&utm_medium=email&utm_campaign=gift%20guide&utm_campaign=other"),
        click("U1", "mid", "add_to_cart", at(D0, 23, 58), "/p/1"),
        # a 35-minute gap cuts U2's session in two; the second part is 'split#2'
        click("U2", "split", "page_view", at(D1, 10, 0), "/", referrer="https://www.google.com/"),
        click("U2", "split", "page_view", at(D1, 10, 5), "/p/1"),
        click("U2", "split", "page_view", at(D1, 10, 40), "/p/2"),
        # one event: a bounce; its referrer is not a URL (direct) and its user agent is absurd
        click("U3", "one", "page_view", at(D1, 12, 0), "/p/3", referrer="not a url", ua="¯\\_(ツ)_/¯ " + "x" * 2000),
        # a purchase with no page view (the view was lost): a row all the same, converted
        click("U4", "buy", "purchase", at(D1, 13, 0), "/checkout", ua="", props=buy(19.99)),
        # out of order, with a purchase after checkout: the landing page is the earliest event
        click("U5", "shop", "purchase", at(D1, 14, 9), "/checkout", props=buy(5.01)),
        click("U5", "shop", "page_view", at(D1, 14, 0), "/c/shoes?gclid=abc", referrer="https://www.google.com/"),
        click("U5", "shop", "checkout", at(D1, 14, 8), "/checkout"),
        click("U5", "shop", "add_to_cart", at(D1, 14, 5), "/p/9"),
        click("U5", "shop", "page_view", at(D1, 14, 4), "/p/9"),
        click("U5", "shop", "page_view", at(D1, 14, 7), "/checkout"),
        # two purchases in two currencies: revenue NULL, currency MIXED
        click("U6", "mixed", "purchase", at(D1, 15, 0), "/checkout", props=buy(1, "USD")),
        click("U6", "mixed", "purchase", at(D1, 15, 1), "/checkout", props=buy(2, "EUR")),
        # a crawler: kept in sessions, flagged, left out of every other mart
        *(click("bot-google", "crawl", "page_view", at(D1, 16, k), f"/p/{k}", ua=GOOGLEBOT) for k in range(5)),
    ]


@pytest.fixture
def lake(tmp_path):
    root = tmp_path / "lake"
    write_processed(root, {"users": [], "transactions": [], "clicks": sequences()})
    return root


def derived(lake, days):
    with DuckDBMartEngine(LocalStore(lake)) as engine:
        engine.derive_sessions(days)
        built = {m.name: engine.build(m).to_pylist() for m in SESSION_MARTS}
    return {(r["user_id"], r["session_id"]): r for r in built["sessions"]}, built


def test_window_days_are_each_day_and_its_neighbours():
    assert rules.window_days([D1]) == [D0, D1, D2]
    assert rules.window_days([D0, D2]) == ["2026-10-31", D0, D1, D2, "2026-11-04"]


def test_sessions_by_the_rules(lake):
    s, _ = derived(lake, [D0, D1])
    mid = s[("U1", "mid")]
    assert (mid["dt"], mid["events"], mid["page_views"], mid["duration_seconds"]) == (date(2026, 11, 1), 3, 2, 1200)
    assert (mid["landing_page"], mid["exit_page"]) == ("/", "/cart")
    assert (mid["channel"], mid["source"], mid["campaign"]) == ("email", "news", "gift guide")  # decoded, first wins
    assert s[("U2", "split")]["events"] == 2 and s[("U2", "split#2")]["events"] == 1
    assert s[("U2", "split")]["channel"] == "search" and s[("U2", "split#2")]["channel"] == "direct"
    one = s[("U3", "one")]
    assert one["bounce"] and one["events"] == 1 and one["channel"] == "direct" and one["device_class"] == "unknown"
    lost = s[("U4", "buy")]
    assert (lost["page_views"], lost["landing_page"], lost["converted"], lost["revenue"], lost["currency"]) == (
        0, "/checkout", True, Decimal("19.99"), "USD")  # fmt: skip
    assert (lost["browser"], lost["device_class"], lost["is_bot"]) == ("Unknown", "unknown", False)  # empty agent
    shop = s[("U5", "shop")]
    assert (shop["landing_page"], shop["exit_page"], shop["channel"], shop["page_views"]) == ("/c/shoes", "/checkout", "paid", 3)
    assert shop["converted"] and shop["revenue"] == Decimal("5.01") and not shop["bounce"]
    assert (s[("U6", "mixed")]["revenue"], s[("U6", "mixed")]["currency"]) == (None, "MIXED")
    bot = s[("bot-google", "crawl")]
    assert bot["is_bot"] and bot["device_class"] == "bot" and bot["events"] == 5


def test_a_day_holds_the_sessions_that_start_on_it(lake):
    only_d1, _ = derived(lake, [D1])
    assert ("U1", "mid") not in only_d1  # its 00:10 event continues D0's session
    assert {d["dt"] for d in only_d1.values()} == {date(2026, 11, 2)}
    only_d0, _ = derived(lake, [D0])
    assert set(only_d0) == {("U1", "mid")} and only_d0[("U1", "mid")]["events"] == 3  # D1's tail read too


def test_a_late_event_rederives_its_session(lake):
    # A late event of 'mid' (arrived two days later, within the late window) lands in event day D1.
    extra = [click("U1", "mid", "page_view", at(D1, 0, 25), "/checkout", ingest=D2)]
    write_processed(lake, {"users": [], "transactions": [], "clicks": extra})
    s, _ = derived(lake, [D0])
    assert (s[("U1", "mid")]["events"], s[("U1", "mid")]["exit_page"], s[("U1", "mid")]["duration_seconds"]) == (4, "/checkout", 2100)


def test_days_written_before_job1_enriched_give_the_same_sessions(lake, tmp_path):
    """Processed files without the enrichment columns (written before Job 1 enriched) read as NULL
    there and are enriched by Job 2 with the same rules: the same sessions and marts, also when
    old and new files meet in one session."""
    old = tmp_path / "old-lake"
    write_processed(old, {"users": [], "transactions": [], "clicks": sequences()}, enrich=False)
    late = [click("U1", "mid", "page_view", at(D1, 0, 25), "/checkout", ingest=D2)]
    for root, enrich in ((lake, True), (old, True)):  # the late event arrives after the upgrade
        write_processed(root, {"users": [], "transactions": [], "clicks": late}, enrich=enrich)
    assert not any("browser" in pq.read_schema(f).names for f in (old / "processed" / "clicks" / f"dt={D0}").rglob("*.parquet"))
    new_sessions, new_marts = derived(lake, [D0, D1])
    old_sessions, old_marts = derived(old, [D0, D1])
    assert old_sessions == new_sessions
    assert {m: sorted(map(repr, rows)) for m, rows in old_marts.items()} == {m: sorted(map(repr, rows)) for m, rows in new_marts.items()}
    assert old_sessions[("U1", "mid")]["events"] == 4 and old_sessions[("bot-google", "crawl")]["is_bot"]


def test_the_marts_leave_bots_out_and_add_up(lake):
    s, built = derived(lake, [D1])
    people = [r for r in s.values() if not r["is_bot"]]
    acquisition = built["acquisition_daily"]
    assert sum(r["sessions"] for r in acquisition) == len(people) == sum(r["sessions"] for r in built["engagement_daily"])
    assert sum(r["sessions"] for r in built["devices_daily"]) == len(people)
    assert "bot" not in {r["device_class"] for r in built["devices_daily"]}
    assert sum(r["conversions"] for r in acquisition) == sum(r["converted"] for r in people) == 3
    paid = next(r for r in acquisition if r["channel"] == "paid")
    assert (paid["revenue"], paid["revenue_currency"]) == (Decimal("5.01"), "USD")
    direct = next(r for r in acquisition if r["channel"] == "direct")  # holds U6's MIXED session
    assert (direct["revenue"], direct["revenue_currency"]) == (None, "MIXED")
    funnel = {r["event_type"]: r for r in built["session_funnel_daily"]}
    # only U5 goes view -> cart -> checkout -> purchase in order; U4 and U6 buy with no view
    assert [funnel[t]["sessions"] for t in SESSION_FUNNEL_STEPS] == [len(people) - 2, 1, 1, 1]
    assert funnel["purchase"]["rate_from_first"] == pytest.approx(1 / (len(people) - 2))
    transitions = {(r["from_page"], r["to_page"]): r["transitions"] for r in built["page_transitions_daily"]}
    # page views in event order within each session; none across split#2's 35-minute gap, none of the bot
    assert transitions == {("/", "/p/1"): 1, ("/c/shoes", "/p/9"): 1, ("/p/9", "/checkout"): 1}
    assert {r["day_transitions"] for r in built["page_transitions_daily"]} == {3}
    paths = {r["path"]: (r["sessions"], r["day_sessions"]) for r in built["purchase_paths_daily"]}
    assert paths == {"(no page view)": (2, 3), "/c/shoes → /p/9 → /checkout": (1, 3)}  # the view of /checkout once


def test_weekly_cohorts_by_first_session(lake):
    # U7 first came in the week of 2026-10-19 and came back to buy two weeks later (D1's week).
    extra = [
        click("U7", "old", "page_view", at("2026-10-20", 9, 0), "/"),
        click("U7", "back", "page_view", at(D1, 9, 0), "/p/1", ingest="2026-11-04"),  # a file of its own
        click("U7", "back", "purchase", at(D1, 9, 5), "/checkout", props=buy(3), ingest="2026-11-04"),
    ]
    write_processed(lake, {"users": [], "transactions": [], "clicks": extra})
    with DuckDBMartEngine(LocalStore(lake)) as engine:
        engine.derive_sessions(None)
        rows = engine.build(RETENTION_WEEKLY).to_pylist()
    got = {(str(r["cohort_week"]), r["weeks_since"]): (r["cohort_users"], r["users"], r["purchasers"]) for r in rows}
    assert got == {
        ("2026-10-19", 0): (1, 1, 0),
        ("2026-10-19", 2): (1, 1, 1),
        ("2026-10-26", 0): (1, 1, 0),  # U1: Sunday 2026-11-01 is in the ISO week of Monday 2026-10-26
        ("2026-11-02", 0): (5, 5, 3),  # U2 .. U6, of whom U4, U5, U6 bought; U7 is 10-19's, the bot in none
    }


def test_job2_loads_the_session_marts_into_postgres(monkeypatch, pg_url, lake):
    assert run_job2(monkeypatch, pg_url, lake, "sessions", [D0, D1, D2]) == 0
    with psycopg.connect(pg_url) as con:
        by_day = dict(con.execute("SELECT dt::text, COUNT(*) FROM marts.sessions GROUP BY 1").fetchall())
        bots = con.execute("SELECT COUNT(*) FROM marts.sessions WHERE is_bot").fetchone()[0]
        devices = con.execute("SELECT COALESCE(SUM(sessions), 0) FROM marts.devices_daily").fetchone()[0]
        loads = dict(con.execute("SELECT partition, row_count FROM marts.partition_loads WHERE mart = 'sessions'").fetchall())
    assert by_day == {D0: 1, D1: 7} and bots == 1 and devices == 7
    assert loads == {D0: 1, D1: 7, D2: 0}  # an empty day is a loaded day with no rows


def _published(lake, day):
    return pq.read_table(lake / layout.sessions_key(day)).to_pylist()


def test_processed_sessions_equal_marts_sessions_in_postgres(monkeypatch, pg_url, lake):
    """The run that loads the session marts also publishes processed/sessions/dt=D/ from the same
    derivation: for each day, the same rows as marts.sessions in PostgreSQL."""
    assert run_job2(monkeypatch, pg_url, lake, "sessions", [D0, D1, D2], publish_sessions=True) == 0
    columns = [n for n, _ in catalog.SESSIONS_TABLE.processed_columns]
    with psycopg.connect(pg_url) as con:
        for day, n in ((D0, 1), (D1, 7), (D2, 0)):
            pg = con.execute(f"SELECT {', '.join(columns)} FROM marts.sessions WHERE dt = %s ORDER BY user_id, session_id", [day]).fetchall()
            lake_rows = [tuple(r[c] for c in columns) for r in _published(lake, day)]
            assert lake_rows == pg and len(pg) == n, day
    schemas = [[(f.name, str(f.type)) for f in pq.read_schema(lake / layout.sessions_key(d))] for d in (D1, D2)]
    assert schemas[0] == schemas[1] and [n for n, _ in schemas[0]] == columns  # an empty day too


def test_processed_sessions_alone_and_as_a_table_to_query(monkeypatch, lake, tmp_path):
    """Only the processed sessions (no warehouse named at all), then the local Athena view answers."""
    import duckdb

    monkeypatch.delenv("CLICKPIPE_JOB_PG_URL", raising=False)
    from glue_scripts.processed_to_rds import main as job2_main

    monkeypatch.delenv("DAGSTER_PIPES_CONTEXT", raising=False)
    assert job2_main(["--publish-sessions", "true", "--lake", str(lake), "--partition", D1]) == 0
    assert not (lake / layout.sessions_key(D0)).exists()  # only the day asked for
    con = duckdb.connect()
    counts = catalog.create_duckdb_views(con, str(lake))
    assert counts["sessions"] == 1
    got = con.execute(
        "SELECT dt, count(*), count(*) FILTER (WHERE is_bot), sum(events), max(channel) FILTER (WHERE session_id = 'shop') "
        "FROM sessions GROUP BY dt"
    ).fetchall()
    assert got == [(D1, 7, 1, 2 + 1 + 1 + 1 + 6 + 2 + 5, "paid")]  # split, split#2, one, buy, shop, mixed, crawl
    described = {r[0]: r[1] for r in con.execute("DESCRIBE sessions").fetchall()}
    assert described["revenue"] == "DECIMAL(38,2)" and described["is_bot"] == "BOOLEAN" and described["dt"] == "VARCHAR"


# -- weekly retention, maintained by the day loads ---------------------------------------------------------


def _retention_definition(lake) -> list[tuple]:
    """retention_weekly.sql over every processed day's sessions, derived whole: the definition."""
    with DuckDBMartEngine(LocalStore(lake)) as engine:
        engine.derive_sessions(None)
        rows = engine.build(RETENTION_WEEKLY).to_pylist()
    return sorted(tuple(r[c] for c in RETENTION_WEEKLY.column_names) for r in rows)


def _retention_in_postgres(url) -> list[tuple]:
    with psycopg.connect(url) as con:
        return con.execute(f"SELECT {', '.join(RETENTION_WEEKLY.column_names)} FROM marts.retention_weekly ORDER BY 1, 2").fetchall()


def _visits(url) -> list[tuple]:
    with psycopg.connect(url) as con:
        return con.execute("SELECT dt, user_id, purchased FROM marts.user_visits_daily ORDER BY 1, 2").fetchall()


def weeks_of_visits() -> list[dict]:
    """Five ISO weeks (Mondays 10-19 .. 11-16) of returning users, buyers, a crawler and a session
    across Sunday midnight, on top of ``sequences()`` (days 11-01 and 11-02)."""
    return [
        *sequences(),
        click("A", "a1", "page_view", at("2026-10-20", 9, 0)),
        click("A", "a2", "purchase", at("2026-10-28", 9, 0), "/checkout", props=buy(3)),
        click("A", "a3", "page_view", at("2026-11-03", 9, 0)),
        click("B", "b1", "page_view", at("2026-10-27", 10, 0)),
        click("B", "b2", "page_view", at("2026-11-04", 10, 0)),
        click("B", "b2", "purchase", at("2026-11-04", 10, 5), "/checkout", props=buy(4)),
        click("B", "b3", "page_view", at("2026-11-10", 10, 0)),
        click("C", "c1", "page_view", at("2026-11-03", 11, 0)),
        click("C", "c2", "purchase", at("2026-11-17", 11, 0), "/checkout", props=buy(5)),
        click("U2", "again", "page_view", at("2026-11-10", 8, 0)),  # U2 (cohort 11-02) comes back
        click("G", "g1", "page_view", at("2026-10-27", 12, 0)),
        click("G", "g2", "purchase", at("2026-11-03", 12, 0), "/checkout", props=buy(7)),
        # a session from Sunday 23:50 to Monday 00:10 with a purchase on Monday: week 11-02's, converted
        click("E", "late-night", "page_view", at("2026-11-08", 23, 50)),
        click("E", "late-night", "purchase", at("2026-11-09", 0, 10), "/checkout", props=buy(6)),
        *(click("bot-bing", "crawl", "page_view", at("2026-11-04", 3, k), f"/p/{k}", ua=GOOGLEBOT) for k in range(3)),
    ]


def _load_sessions(monkeypatch, url, lake, days):
    assert run_job2(monkeypatch, url, lake, "sessions", days) == 0


def test_weekly_retention_maintained_by_the_day_loads_equals_its_whole_history_definition(monkeypatch, pg_url, tmp_path):
    """marts.retention_weekly is updated in each session marts' day transaction from the users of that
    day only; after days loaded out of order, a day processed again with other data, a late event that
    moves a user to an earlier cohort, a day loaded again and a day that lost its data, it equals
    retention_weekly.sql over every day's sessions, derived whole."""
    lake = tmp_path / "lake"
    write_processed(lake, {"users": [], "transactions": [], "clicks": weeks_of_visits()})
    days = sorted(p.name.removeprefix("dt=") for p in (lake / "processed" / "clicks").iterdir())
    late, early = [d for d in days if d >= "2026-11-01"], [d for d in days if d < "2026-11-01"]
    _load_sessions(monkeypatch, pg_url, lake, late)  # the later weeks first
    _load_sessions(monkeypatch, pg_url, lake, early)
    first = _retention_in_postgres(pg_url)
    assert first == _retention_definition(lake)
    cells = {(str(r[0]), r[1]): r[2:5] for r in first}
    assert cells[("2026-10-19", 0)] == (1, 1, 0) and cells[("2026-10-19", 1)] == (1, 1, 1)  # A, who bought in week 1
    # cohort 11-02: U2 .. U6, C and E; U4, U5, U6 bought, and E, whose Sunday-night session bought on Monday
    assert cells[("2026-11-02", 0)] == (7, 7, 4) and cells[("2026-11-02", 1)] == (7, 1, 0)  # U2 came back
    assert "bot-bing" not in {v[1] for v in _visits(pg_url)}

    # 11-04 is processed again: B's purchase was a duplicate of another delivery, a new user F came, and
    # G, who bought the day before (same week), came back and bought again
    for f in (lake / "processed" / "clicks" / "dt=2026-11-04").rglob("*.parquet"):
        f.unlink()
    write_processed(lake, {"users": [], "transactions": [], "clicks": [
        click("B", "b2", "page_view", at("2026-11-04", 10, 0)), click("F", "f1", "page_view", at("2026-11-04", 12, 0)),
        click("G", "g3", "purchase", at("2026-11-04", 12, 0), "/checkout", props=buy(8)),
    ]})  # fmt: skip
    _load_sessions(monkeypatch, pg_url, lake, ["2026-11-03", "2026-11-04", "2026-11-05"])
    assert _retention_in_postgres(pg_url) == _retention_definition(lake) != first

    # a late event: C's earlier visit (week 10-19) arrives days later; C leaves cohort 11-02 for 10-19
    write_processed(lake, {"users": [], "transactions": [], "clicks": [click("C", "c0", "page_view", at("2026-10-21", 7, 0), ingest="2026-10-22")]})
    _load_sessions(monkeypatch, pg_url, lake, ["2026-10-20", "2026-10-21", "2026-10-22"])
    moved = _retention_in_postgres(pg_url)
    assert moved == _retention_definition(lake)
    assert {(str(r[0]), r[1]): r[2] for r in moved}[("2026-10-19", 0)] == 2  # A and C

    # the same days again: nothing changes (idempotent)
    visits = _visits(pg_url)
    _load_sessions(monkeypatch, pg_url, lake, days)
    assert _retention_in_postgres(pg_url) == moved and _visits(pg_url) == visits

    # a day that lost its data (every file of 10-20 gone): A's first week goes with it
    for f in (lake / "processed" / "clicks" / "dt=2026-10-20").rglob("*.parquet"):
        f.unlink()
    _load_sessions(monkeypatch, pg_url, lake, ["2026-10-20"])
    assert _retention_in_postgres(pg_url) == _retention_definition(lake) != moved

    # the retention run reports what the loads keep, and changes nothing
    kept = _retention_in_postgres(pg_url)
    assert run_job2(monkeypatch, pg_url, lake, "retention") == 0
    assert _retention_in_postgres(pg_url) == kept


def test_the_retention_run_loads_the_visits_of_days_never_loaded(monkeypatch, pg_database, tmp_path):
    """A new warehouse (or one migrated from before the visits table): the retention run alone loads
    the visits of every processed day, giving the whole-history definition; a second run loads none."""
    lake = tmp_path / "lake"
    write_processed(lake, {"users": [], "transactions": [], "clicks": weeks_of_visits()})
    url = pg_database("_retention_alone")
    assert run_job2(monkeypatch, url, lake, "retention") == 0
    assert _retention_in_postgres(url) == _retention_definition(lake)
    with psycopg.connect(url) as con:
        loads = con.execute("SELECT mart, count(*) FROM marts.partition_loads GROUP BY 1 ORDER BY 1").fetchall()
    days = len(list((lake / "processed" / "clicks").iterdir()))
    assert loads == [("retention_weekly", 1), ("user_visits_daily", days)]
    visits = _visits(url)
    assert run_job2(monkeypatch, url, lake, "retention") == 0
    assert _visits(url) == visits and _retention_in_postgres(url) == _retention_definition(lake)


def test_concurrent_day_loads_of_one_user_take_turns_and_lose_no_update(pg_url):
    """Two loads that change one user's visits (ARCHITECTURE.md, rule 9): the second waits for the
    first's commit on the retention lock, then reads its visits; the cohorts are as if in order."""
    import threading
    import time

    import pyarrow as pa

    from clickpipe_core import pg_load
    from clickpipe_core.marts import USER_VISITS_DAILY

    def visits(day):
        return pg_load.conform(USER_VISITS_DAILY, pa.table({"dt": [date.fromisoformat(day)], "user_id": ["X"], "purchased": [False]}))

    def load(day):
        pg_load.replace_partitions(pg_url, {USER_VISITS_DAILY.name: (USER_VISITS_DAILY, visits(day))}, [day])

    pg_load.apply_migrations(pg_url)
    load("2026-10-27")  # week 10-26: X's cohort
    first = pg_load.connect_adbc(pg_url)
    try:
        cur = first.cursor()
        pg_load._replace_visits(cur, visits("2026-10-20"), "2026-10-20")  # an earlier week, not committed yet
        second = threading.Thread(target=load, args=("2026-11-03",))
        second.start()
        with psycopg.connect(pg_url) as con:
            waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND NOT granted"
            deadline = time.monotonic() + 60
            while not con.execute(waiting, (pg_load.RETENTION_LOCK,)).fetchone()[0]:
                assert time.monotonic() < deadline and second.is_alive(), "the second load did not wait for the first"
                time.sleep(0.05)
        first.commit()
        second.join(60)
    finally:
        first.close()
    cells = {(str(r[0]), r[1]): r[2:5] for r in _retention_in_postgres(pg_url)}
    assert cells == {("2026-10-19", 0): (1, 1, 0), ("2026-10-19", 1): (1, 1, 0), ("2026-10-19", 2): (1, 1, 0)}


def test_a_warehouse_from_before_v005_gets_its_retention_from_the_visits(monkeypatch, pg_url, tmp_path):
    """Migrated from V004 with weekly retention rebuilt whole: V005 empties it, and the retention run
    loads the visits of every processed day, giving the definition's rows again."""
    from clickpipe_core import pg_load

    lake = tmp_path / "lake"
    write_processed(lake, {"users": [], "transactions": [], "clicks": weeks_of_visits()})
    v004 = tmp_path / "v004"
    v004.mkdir()
    for m in pg_load.migrations()[:4]:
        (v004 / m.path.name).write_text(m.sql)
    assert pg_load.apply_migrations(pg_url, v004)[-1] == "V004__session_marts"
    with psycopg.connect(pg_url) as con:  # what a V004 retention run left
        con.execute("INSERT INTO marts.retention_weekly VALUES ('2026-10-19', 0, 9, 9, 9, 1, 1)")
        con.execute("INSERT INTO marts.partition_loads VALUES ('retention_weekly', '*', 1, now(), 'old')")
    assert run_job2(monkeypatch, pg_url, lake, "retention") == 0
    assert _retention_in_postgres(pg_url) == _retention_definition(lake)

"""A small processed zone written with pyarrow in exactly Job 1's layout, and the expected mart
rows computed from the same Python rows by plain Python (no SQL), independently of the mart SQL."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from clickpipe_core import enrichment
from clickpipe_core.checks import arrow_schema
from clickpipe_core.contracts import CLICKS, TRANSACTIONS, USERS, EVENT_TYPES

DAYS = ["2026-11-01", "2026-11-02", "2026-11-03"]
CLICK_DAYS = ["2026-11-01", "2026-11-03"]  # no click at all on 2026-11-02: an empty day
COUNTRIES = ["US", "DE", "FR", "JP", "BR"]
CURRENCY = {"US": "USD", "DE": "EUR", "FR": "EUR", "JP": "JPY", "BR": "BRL"}
PAGES = [f"/p/{i}" for i in range(70)]  # more than 50 pages: the top-50 cut matters
UTC = timezone.utc


def _ts(day: str, seconds: int) -> datetime:
    d = date.fromisoformat(day)
    return datetime(d.year, d.month, d.day, tzinfo=UTC) + timedelta(seconds=seconds)


def make_rows(seed: int = 11) -> dict[str, list[dict]]:
    rng = random.Random(seed)
    users = []
    for i in range(1, 31):
        country = COUNTRIES[i % len(COUNTRIES)]
        users.append(
            {
                "user_id": f"U{i:03d}",
                "full_name": f"User {i}",
                "email": f"u{i}@example.com",
                "country": country,
                "signup_date": date(2025, 1, 1) + timedelta(days=i),
                "plan": ["free", "plus", "pro", None][i % 4],
                "ingest_date": date(2026, 11, 1),
            }
        )
    # U030 is never active; U005 pays in two currencies (MIXED); U999 is not in the snapshot.
    active = [u for u in users if u["user_id"] != "U030"]
    tx = []
    n = 0
    for day in DAYS:
        for _ in range(60):
            u = rng.choice(active)
            n += 1
            currency = CURRENCY[u["country"]]
            if u["user_id"] == "U005" and n % 2:
                currency = "GBP"
            ingest = day
            if rng.random() < 0.1:  # arrived a day late: same dt, another source file
                ingest = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
            tx.append(
                {
                    "transaction_id": f"T{n:05d}",
                    "user_id": u["user_id"],
                    "amount": Decimal(rng.randrange(1, 50000)) / 100,
                    "currency": currency,
                    "status": rng.choices(["completed", "pending", "failed", "refunded"], [70, 10, 10, 10])[0],
                    "payment_method": rng.choice(["card", "paypal", None]),
                    "transaction_ts": _ts(day, rng.randrange(86400)),
                    "ingest_date": date.fromisoformat(ingest),
                }
            )
    for status in ("completed", "completed", "pending"):  # a user missing from the snapshot
        n += 1
        tx.append({"transaction_id": f"T{n:05d}", "user_id": "U999", "amount": Decimal("10.05"), "currency": "USD",
                   "status": status, "payment_method": "card", "transaction_ts": _ts("2026-11-02", 3600 + n),
                   "ingest_date": date(2026, 11, 2)})  # fmt: skip
    # Two completed CHF payments of 0.50 and 0.65: an average of exactly 0.575, a half cent that
    # rounds up (binary floating point makes it 0.57499..., which rounds down).
    for amount in ("0.50", "0.65"):
        n += 1
        tx.append({"transaction_id": f"T{n:05d}", "user_id": "U998", "amount": Decimal(amount), "currency": "CHF",
                   "status": "completed", "payment_method": "card", "transaction_ts": _ts("2026-11-03", 7200 + n),
                   "ingest_date": date(2026, 11, 3)})  # fmt: skip
    clicks = []

    def click(day, user, session, event_type, second, page=None):
        clicks.append(
            {
                "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "user_id": user,
                "session_id": session,
                "event_type": event_type,
                "page": page or rng.choice(PAGES[: 5 + rng.randrange(66)]),
                "referrer": rng.choice([None, "https://search.example/"]),
                "device": rng.choice(["desktop", "mobile", "tablet"]),
                "user_agent": "Mozilla/5.0",
                "country": "US",
                "ts": _ts(day, second),
                "properties": '{"k": 1}',
                "ingest_date": date.fromisoformat(day),
            }
        )

    for day in CLICK_DAYS:
        for s in range(90):
            u = rng.choice(active)["user_id"]
            session = f"S-{day}-{s}"
            t = rng.randrange(80000)
            for _ in range(rng.randrange(1, 12)):
                t += rng.randrange(1, 60)
                click(day, u, session, rng.choices(EVENT_TYPES, [50, 20, 10, 10, 3, 4, 3])[0], t)
        # crafted sessions: order matters in the funnel
        click(day, "U001", f"X-{day}-cart-first", "add_to_cart", 100)  # cart before the view: no cart step
        click(day, "U001", f"X-{day}-cart-first", "page_view", 200)
        click(day, "U002", f"X-{day}-full", "page_view", 100)
        click(day, "U002", f"X-{day}-full", "add_to_cart", 100)  # same instant counts as after
        click(day, "U002", f"X-{day}-full", "purchase", 300)
        click(day, "U003", f"X-{day}-buy-before-cart", "page_view", 100)
        click(day, "U003", f"X-{day}-buy-before-cart", "purchase", 150)
        click(day, "U003", f"X-{day}-buy-before-cart", "add_to_cart", 200)
        click(day, "U004", f"X-{day}-only-click", "click", 10)
    return {"users": users, "transactions": tx, "clicks": clicks}


def enriched(row: dict) -> dict:
    """A click with Job 1's enrichment columns, computed row by row from the rules themselves
    (``clickpipe_core/enrichment.py``), independently of Job 1's lookup-and-join."""
    ua = enrichment.parse_user_agent(row["user_agent"])
    acq = enrichment.acquisition(row["page"], row["referrer"])
    return {**row, "browser": ua.browser, "browser_version": ua.browser_version, "os": ua.os, "device_class": ua.device_class,
            "is_bot": ua.is_bot, "channel": acq.channel, "source": acq.source, "medium": acq.medium, "campaign": acq.campaign}  # fmt: skip


def _table(ds, rows, *, enrich: bool = True):
    schema = arrow_schema(ds)
    if ds.derived_columns and not enrich:  # a file written before Job 1 enriched
        schema = pa.schema([f for f in schema if f.name not in ds.derived_column_names])
    elif ds.derived_columns:
        rows = [enriched(r) for r in rows]
    cols = {f.name: [r[f.name] for r in rows] for f in schema}
    return pa.Table.from_pydict(cols, schema=schema)


def write_processed(lake: Path, rows: dict[str, list[dict]], *, enrich: bool = True) -> None:
    """Write the rows as Job 1 lays them out (Snappy Parquet, hive-style, named after the source);
    clicks with the enrichment columns, or (``enrich=False``) as files written before they existed."""
    lake = Path(lake)
    users_dir = lake / "processed" / "users"
    users_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(_table(USERS, rows["users"]), users_dir / "users.parquet", compression="snappy")
    groups = defaultdict(list)
    for r in rows["transactions"]:
        groups[(r["transaction_ts"].date().isoformat(), r["ingest_date"].isoformat())].append(r)
    for (dt, ingest), rs in groups.items():
        d = lake / "processed" / "transactions" / f"dt={dt}"
        d.mkdir(parents=True, exist_ok=True)
        pq.write_table(_table(TRANSACTIONS, rs), d / f"part-ingest_date={ingest}.parquet", compression="snappy")
    groups = defaultdict(list)
    for r in rows["clicks"]:
        groups[(r["ts"].date().isoformat(), r["event_type"], r["ingest_date"].isoformat())].append(r)
    for (dt, et, ingest), rs in groups.items():
        d = lake / "processed" / "clicks" / f"dt={dt}" / f"event_type={et}"
        d.mkdir(parents=True, exist_ok=True)
        pq.write_table(_table(CLICKS, rs, enrich=enrich), d / f"part-ingest_date={ingest}.parquet", compression="snappy")


# -- expected marts, by plain Python -----------------------------------------------------------------


def _day(r, col):
    return r[col].astimezone(UTC).date()


def expected_daily_events(rows) -> dict[tuple, tuple]:
    out = defaultdict(lambda: [0, set(), set()])
    for r in rows["clicks"]:
        v = out[(_day(r, "ts"), r["event_type"])]
        v[0] += 1
        v[1].add(r["user_id"])
        v[2].add(r["session_id"])
    return {k: (v[0], len(v[1]), len(v[2])) for k, v in out.items()}


def expected_funnel(rows) -> dict[date, tuple]:
    sessions = defaultdict(list)
    for r in rows["clicks"]:
        sessions[(_day(r, "ts"), r["session_id"])].append((r["ts"], r["event_type"]))
    per_day = defaultdict(lambda: [0, 0, 0, 0])
    for (day, _), events in sessions.items():
        c = per_day[day]
        c[0] += 1
        views = [t for t, e in events if e == "page_view"]
        if not views:
            continue
        c[1] += 1
        carts = [t for t, e in events if e == "add_to_cart" and t >= min(views)]
        if not carts:
            continue
        c[2] += 1
        if any(e == "purchase" and t >= min(carts) for t, e in events):
            c[3] += 1

    def rate(a, b):
        return a / b if b else None

    return {d: (s, v, k, p, rate(k, v), rate(p, k), rate(p, v)) for d, (s, v, k, p) in per_day.items()}


def expected_revenue(rows) -> dict[tuple, tuple]:
    country = {u["user_id"]: u["country"] for u in rows["users"]}
    out = defaultdict(lambda: [0, 0, Decimal("0.00"), Decimal("0.00")])
    for r in rows["transactions"]:
        v = out[(_day(r, "transaction_ts"), country.get(r["user_id"], "ZZ"), r["currency"])]
        v[0] += 1
        if r["status"] == "completed":
            v[1] += 1
            v[2] += r["amount"]
        if r["status"] == "refunded":
            v[3] += r["amount"]
    result = {}
    for k, (n, orders, revenue, refunded) in out.items():
        aov = (revenue / orders).quantize(Decimal("0.01"), ROUND_HALF_UP) if orders else None
        result[k] = (n, orders, revenue, aov, refunded)
    return result


def expected_top_pages(rows, top: int = 50) -> dict[date, list[tuple]]:
    pages = defaultdict(lambda: [0, set(), set()])
    for r in rows["clicks"]:
        if r["event_type"] == "page_view":
            v = pages[(_day(r, "ts"), r["page"])]
            v[0] += 1
            v[1].add(r["user_id"])
            v[2].add(r["session_id"])
    by_day = defaultdict(list)
    for (day, page), (views, users, sessions) in pages.items():
        by_day[day].append((page, views, len(users), len(sessions)))
    return {
        day: [(i + 1, *p) for i, p in enumerate(sorted(items, key=lambda p: (-p[1], p[0]))[:top])]
        for day, items in by_day.items()
    }


def expected_users(rows) -> dict[str, tuple]:
    out = {}
    for u in rows["users"]:
        uid = u["user_id"]
        cl = [r for r in rows["clicks"] if r["user_id"] == uid]
        tx = [r for r in rows["transactions"] if r["user_id"] == uid]
        seen = [r["ts"] for r in cl] + [r["transaction_ts"] for r in tx]
        done = [r for r in tx if r["status"] == "completed"]
        currencies = {r["currency"] for r in done}
        if len(currencies) > 1:
            revenue, currency = None, "MIXED"
        else:
            revenue, currency = sum((r["amount"] for r in done), Decimal("0.00")), (currencies.pop() if currencies else None)
        out[uid] = (
            u["country"], u["plan"], u["signup_date"], min(seen) if seen else None, max(seen) if seen else None,
            len(cl), len({r["session_id"] for r in cl}), len(done), revenue, currency,
        )  # fmt: skip
    return out

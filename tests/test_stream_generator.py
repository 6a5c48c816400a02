"""The click generator: determinism, contract validity, believable sessions, late and duplicate
shares, arrival order, exact counts, users, and no Dagster in what the Lambda imports."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import datetime, timezone

import pytest

from clickpipe_core.contracts import CLICKS, DEVICES, EVENT_TYPES
from clickpipe_core.generator import batch, clicks
from clickpipe_core.generator.clicks import (
    BOT_ID_PREFIX,
    BOT_USER_AGENTS,
    ClickGenerator,
    generate_clicks,
    resolve_users,
    to_ms,
    users_from_csv,
)

HOUR = 3_600_000
START, END = "2026-11-01", "2026-11-03"


@pytest.fixture(scope="module")
def sample():
    """60k events over two days with generous late and duplicate shares."""
    return generate_clicks(
        events=60_000, start=START, end=END, users=500, seed=11, late_share=0.1, duplicate_share=0.05
    )


def _ts(text: str) -> int:
    return to_ms(datetime.fromisoformat(text.replace("Z", "+00:00")))


def test_same_seed_same_bytes_other_seed_other_events():
    a, ma = generate_clicks(events=3000, start=START, end=END, seed=3)
    b, mb = generate_clicks(events=3000, start=START, end=END, seed=3)
    c, _ = generate_clicks(events=3000, start=START, end=END, seed=4)
    assert a == b and ma == mb
    assert {r[1] for r in a}.isdisjoint({r[1] for r in c})


def test_every_record_meets_the_contract(sample):
    records, m = sample
    users = dict(resolve_users(500))
    names = CLICKS.column_names
    for arrival, data, uid, sid in records:
        assert data.endswith(b"\n") and data.count(b"\n") == 1
        e = json.loads(data)
        assert list(e) == names  # every field, in contract order
        for col in CLICKS.columns:
            v = e[col.name]
            if col.name == "properties":
                assert v is None or (isinstance(v, dict) and len(json.dumps(v)) <= col.max_length)
                continue
            if v is None:
                assert not col.required, col.name
                continue
            assert isinstance(v, str) and v == v.strip() and v, (col.name, v)
            if col.normalize == "lower":
                assert v == v.lower()
            if col.allowed:
                assert v in col.allowed, (col.name, v)
            if col.pattern:
                assert re.fullmatch(col.pattern, v), (col.name, v)
            if col.max_length:
                assert len(v) <= col.max_length
        assert e["event_type"] in EVENT_TYPES and e["device"] in DEVICES
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", e["ts"])
        ts = _ts(e["ts"])
        assert to_ms(START) <= ts < to_ms(END) and ts <= arrival  # in the window; never from the future
        assert e["page"].startswith("/") and (e["referrer"] is None or e["referrer"].startswith("https://"))
        assert e["user_id"] == uid and e["session_id"] == sid
        if uid.startswith(BOT_ID_PREFIX):  # a crawler: not a user of the users file, a bot's user agent
            assert e["user_agent"] in BOT_USER_AGENTS and (e["referrer"] is None or "clickpipe-shop.example/" in e["referrer"])
        else:
            assert e["country"] == users[uid]
    assert any(not d.isascii() for _, d, _, _ in records)  # UTF-8 (search queries in other scripts) stays UTF-8


def test_sessions_are_believable(sample):
    records, m = sample
    sessions = defaultdict(list)
    for _, data, _, sid in records:
        e = json.loads(data)
        sessions[sid].append(e)
    for events in sessions.values():
        events = list({e["event_id"]: e for e in events}.values())  # drop duplicates
        events.sort(key=lambda e: e["ts"])
        types = [e["event_type"] for e in events]
        assert types[0] == "page_view"  # a visit starts by landing on a page
        assert len({(e["user_id"], e["device"], e["user_agent"], e["country"]) for e in events}) == 1
        cart = checked_out = 0
        for e in events:
            t = e["event_type"]
            if t == "add_to_cart":
                cart += 1
                assert e["page"].startswith("/product/") and e["properties"]["product_id"] in e["page"]
            elif t == "remove_from_cart":
                assert cart > 0
            elif t == "checkout":
                assert cart > 0 and e["properties"]["items"] >= 1
                checked_out += 1
            elif t == "purchase":
                assert cart > 0 and checked_out > 0  # only after add_to_cart and a checkout
                assert e["properties"]["revenue"] > 0 and re.fullmatch(r"O[0-9a-f]{12}", e["properties"]["order_id"])
            elif t == "search":
                assert e["properties"]["query"]
    lengths = [len(v) for v in sessions.values()]
    assert 4 <= sum(lengths) / len(lengths) <= 15
    by_type = m["by_event_type"]
    assert (
        by_type["page_view"] > by_type["click"] > by_type["add_to_cart"] > by_type["checkout"] > by_type["purchase"] > 0
    )
    assert 0.005 < by_type["purchase"] / m["sessions"] < 0.2  # a few percent of visits buy


def test_late_and_duplicate_shares_are_as_asked_and_as_reported(sample):
    records, m = sample
    assert m["events"] == 60_000 and m["records"] == len(records) == 60_000 + m["duplicates"]
    assert abs(m["late_events"] / m["events"] - 0.10) < 0.02
    assert abs(m["duplicates"] / m["events"] - 0.05) < 0.005
    first: dict[str, tuple[int, bytes]] = {}
    copies = Counter()
    for arrival, data, _, _ in records:
        eid = json.loads(data)["event_id"]
        copies[eid] += 1
        if eid in first:
            assert data == first[eid][1] and arrival >= first[eid][0]  # the very same record, again, later
        else:
            first[eid] = (arrival, data)
    assert len(first) == m["events"] and sum(n - 1 for n in copies.values()) == m["duplicates"]
    assert max(copies.values()) == 2
    late = sum(1 for arrival, data in first.values() if arrival - _ts(json.loads(data)["ts"]) >= HOUR)
    assert late == m["late_events"]
    assert all(arrival - _ts(json.loads(d)["ts"]) <= 24 * HOUR + 200_000 for arrival, d in first.values())


def test_records_come_in_arrival_order_and_the_manifest_adds_up(sample):
    records, m = sample
    arrivals = [r[0] for r in records]
    assert arrivals == sorted(arrivals)
    assert sum(m["by_event_type"].values()) == m["events"]
    assert sum(m["event_days"].values()) == m["events"] and list(m["event_days"]) == ["2026-11-01", "2026-11-02"]
    assert sum(m["arrival_days"].values()) == m["records"]
    assert "2026-11-03" in m["arrival_days"]  # late sessions of the last day arrive the day after
    by_day = Counter(datetime.fromtimestamp(a / 1000, timezone.utc).date().isoformat() for a in arrivals)
    assert by_day == Counter(m["arrival_days"])


@pytest.mark.parametrize(
    "events,end", [(0, "2026-11-02"), (1, "2026-11-02"), (37, "2026-11-04"), (5000, "2026-11-01T00:00:20")]
)
def test_exactly_the_events_asked_for(events, end):
    records, m = generate_clicks(events=events, start=START, end=end, seed=2, duplicate_share=0.1)
    assert m["events"] == events and len(records) == m["records"]
    assert all(_ts(json.loads(d)["ts"]) < to_ms(end) for _, d, _, _ in records)


def test_small_runs_keep_whole_sessions():
    records, m = generate_clicks(events=40, start=START, end="2026-11-02", seed=9, late_share=0)
    assert m["sessions"] < 15  # not one truncated session per hourly slice


def test_arrival_anchored_window_for_live_traffic():
    start, end = to_ms("2026-11-05T10:00:00"), to_ms("2026-11-05T10:01:00")
    records, m = generate_clicks(events=4000, start=start / 1000, end=end / 1000, seed=1, late_share=0.2,
                                 anchor="arrival", slice_seconds=60)  # fmt: skip
    assert all(start <= a < end for a, *_ in records)  # everything arrives within the window
    late = [a - _ts(json.loads(d)["ts"]) for a, d, _, _ in records if a - _ts(json.loads(d)["ts"]) >= HOUR]
    assert m["late_events"] > 0 and len(late) >= m["late_events"]  # late ones happened hours before
    assert all(a - _ts(json.loads(d)["ts"]) >= 0 for a, d, _, _ in records)


def test_users_and_countries():
    assert resolve_users(3) == [("U0000001", clicks.country_of("U0000001")), ("U0000002", clicks.country_of("U0000002")),
                                ("U0000003", clicks.country_of("U0000003"))]  # fmt: skip
    # The batch generator's countries and weights are the click generator's.
    assert clicks.COUNTRIES == tuple(batch.COUNTRY_CURRENCY) and list(clicks.COUNTRY_WEIGHTS) == batch.COUNTRY_WEIGHTS
    shares = Counter(c for _, c in resolve_users(20_000))
    assert shares.most_common(1)[0][0] == "US" and 0.25 < shares["US"] / 20_000 < 0.35


def test_users_from_a_batch_sample_keep_their_countries(tmp_path):
    sample = batch.generate(tmp_path / "s", days=1, users=300, transactions_per_day=0, seed=4, dirty_rate=0.1)
    users = users_from_csv(sample.users_file)
    rows = list(__import__("csv").DictReader(open(sample.users_file, encoding="utf-8")))
    assert len(users) == len({u for u, _ in users}) and all(re.fullmatch(r"[A-Z]{2}", c) for _, c in users)
    assert ("", "") not in users and len(users) < len(rows)  # blank ids and bad countries left out
    truth = {r["user_id"].strip(): r["country"].strip().upper() for r in rows}
    records, _ = generate_clicks(events=2000, start=START, end=END, users=sample.users_file, seed=1)
    for _, data, uid, _ in records:
        e = json.loads(data)
        assert uid.startswith(BOT_ID_PREFIX) or truth[e["user_id"]] == e["country"]


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="empty window"):
        ClickGenerator(events=1, start=END, end=START)
    with pytest.raises(ValueError, match="late_share"):
        ClickGenerator(events=1, start=START, end=END, late_share=1.5)
    with pytest.raises(ValueError, match="ISO 3166"):
        ClickGenerator(events=1, start=START, end=END, users=[("U1", "USA")])


def test_records_as_dicts_match_the_lines():
    gen = ClickGenerator(events=500, start=START, end=END, seed=8)
    lines = [r[1] for b in gen for r in b]
    assert list(gen.records()) == [json.loads(x) for x in lines]


def test_the_lambda_side_imports_no_dagster():
    code = (
        "import sys; import clickpipe_core.generator.lambda_handler, clickpipe_core.generator.clicks; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('dagster', 'dagster_aws', 'tqdm', 'glue_scripts', "
        "'duckdb', 'pyarrow', 'pydantic')); print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_traffic_has_channels_devices_bots_and_users_who_return_over_weeks():
    """Six weeks of traffic: what the analytics marts need to be non-trivial (enrichment's own rules
    tell channel, device and bot, so the generator and the parser agree)."""
    from clickpipe_core import enrichment

    gen = ClickGenerator(events=60_000, start="2026-10-01", end="2026-11-12", users=800, seed=5, duplicate_share=0)
    first: dict[str, dict] = {}
    weeks: dict[str, set[int]] = defaultdict(set)
    for e in gen.records():
        first.setdefault(e["session_id"], e)
        week = (_ts(e["ts"]) - to_ms("2026-10-01")) // (7 * 86_400_000)
        weeks[e["user_id"]].add(week)
    sessions = list(first.values())
    bots = [s for s in sessions if enrichment.parse_user_agent(s["user_agent"]).is_bot]
    assert all(s["user_id"].startswith(BOT_ID_PREFIX) for s in bots)
    assert 0.01 < len(bots) / len(sessions) < 0.06
    people = [s for s in sessions if not s["user_id"].startswith(BOT_ID_PREFIX)]
    channels = Counter(enrichment.acquisition(s["page"], s["referrer"]).channel for s in people)
    assert {"search", "social", "email", "paid", "referral", "direct"} <= set(channels)
    assert max(channels.values()) < 0.5 * len(people)  # no channel is all the traffic
    devices = Counter(enrichment.parse_user_agent(s["user_agent"]).device_class for s in people)
    assert {"desktop", "mobile", "tablet"} == set(devices)
    # Users join over the window and come back in later weeks, fewer the longer ago they joined.
    humans = {u: w for u, w in weeks.items() if not u.startswith(BOT_ID_PREFIX)}
    first_week = Counter(min(w) for w in humans.values())
    assert len(first_week) >= 5 and max(first_week.values()) < 0.6 * len(humans)  # cohorts in most weeks
    early = [w for w in humans.values() if min(w) <= 1]  # cohorts with four weeks and more to come back
    returning_1 = sum(1 for w in early if min(w) + 1 in w) / len(early)
    returning_4 = sum(1 for w in early if min(w) + 4 in w) / len(early)
    assert 0.1 < returning_1 < 0.95 and 0 < returning_4 < returning_1  # users come back, fewer as weeks pass

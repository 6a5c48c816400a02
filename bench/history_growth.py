"""Benchmark: the cost of one day as history grows — one new day after 1, 10 and 30 days of history.

    python -m bench.history_growth [--events 30000] [--transactions 5000] [--users 2000] [--days 1,30]

For each history length H a lake and a PostgreSQL database hold H - 1 processed and loaded days;
then the same-sized day H is measured, each step in its own process, interleaved across the
histories (medians of ``CLICKPIPE_BENCH_ROUNDS``, default 3), CPU time including children:

- Job 1, clicks of day H (dedup against the declared window, ``DEDUP_WINDOW_DAYS``);
- Job 1, transactions of day H (re-delivery: the newest delivery wins, same window);
- Job 2, the daily marts of day H (with the user activity and the incremental users update);
- Job 2, the users load (the snapshot's attributes, lifetime activity for new users only);
- Job 2, the session marts of day H (with the day's visits and the incremental retention update);
- Job 2, the retention load (the visits of days never loaded: none here; the mart recorded);
- peer: the users dimension rebuilt whole from every processed day (``sql/marts/users.sql`` over
  all history, replaced in one transaction): what each users load cost before;
- peer: weekly retention rebuilt whole (every session derived again from all processed clicks,
  ``sql/marts/retention_weekly.sql``, replaced in one transaction): what each retention load cost before.

Each day re-delivers ~1% of the previous day's events and transactions (the dedup and the newest-
version rule have work to do). Prints one table with each step's day-30 / day-1 ratio: flat is ~1.
Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import os
import random
import resource
import sys
import tempfile
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from bench.harness import OUT, Timer, interleaved, report_child, usage

START = date(2026, 10, 1)
MODULE = "bench.history_growth"


def _day(i: int) -> str:
    return (START + timedelta(days=i)).isoformat()


# -- raw data ---------------------------------------------------------------------------------------------
def _event_id(day_index: int, n: int) -> str:
    return str(uuid.UUID(int=(day_index << 32) + n + 1))


def write_day(lake: Path, i: int, events: int, transactions: int, users: int) -> None:
    """Raw clicks (one Firehose object) and a transactions extract for day ``i``: ~1% of the previous
    day's events and transactions delivered again (the transactions with a new status)."""
    from clickpipe_core import layout
    from clickpipe_core.contracts import TRANSACTIONS
    from clickpipe_core.lake_store import LocalStore

    store = LocalStore(lake)
    rnd = random.Random(i)
    day = _day(i)
    lines = []
    for n in range(events):
        ts = datetime.fromisoformat(f"{day}T00:00:00+00:00") + timedelta(seconds=rnd.randrange(0, 11 * 3600))
        u = rnd.randrange(users)
        lines.append({
            "event_id": _event_id(i, n), "user_id": f"U{u:06d}", "session_id": f"S{i}-{u}-{n % 3}",
            "event_type": rnd.choice(["page_view", "page_view", "click", "add_to_cart", "purchase"]),
            "page": f"/p/{rnd.randrange(200)}", "referrer": None, "device": "mobile", "user_agent": "bench",
            "country": "us", "ts": ts.isoformat().replace("+00:00", "Z"), "properties": {},
        })  # fmt: skip
    if i:  # the previous day's first 1% again (at-least-once delivery)
        previous = random.Random(i - 1)
        for n in range(events // 100):
            ts = datetime.fromisoformat(f"{_day(i - 1)}T00:00:00+00:00") + timedelta(seconds=previous.randrange(0, 11 * 3600))
            lines.append({**lines[n], "event_id": _event_id(i - 1, n), "ts": ts.isoformat().replace("+00:00", "Z")})
    arrival = datetime.fromisoformat(f"{day}T12:00:00+00:00").astimezone(timezone.utc)
    body = gzip.compress("".join(json.dumps(x) + "\n" for x in lines).encode())
    store.put_bytes(body, layout.raw_clicks_key("bench-clicks", arrival, f"day{i:03d}"))

    def tx(j: int, k: int, status: str) -> dict:
        r = random.Random(j * 1_000_003 + k)
        ts = datetime.fromisoformat(f"{_day(j)}T00:00:00+00:00") + timedelta(seconds=r.randrange(0, 11 * 3600))
        return {"transaction_id": f"T{j:03d}-{k:06d}", "user_id": f"U{r.randrange(users):06d}", "amount": f"{r.randrange(100, 99999) / 100:.2f}",
                "currency": "USD", "status": status, "payment_method": "card", "transaction_ts": ts.isoformat().replace("+00:00", "Z")}  # fmt: skip

    rows = [tx(i, k, "completed" if k % 4 else "pending") for k in range(transactions)]
    if i:
        rows += [tx(i - 1, k, "completed") for k in range(0, transactions // 25, 4)]  # pending ones, completed now
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=TRANSACTIONS.column_names, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    store.put_bytes(out.getvalue().encode(), layout.raw_batch_key("transactions", day, "extract.csv"))


def write_users(lake: Path, users: int) -> None:
    from clickpipe_core import layout
    from clickpipe_core.contracts import USERS
    from clickpipe_core.lake_store import LocalStore

    rows = "".join(f"U{u:06d},User {u},,US,2025-01-01,free\n" for u in range(users))
    LocalStore(lake).put_bytes((",".join(USERS.column_names) + "\n" + rows).encode(), layout.raw_batch_key("users", _day(0), "users.csv"))


# -- the steps (each in its own process) --------------------------------------------------------------------
def _job1(lake: str, dataset: str, day: str) -> int:
    from clickpipe_core.contracts import get_dataset
    from clickpipe_core.lake_store import LocalStore
    from glue_scripts.duckdb_engine import run_partition

    result = run_partition(LocalStore(lake), get_dataset(dataset), day)
    assert result.rows_in == result.rows_out + result.quarantined + result.duplicates
    return result.rows_out


def _job2(url: str, lake: str, marts: str, day: str | None) -> None:
    from clickpipe_core.pg_load import URL_ENV
    from glue_scripts.processed_to_rds import main

    os.environ[URL_ENV] = url
    os.environ.pop("DAGSTER_PIPES_CONTEXT", None)
    code = main(["--marts", marts, "--lake", lake, *(["--partition", day] if day else [])])
    if code:
        raise SystemExit(f"Job 2 --marts {marts} failed ({code})")


def _full_rebuild(url: str, lake: str, name: str) -> int:
    """A mart rebuilt whole from every processed day and replaced in one transaction, as it was
    before it was maintained incrementally (retention derives every session again)."""
    from clickpipe_core.lake_store import LocalStore
    from clickpipe_core.marts import MARTS
    from clickpipe_core.pg_load import replace_table
    from glue_scripts.marts_engine import DuckDBMartEngine

    mart = MARTS[name]
    with DuckDBMartEngine(LocalStore(lake)) as engine:
        if mart.sessionized:
            engine.derive_sessions(None)
        else:
            engine.register(list(mart.sources), days=None)
        table = engine.build(mart)
    return replace_table(url, mart, table)


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


# Job 2 steps: the --marts group, and whether it loads day H
JOB2_STEPS = {
    "job2_daily": ("daily", True),
    "job2_users": ("users", False),
    "job2_sessions": ("sessions", True),
    "job2_retention": ("retention", False),
}


def child(argv: list[str]) -> None:
    """One step; CPU and wall time of the work only (imports done first: they do not grow with
    history and would hide what does). PostgreSQL's own CPU is in the wall time only."""
    import glue_scripts.duckdb_engine  # noqa: F401
    import glue_scripts.marts_engine  # noqa: F401
    import glue_scripts.processed_to_rds  # noqa: F401

    step, url, lake, day = argv
    cpu = _cpu()
    with Timer() as t:
        if step in ("job1_clicks", "job1_transactions"):
            rows = _job1(lake, step.removeprefix("job1_"), day)
        elif step in JOB2_STEPS:  # a daily group gets the day
            marts, daily = JOB2_STEPS[step]
            _job2(url, lake, marts, day if daily else None)
            rows = 0
        elif step in ("users_full_rebuild", "retention_full_rebuild"):
            rows = _full_rebuild(url, lake, {"users_full_rebuild": "users", "retention_full_rebuild": "retention_weekly"}[step])
        else:
            raise SystemExit(f"unknown step {step}")
    report_child(t.seconds, rows, {"cpu_seconds": round(_cpu() - cpu, 3), "peak_mib": usage()["peak_mib"]})


# -- setup and report ---------------------------------------------------------------------------------------
def prepare(root: Path, base_url: str, history: int, args) -> tuple[str, Path]:
    """A lake with ``history`` - 1 days processed and loaded, and day ``history`` raw; its database."""
    from bench.load_marts import fresh_database
    from clickpipe_core.contracts import USERS
    from clickpipe_core.lake_store import LocalStore
    from glue_scripts.duckdb_engine import run_partition

    lake = root / f"history-{history}"
    url = fresh_database(base_url, f"history_{history}")
    write_users(lake, args.users)
    run_partition(LocalStore(lake), USERS, _day(0))
    for i in range(history):
        write_day(lake, i, args.events, args.transactions, args.users)
    for i in range(history - 1):
        print(f"  history {history}: day {i + 1}/{history - 1}", file=sys.stderr, flush=True)
        _job1(str(lake), "transactions", _day(i))
        _job1(str(lake), "clicks", _day(i))
        _job2(url, str(lake), "daily", _day(i))
        _job2(url, str(lake), "sessions", _day(i))
    _job2(url, str(lake), "users", None)
    _job2(url, str(lake), "retention", None)
    return url, lake


STEPS = [
    "job1_clicks", "job1_transactions", "job2_daily", "job2_users", "users_full_rebuild",
    "job2_sessions", "job2_retention", "retention_full_rebuild",
]  # fmt: skip
LABELS = {
    "job1_clicks": "Job 1 clicks, one day (dedup window)",
    "job1_transactions": "Job 1 transactions, one day (newest wins)",
    "job2_daily": "Job 2 daily marts + users update, one day",
    "job2_users": "Job 2 users load (incremental)",
    "users_full_rebuild": "peer: users rebuilt from all history",
    "job2_sessions": "Job 2 session marts + retention update, one day",
    "job2_retention": "Job 2 retention load (incremental)",
    "retention_full_rebuild": "peer: retention rebuilt from all history",
}


def main(argv: list[str] | None = None) -> str:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in STEPS:
        child(argv)
        return ""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--transactions", type=int, default=20_000)
    p.add_argument("--users", type=int, default=5_000)
    p.add_argument("--days", default="1,10,30", help="history lengths, comma-separated: the first is the base of the ratios")
    args = p.parse_args(argv)
    histories = [int(x) for x in args.days.split(",")]
    from bench.load_marts import server_url

    with tempfile.TemporaryDirectory(prefix="clickpipe-history-") as tmp:
        base, server = server_url(Path(tmp))
        try:
            prepared = {h: prepare(Path(tmp), base, h, args) for h in histories}
            steps = {f"{s}@{h}": [s, prepared[h][0], str(prepared[h][1]), _day(h - 1)] for h in histories for s in STEPS}
            results = interleaved(MODULE, steps)
        finally:
            if server is not None:
                server.cleanup()
    first, last = histories[0], histories[-1]
    lines = [
        f"One day's cost as history grows ({args.events:,} click events, {args.transactions:,} transactions a day, "
        f"{args.users:,} users; medians of {results[next(iter(results))]['runs']}; CPU s of the work, PostgreSQL's in wall only)",
        f"{'step':<50}" + "".join(f"{f'day {h} wall':>13}{f'day {h} CPU':>12}" for h in histories) + f"{f'CPU x {last}/{first}':>14}{f'wall x {last}/{first}':>15}",
    ]
    for s in STEPS:
        r = {h: results[f"{s}@{h}"] for h in histories}
        lines.append(
            f"{LABELS[s]:<50}" + "".join(f"{r[h]['seconds']:>13.2f}{r[h]['cpu_seconds']:>12.2f}" for h in histories)
            + f"{r[last]['cpu_seconds'] / r[first]['cpu_seconds']:>14.2f}{r[last]['seconds'] / r[first]['seconds']:>15.2f}"
        )
    report = "\n".join(lines)
    print(report)
    OUT.mkdir(exist_ok=True)
    (OUT / "history_growth.json").write_text(json.dumps({k: v for k, v in results.items()}, indent=2, default=str))
    return report


if __name__ == "__main__":
    main()

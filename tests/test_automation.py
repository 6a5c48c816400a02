"""The automation with the real Dagster daemon and webserver, as a user meets it: ``clickpipe demo``
then ``dagster dev`` on the same instance; new batch files and Firehose objects carried to the marts
and the dashboard with no hand on it; a backfill of the processed zone, the users snapshot, the marts
and the dashboards launched over GraphQL. Asserted through the webserver's GraphQL API (Dagster's
own client), the instance, PostgreSQL and the rendered page.

One scenario on purpose: the daemon's own cadence (its backfill loop looks every 30 s) makes each
stage cost tens of seconds, so the new data and the backfill run at the same time.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from clickpipe_dagster import daemon
from clickpipe_dagster.dashboard.definition import DATASETS_USED
from clickpipe_dagster.settings import Settings

pytestmark = pytest.mark.daemon

CLICKPIPE = str(Path(sys.executable).with_name("clickpipe"))
AUTOMATION_TAG = "dagster/from_automation_condition"
# The one schedule (00:30 UTC) rebuilds yesterday's clicks whole; a scenario that runs across it
# sees that run too: it is the schedule's, not the automation's, and is told apart by its tag.
SCHEDULE_TAG, DAILY_CLOSE = "dagster/schedule_name", "clicks_daily_close"
BACKFILL_SELECTION = [
    "processed/users", "processed/transactions", "processed/clicks",
    "marts/daily_events", "marts/funnel_daily", "marts/revenue_daily", "marts/top_pages_daily", "marts/users",
    "dashboard/data_source", "dashboard/dataset_daily_events", "dashboard/dataset_funnel_daily",
    "dashboard/dataset_revenue_daily", "dashboard/dataset_top_pages_daily", "dashboard/dataset_users", "dashboard/dashboard",
]  # fmt: skip
RUNS = """query { runsOrError(limit: 500) { __typename ... on Runs { results {
    runId status jobName tags { key value } assetSelection { path } repositoryOrigin { repositoryLocationName } } } } }"""
LAUNCH = """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
    __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } ... on UnauthorizedError { message } } }"""
BACKFILL = """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
    __typename ... on PartitionBackfill { status runs(limit: 100) { runId status } } ... on PythonError { message } } }"""


def _wait(predicate, timeout: float, what: str, step: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _daily_close_runs(instance) -> set[str]:
    """Runs the daily-close schedule launched (only when the scenario crossed 00:30 UTC)."""
    return {r.run_id for r in instance.get_runs(dg.RunsFilter(tags={SCHEDULE_TAG: DAILY_CLOSE}))}


def _materializations(instance, key: str, after: float = 0.0) -> Counter:
    """Materializations per partition, those of the daily-close schedule's runs left out."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey.from_user_string(key), after_timestamp=after), limit=10_000
    ).records
    scheduled = _daily_close_runs(instance)
    return Counter(r.partition_key for r in records if r.run_id not in scheduled)


def _click_events_by_day(lake, since: float) -> Counter:
    """Distinct click events (a re-sent record counts once) per UTC day of their ``ts`` in the raw
    objects that arrived after ``since`` (live clicks just after midnight may belong to the day before)."""
    import gzip
    import json

    from clickpipe_core import layout

    day_of = {}
    for o in lake.list("raw/clicks/"):
        if o.mtime >= since and layout.parse_raw_clicks_key(o.key):
            for line in gzip.decompress(lake.read_bytes(o.key)).splitlines():
                event = json.loads(line)
                day_of[event["event_id"]] = event["ts"][:10]
    return Counter(day_of.values())


def _each_refresh_has_a_new_upstream(instance, mart_name: str, day: str, after: float) -> None:
    """The mart's day was loaded at least once after ``after``, and every further load of it follows
    an upstream materialization its previous load could not have read (one that finished after that
    load's run had started). The backfill's users snapshot may legitimately land after today's first
    load of a mart that joins users: that second load is explained, a repeat without news is not."""
    from clickpipe_core.marts import MARTS

    sources = MARTS[mart_name].sources
    loads = sorted(
        instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey.from_user_string(f"marts/{mart_name}"), asset_partitions=[day], after_timestamp=after),
            limit=100,
        ).records,
        key=lambda r: r.timestamp,
    )
    assert loads, mart_name
    upstream = sorted(
        r.timestamp
        for source in sources
        for r in instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey.from_user_string(f"processed/{source}"), after_timestamp=after), limit=1000
        ).records
    )
    for previous, load in zip(loads, loads[1:]):
        previous_start = instance.get_run_record_by_id(previous.run_id).start_time
        news = [t for t in upstream if previous_start < t < load.timestamp]
        assert news, (mart_name, day, "loaded again with no new upstream materialization", len(loads))


def _latest(instance, key: str, partition: str | None = None):
    flt = dg.AssetRecordsFilter(asset_key=dg.AssetKey.from_user_string(key), asset_partitions=[partition] if partition else None)
    records = instance.fetch_materializations(flt, limit=1).records
    return records[0] if records else None


def test_demo_then_dev_then_new_data_reaches_the_dashboard_and_a_backfill_launches(tmp_path, record_property):
    home = tmp_path / "home"
    env = {**os.environ, "CLICKPIPE_HOME": str(home)}
    env.pop("DAGSTER_HOME", None)
    env.pop("CLICKPIPE_PG_URL", None)

    # 1. the demo, run through the daemon
    demo = subprocess.run(
        [CLICKPIPE, "demo", "--days", "1", "--users", "150", "--transactions-per-day", "300", "--clicks-per-day", "1500"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "checks: all passed" in demo.stdout and "Warning" not in demo.stderr
    page = home / "dashboard" / "index.html"
    assert f"dashboard: {page}" in demo.stdout and page.stat().st_size > 200_000  # Chart.js is inlined

    settings = Settings.from_env(env)
    port = free_port()
    with daemon.dev(settings, port, CLICKPIPE_SENSOR_SECONDS="2"), dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        dev_started = time.time()
        _wait(lambda: _server_up(port), 120, "the webserver")
        from dagster_graphql import DagsterGraphQLClient

        client = DagsterGraphQLClient("127.0.0.1", port_number=port)

        # 2. the demo's runs are ordinary runs of the code location, launched by the automation
        runs = [r for r in client._execute(RUNS)["runsOrError"]["results"]
                if {t["key"]: t["value"] for t in r["tags"]}.get(SCHEDULE_TAG) != DAILY_CLOSE]  # fmt: skip
        assert runs and all(r["status"] == "SUCCESS" for r in runs)
        assert all(r["repositoryOrigin"]["repositoryLocationName"] == daemon.LOCATION for r in runs)
        assert all({t["key"]: t["value"] for t in r["tags"]}.get(AUTOMATION_TAG) == "true" for r in runs)
        for key in ("processed/users", "processed/transactions", "processed/clicks", "marts/daily_events", "marts/revenue_daily"):
            counts = _materializations(instance, key)
            assert counts and set(counts.values()) == {1}, (key, counts)  # each partition processed once
        # the dashboard follows each load of the marts its pages show, and nothing else
        mart_runs = {r.run_id for name in DATASETS_USED
                     for r in instance.fetch_materializations(dg.AssetKey.from_user_string(f"marts/{name}"), limit=100).records}  # fmt: skip
        assert 1 <= sum(_materializations(instance, "dashboard/dashboard").values()) <= len(mart_runs)

        # 3. `make dev` after `make demo` launches nothing: the sensors know every file
        assert daemon.wait_for_first_ticks(instance, dev_started + 3)
        launched_since = instance.get_runs(dg.RunsFilter(created_after=datetime.fromtimestamp(dev_started, timezone.utc)))
        assert [r.run_id for r in launched_since if r.tags.get(SCHEDULE_TAG) != DAILY_CLOSE] == []

        # 4. new data lands (a transactions file and live clicks for today) while a backfill of
        #    processed + users snapshot + marts + dashboards is launched over GraphQL
        today = datetime.now(timezone.utc).date().isoformat()
        generated = subprocess.run([CLICKPIPE, "generate", "--out", str(tmp_path / "today"), "--days", "1", "--start", today,
                                    "--users", "150", "--transactions-per-day", "200"], capture_output=True, text=True, timeout=120)  # fmt: skip
        assert generated.returncode == 0, generated.stderr
        todays_file = tmp_path / "today" / "transactions" / today / "transactions.csv"
        uploaded = time.time() - 1  # today's transactions may be processed before the last click object lands
        upload = subprocess.run([CLICKPIPE, "upload", str(todays_file), "--dataset", "transactions", "--date", today],
                                env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert upload.returncode == 0 and not upload.stderr, upload.stderr
        with psycopg.connect(resolved_url(settings)) as con:
            events_before = dict(con.execute("SELECT dt::text, SUM(events) FROM marts.daily_events GROUP BY dt").fetchall())
        simulated_after = time.time() - 1
        clicks = subprocess.run([CLICKPIPE, "simulate", "--rate", "100", "--duration", "3", "--users-csv", str(home / "sample" / "users.csv")],
                                env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert clicks.returncode == 0 and "Warning" not in clicks.stderr, clicks.stderr  # (a progress bar on stderr)
        events = int(re.search(r"events:\s+([\d,]+) in", clicks.stdout).group(1).replace(",", ""))
        objects = [o for o in settings_lake(settings).list(f"raw/clicks/{today.replace('-', '/')}/")]
        assert objects
        arrived = max(o.mtime for o in objects)

        demo_day = sorted(p.name.split("=")[1] for p in (home / "lake" / "raw" / "transactions").glob("ingest_date=*") if today not in p.name)[0]
        launched = client._execute(LAUNCH, {"params": {
            "assetSelection": [{"path": k.split("/")} for k in BACKFILL_SELECTION], "partitionNames": [demo_day]}})["launchPartitionBackfill"]  # fmt: skip
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        backfill_id = launched["backfillId"]

        def dashboard_after_marts():
            marts = _latest(instance, "marts/daily_events", today)
            dash = _latest(instance, "dashboard/dashboard")
            return marts and dash and marts.timestamp > arrived and dash.timestamp > marts.timestamp and (marts, dash)

        marts, dash = _wait(dashboard_after_marts, 600, "today's marts and the dashboard")
        backfill = _wait(lambda: (b := client._execute(BACKFILL, {"id": backfill_id})["partitionBackfillOrError"])["status"]
                         not in ("REQUESTED", "CANCELING") and b, 600, "the backfill")  # fmt: skip
        assert daemon.wait_until_settled(instance, arrived, 300)

        # 5. what the automation did with the new data: each changed partition once, by automation
        new_runs = instance.get_run_records(dg.RunsFilter(created_after=datetime.fromtimestamp(uploaded, timezone.utc)))
        automation_runs = [r.dagster_run for r in new_runs
                           if r.dagster_run.tags.get("dagster/backfill") != backfill_id and r.dagster_run.tags.get(SCHEDULE_TAG) != DAILY_CLOSE]  # fmt: skip
        assert automation_runs and all(r.tags.get(AUTOMATION_TAG) == "true" for r in automation_runs)
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in automation_runs)
        assert _materializations(instance, "processed/transactions", after=uploaded)[today] == 1
        assert _materializations(instance, "processed/clicks", after=arrived)[today] == 1
        for name in ("daily_events", "revenue_daily"):
            _each_refresh_has_a_new_upstream(instance, name, today, after=uploaded)
        simulated = _click_events_by_day(settings_lake(settings), simulated_after)
        assert sum(simulated.values()) == events
        with psycopg.connect(resolved_url(settings)) as con:
            events_after = dict(con.execute("SELECT dt::text, SUM(events) FROM marts.daily_events GROUP BY dt").fetchall())
            revenue_rows = con.execute("SELECT COUNT(*) FROM marts.revenue_daily WHERE dt = %s", [today]).fetchone()[0]
        # every simulated event counted once, on the day of its ts (mostly today; just after midnight
        # a late session may fall on yesterday, which the late window sends to yesterday's mart)
        added = {day: events_after.get(day, 0) - events_before.get(day, 0) for day in set(events_after) | set(simulated)}
        assert {d: n for d, n in added.items() if n} == dict(simulated)
        assert revenue_rows > 0
        assert f'"{today}"' in page.read_text() or today in page.read_text()

        # 6. the backfill of the whole selection completed
        assert backfill["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), backfill
        assert backfill["runs"] and all(r["status"] == "SUCCESS" for r in backfill["runs"])
        assert _materializations(instance, "processed/transactions")[demo_day] == 2  # the demo's run, then the backfill's

        latency = {"object_to_marts_s": round(marts.timestamp - arrived, 1), "object_to_dashboard_s": round(dash.timestamp - arrived, 1)}
        print(f"latency from the Firehose object's arrival: {latency}")
        for k, v in latency.items():
            record_property(k, v)


def settings_lake(settings: Settings):
    from clickpipe_core.lake_store import LocalStore

    return LocalStore(settings.lake_dir)


def resolved_url(settings: Settings) -> str:
    from clickpipe_dagster.environments import resource

    return resource("warehouse", settings).url()

"""The automation conditions of the code location, evaluated tick by tick without a daemon
(``dg.evaluate_automation_conditions``): what runs after a raw report, once per change, through
the late window to the marts, and not again after a backfill rebuilt it."""

from __future__ import annotations

import dagster as dg

from clickpipe_dagster.definitions import build_definitions


def _tick(defs, instance, previous=None):
    """One evaluation of every automation condition, after ``previous`` (the daemon's next tick)."""
    return dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=previous.cursor if previous else None)


def _requested(result) -> dict[str, set]:
    out: dict[str, set] = {}
    for r in result.results:
        if r.true_subset.size:
            parts = set(r.true_subset.expensively_compute_partition_keys()) if r.true_subset.is_partitioned else {None}
            out[r.key.to_user_string()] = parts
    return out


def _report(instance, key: str, partition: str | None = None, tags: dict | None = None, *, checks: bool = True):
    """A materialization, and for a processed asset its blocking checks passed (as Job 1 reports them).
    ``checks=False`` for a partition's second report: the instance keeps one runless check result
    per check and partition (a second one is a unique-key error)."""
    asset_key = dg.AssetKey.from_user_string(key)
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=asset_key, partition=partition, tags=tags))
    if checks and key.startswith("processed/"):
        for check in ("conservation", "quarantine_share"):
            instance.report_runless_asset_event(
                dg.AssetCheckEvaluation(asset_key=asset_key, check_name=check, passed=True, partition=partition)
            )


def test_new_raw_data_runs_each_changed_partition_once_through_the_late_window():
    defs = build_definitions("local")
    with dg.instance_for_test() as instance:
        tick = _tick(defs, instance)
        assert tick.total_requested == 1 and set(_requested(tick)) == {"dashboard/data_source"}  # made once
        _report(instance, "dashboard/data_source")
        tick = _tick(defs, instance, tick)
        assert _requested(tick) == {}  # the datasets wait for the marts, not for the data source

        _report(instance, "raw/clicks", "2026-11-02-05:00")
        _report(instance, "raw/clicks", "2026-11-02-06:00")  # two objects, one arrival day
        tick = _tick(defs, instance, tick)
        assert _requested(tick) == {"processed/clicks": {"2026-11-02"}}
        tick = _tick(defs, instance, tick)
        assert _requested(tick) == {}  # requested once, not once per tick

        # an object lands before that run finishes: one more run of the same day, later
        _report(instance, "raw/clicks", "2026-11-02-07:00")
        tick = _tick(defs, instance, tick)
        assert _requested(tick) == {"processed/clicks": {"2026-11-02"}}

        # the processed day holds late events of the day before: both mart days are rebuilt
        _report(instance, "processed/clicks", "2026-11-02")
        tick = _tick(defs, instance, tick)
        requested = _requested(tick)
        assert requested["marts/daily_events"] == {"2026-11-01", "2026-11-02"}
        assert "marts/revenue_daily" not in requested and "marts/users" not in requested  # click marts only


def test_transactions_wait_for_the_users_snapshot_they_are_checked_against():
    defs = build_definitions("local")
    with dg.instance_for_test() as instance:
        tick = _tick(defs, instance)
        _report(instance, "raw/users", "2026-11-01")
        _report(instance, "raw/transactions", "2026-11-01")
        tick = _tick(defs, instance, tick)
        assert set(_requested(tick)) == {"processed/users"}  # the snapshot first (no snapshot yet)
        _report(instance, "processed/users")
        tick = _tick(defs, instance, tick)
        assert _requested(tick).get("processed/transactions") == {"2026-11-01"}



def test_a_mart_waits_for_an_upstream_requested_late_and_loads_once():
    """New transactions of a day already processed wait a tick for the users snapshot; when they are
    requested (the raw report is no longer new then), revenue waits for their run instead of being
    requested with it (the late window gives it other partitions, so another run), and loads once,
    after the transactions landed: not once in the same tick and again for the update it missed."""
    defs = build_definitions("local")
    with dg.instance_for_test() as instance:
        tick = _tick(defs, instance)
        _report(instance, "processed/users")
        _report(instance, "processed/transactions", "2026-11-02")
        for _ in range(2):
            tick = _tick(defs, instance, tick)
        _report(instance, "raw/users", "2026-11-02")
        _report(instance, "raw/transactions", "2026-11-02")
        tick = _tick(defs, instance, tick)
        assert set(_requested(tick)) == {"processed/users"}  # the snapshot first; its run never lands here
        tick = _tick(defs, instance, tick)
        requested = _requested(tick)
        assert requested["processed/transactions"] == {"2026-11-02"} and "marts/revenue_daily" not in requested
        _report(instance, "processed/transactions", "2026-11-02", checks=False)  # its run lands
        tick = _tick(defs, instance, tick)
        assert _requested(tick)["marts/revenue_daily"] == {"2026-11-01", "2026-11-02"}
        tick = _tick(defs, instance, tick)
        assert "marts/revenue_daily" not in _requested(tick)


def test_weekly_retention_follows_the_session_marts_once():
    """New processed clicks request the session marts; weekly retention, which their loads keep,
    waits for that load and then runs once: not with them in the same tick (it is not partitioned,
    so another run) and again after their load landed. Here the session marts are requested a tick
    late: more clicks had arrived, so the processed day was about to run again."""
    defs = build_definitions("local")
    with dg.instance_for_test() as instance:
        tick = _tick(defs, instance)
        _report(instance, "processed/clicks", "2026-11-02")
        _report(instance, "raw/clicks", "2026-11-02-07:00")
        tick = _tick(defs, instance, tick)
        assert set(_requested(tick)) == {"processed/clicks"}  # its run never lands here
        tick = _tick(defs, instance, tick)
        requested = _requested(tick)
        assert "2026-11-02" in requested["marts/sessions"] and "marts/retention_weekly" not in requested
        for day in sorted(requested["marts/sessions"]):
            _report(instance, "marts/sessions", day)
        tick = _tick(defs, instance, tick)
        assert _requested(tick).get("marts/retention_weekly") == {None}
        _report(instance, "marts/retention_weekly")
        tick = _tick(defs, instance, tick)
        assert "marts/retention_weekly" not in _requested(tick)


def test_a_backfill_that_rebuilt_the_marts_is_not_repeated_by_the_automation():
    defs = build_definitions("local")
    backfill = {"dagster/backfill": "manual"}
    with dg.instance_for_test() as instance:
        tick = _tick(defs, instance)
        _report(instance, "processed/clicks", "2026-11-02", backfill)
        tick = _tick(defs, instance, tick)
        for mart in ("daily_events", "funnel_daily", "top_pages_daily"):
            for day in ("2026-11-01", "2026-11-02"):
                _report(instance, f"marts/{mart}", day, backfill)
        tick = _tick(defs, instance, tick)
        tick = _tick(defs, instance, tick)
        assert "marts/daily_events" not in _requested(tick)


def test_a_load_of_any_pages_mart_alone_reaches_the_dashboard():
    """The dashboard follows every page's datasets: a load of an analytics mart (a session mart, or
    weekly retention) with nothing else new brings its dataset, then the dashboard, each once."""
    defs = build_definitions("local")
    with dg.instance_for_test() as instance:
        tick = _tick(defs, instance)
        _report(instance, "dashboard/data_source")
        tick = _tick(defs, instance, tick)
        for mart, partition in (("acquisition_daily", "2026-11-02"), ("retention_weekly", None)):
            _report(instance, f"marts/{mart}", partition)
            tick = _tick(defs, instance, tick)
            assert _requested(tick) == {f"dashboard/dataset_{mart}": {None}}, mart  # the dashboard waits for it
            _report(instance, f"dashboard/dataset_{mart}")  # its run, done before the next tick
            tick = _tick(defs, instance, tick)
            assert _requested(tick) == {"dashboard/dashboard": {None}}, mart
            _report(instance, "dashboard/dashboard")
            tick = _tick(defs, instance, tick)
            assert _requested(tick) == {}  # once per load

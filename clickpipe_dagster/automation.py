"""Declarative automation: what runs when new data lands, with Dagster's own mechanisms.

The raw sensors report new objects as materializations of the raw (external) assets; each
downstream asset carries an ``AutomationCondition``; one ``AutomationConditionSensorDefinition``
evaluates them all and launches the runs (a range of partitions becomes one single-run backfill).
A partition is requested once per change: a condition fires on an upstream update *since the
asset was last requested* and never while the asset or its upstream is still running, so updates
that land during a run are picked up by exactly one more run.

Runs it launches carry ``clickpipe/trigger=automation``: that is how ``processed/clicks`` knows
to read only the Firehose objects it has not read yet (``assets/processed.py``).
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from clickpipe_dagster.assets import keys

AC = dg.AutomationCondition
TRIGGER_TAG = "clickpipe/trigger"
AUTOMATION = "automation"
DAILY_CLOSE = "daily-close"
DAGSTER_AUTOMATION_TAG = "dagster/from_automation_condition"

# When an asset has dealt with its upstream updates: the automation requested it (a run that starts
# later reads everything there is), or a backfill someone launched rebuilt it. Not merely "it
# materialized": a run that was already going when an update landed did not see that update, and
# Dagster's own since_last_handled() would drop it.
HANDLED = (
    AC.newly_requested()
    | AC.initial_evaluation()
    | (
        AC.newly_updated()
        & AC.executed_with_tags(tag_keys={"dagster/backfill"})
        & ~AC.executed_with_tags(tag_keys={DAGSTER_AUTOMATION_TAG})
    )
).with_label("requested since, or rebuilt by a backfill")


def updated_since_handled(ignore: list[dg.AssetKey] = ()) -> dg.AutomationCondition:
    updated = AC.any_deps_updated()
    if ignore:
        updated = updated.ignore(dg.AssetSelection.assets(*ignore))
    return updated.since(HANDLED)


# An upstream asset got new input in this very tick, or is requested in it (for input it got earlier,
# e.g. once the snapshot it waited for was made): it is about to run, so this asset waits for it and
# runs once its update lands. Not in the same tick: the late window gives this asset other partitions
# than the upstream, so the two would run one after the other, and the upstream's update, landing
# after this asset was requested, would request it a second time. Conditions over time (since ...)
# cannot be nested under a dependency: Dagster evaluates them there only on the partitions it asks about.
UPSTREAM_PENDING = AC.any_deps_match(AC.any_deps_updated() | AC.will_be_requested()).with_label("upstream about to run")


def _quiet_upstream() -> dg.AutomationCondition:
    """Not running, and nothing upstream running, targeted by a backfill still going, or about to run."""
    return ~AC.in_progress() & ~AC.any_deps_in_progress() & ~UPSTREAM_PENDING


# A processed asset: its raw partition was reported (new or replaced objects).
NEW_RAW_DATA = (updated_since_handled() & ~AC.in_progress()).with_label("after new raw data")


def after_new_raw_data_with_snapshot(snapshot: dg.AssetKey) -> dg.AutomationCondition:
    """A processed asset that checks references against another's snapshot: new raw data of its
    own, once the snapshot exists and is neither running nor about to run (its own condition holds).
    The snapshot is not partitioned like this asset, so they cannot share a run."""
    waiting = (AC.missing() | AC.in_progress() | NEW_RAW_DATA).with_label("snapshot missing, running or about to run")
    return (
        updated_since_handled(ignore=[snapshot])
        & ~AC.in_progress()
        & ~AC.any_deps_match(waiting).allow(dg.AssetSelection.assets(snapshot))
    ).with_label("after new raw data, once the snapshot it checks against is ready")


def after_upstream_loads(ignore: list[dg.AssetKey] = ()) -> dg.AutomationCondition:
    """Downstream of the processed zone: any upstream update not yet dealt with, once nothing
    upstream is running or about to, and every upstream blocking check passed (a partition that
    failed its quarantine check stops here until it is fixed). ``ignore``: upstream assets whose
    updates do not start a run by themselves (they are read when the asset runs for another reason)."""
    return (updated_since_handled(ignore) & _quiet_upstream() & AC.all_deps_blocking_checks_passed()).with_label(
        "after an upstream load"
    )


def users_dimension() -> dg.AutomationCondition:
    """The users dimension reads every processed day: it follows users and transactions at once,
    the click stream once a day (after the daily close), not every few minutes."""
    updated = AC.any_deps_updated().ignore(dg.AssetSelection.assets(keys.processed("clicks")))
    no_snapshot = AC.any_deps_match(AC.missing()).allow(dg.AssetSelection.assets(keys.processed("users")))
    return ((updated | AC.cron_tick_passed("0 1 * * *", "UTC")).since(HANDLED) & _quiet_upstream() & ~no_snapshot).with_label(
        "after users or transactions load, and daily at 01:00 UTC"
    )


# Made once, when it is missing (and again whenever someone materializes it).
ONCE = (
    (AC.missing() & (AC.initial_evaluation() | AC.missing().newly_true())).since(AC.newly_requested()) & ~AC.in_progress()
).with_label("when missing")


# What "fresh" means for a daily report: yesterday is complete after the daily close of the click
# stream (00:30 UTC) and its loads; by 02:00 UTC the marts must have been updated since midnight.
MARTS_FRESHNESS = dg.FreshnessPolicy.cron(deadline_cron="0 2 * * *", lower_bound_delta=timedelta(hours=2), timezone="UTC")
DASHBOARD_FRESHNESS = dg.FreshnessPolicy.cron(
    deadline_cron="30 2 * * *", lower_bound_delta=timedelta(hours=2, minutes=30), timezone="UTC"
)


def automation_sensor(interval: int) -> dg.AutomationConditionSensorDefinition:
    return dg.AutomationConditionSensorDefinition(
        "automation_sensor",
        target=dg.AssetSelection.all(),
        run_tags={TRIGGER_TAG: AUTOMATION},
        minimum_interval_seconds=interval,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Evaluates every asset's automation condition: new raw data -> processed zone -> Athena tables, "
            "marts -> dashboard, each changed partition once."
        ),
    )

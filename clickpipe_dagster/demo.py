"""``clickpipe demo``: the whole pipeline on a generated sample, run the way the daemon runs it.

The demo starts Dagster's own daemon on the local instance, drops the sample into the raw zone
and streams the clicks through the local Firehose, then waits while the raw sensors report the
files and the automation carries them through the processed zone, the Athena tables, the marts
and the dashboard. Its runs are ordinary runs of the code location (Runs, Timeline, Jobs in the
UI), and the sensors' cursors know every file: a ``make dev`` that follows starts nothing until new
data lands.
"""

from __future__ import annotations

import time
from collections import Counter

import click
import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus  # not re-exported by dagster

from clickpipe_core import layout
from clickpipe_core.cleaning import DUPLICATE_REASON
from clickpipe_core.generator.batch import generate
from clickpipe_dagster import daemon
from clickpipe_dagster.assets import keys
from clickpipe_dagster.serving import dashboard_location, serving_summary
from clickpipe_dagster.settings import Settings
from clickpipe_dagster.simulate import simulate_clicks

# The demo's daemon looks often; `make dev` afterwards uses the default (CLICKPIPE_SENSOR_SECONDS).
DEMO_SENSOR_SECONDS = "3"
TIMEOUT_SECONDS = 15 * 60
COUNTS = ("rows_in", "rows_out", "rows_quarantined", "duplicates_dropped")


def _value(md, key, default=0):
    v = md.get(key, default)
    return getattr(v, "value", v)


def processed_totals(instance: dg.DagsterInstance, since: float) -> dict[str, Counter]:
    """Per processed asset, the counts of the latest materialization of each partition since ``since``."""
    totals: dict[str, Counter] = {}
    for dataset in ("users", "transactions", "clicks"):
        key = keys.processed(dataset)
        latest: dict[str | None, dict] = {}
        records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, after_timestamp=since), limit=10_000).records
        for r in records:  # newest first
            latest.setdefault(r.partition_key, r.asset_materialization.metadata)
        if latest:
            totals[key.to_user_string()] = Counter({k: sum(int(_value(md, k)) for md in latest.values()) for k in COUNTS})
    return totals


def quarantine_reasons(lake_root: str) -> dict[str, Counter]:
    """Quarantined records by dataset and reason, read from the quarantine zone itself."""
    import duckdb

    out: dict[str, Counter] = {}
    for dataset in ("users", "transactions", "clicks"):
        pattern = f"{lake_root}/{layout.QUARANTINE}/{dataset}/*/*.parquet"
        try:
            rows = duckdb.sql(
                f"SELECT reason, count(*) FROM read_parquet('{pattern}') WHERE reason <> '{DUPLICATE_REASON}' GROUP BY 1"
            ).fetchall()
        except duckdb.IOException:  # no file
            rows = []
        if rows:
            out[f"processed/{dataset}"] = Counter(dict(rows))
    return out


def failed_checks(instance: dg.DagsterInstance, definitions: dg.Definitions) -> list[str]:
    """Checks whose latest execution failed, and checks planned by a run that ended before
    evaluating them (its run failed: the check says nothing, which is not a pass)."""
    failed = []
    for check_key in definitions.resolve_asset_graph().asset_check_keys:
        record = instance.get_latest_asset_check_evaluation_record(check_key)
        if record is None:
            continue
        name = f"{check_key.asset_key.to_user_string()}:{check_key.name}"
        if record.status == AssetCheckExecutionRecordStatus.FAILED:
            failed.append(name)
        elif record.status == AssetCheckExecutionRecordStatus.PLANNED:
            run = instance.get_run_by_id(record.run_id)
            if run is None or run.is_finished:
                failed.append(f"{name} (not evaluated: run {record.run_id[:8]} {run.status.value.lower() if run else 'deleted'})")
    return sorted(failed)


def run_demo(
    *, days: int, users: int, transactions_per_day: int, seed: int, dirty_rate: float, clicks_per_day: int = 10_000
) -> bool:
    from clickpipe_dagster.definitions import build_definitions
    from clickpipe_dagster.environments import resolved

    settings = Settings.from_env()
    settings.use_local_dagster_home()
    definitions = build_definitions(settings)
    lake = resolved(definitions.resources["lake"])
    click.echo(f"clickpipe demo  (CLICKPIPE_HOME={settings.home}, CLICKPIPE_ENV={settings.env})")

    sample = generate(settings.home / "sample", days=days, users=users, transactions_per_day=transactions_per_day,
                      seed=seed, dirty_rate=dirty_rate)  # fmt: skip
    click.echo(f"1. generated {len(sample.days)} day(s) of sample data in {sample.out}")

    started = time.time()
    with dg.DagsterInstance.get() as instance:
        instance.get_runs_count()  # create the instance's storage before the daemon opens it too
    with daemon.daemon(settings, CLICKPIPE_SENSOR_SECONDS=DEMO_SENSOR_SECONDS), dg.DagsterInstance.get() as instance:
        if not daemon.wait_for_first_ticks(instance, started):
            raise click.ClickException(f"the Dagster daemon did not start: see {settings.home / 'logs' / 'dagster-daemon.log'}")
        click.echo(f"2. started the Dagster daemon on the instance in {settings.dagster_home} (log: {settings.home / 'logs' / 'dagster-daemon.log'})")
        uploads = {sample.days[0]: [("users", sample.users_file)]}
        for day, path in sample.transaction_files.items():
            uploads.setdefault(day, []).append(("transactions", path))
        for day, files in uploads.items():
            for dataset, path in files:
                lake.upload(path, layout.raw_batch_key(dataset, day, path.name))
        click.echo(f"3. dropped the batch files into the raw zone at {lake.console_url('raw/')}")
        clicks = simulate_clicks(sample.days, events_per_day=clicks_per_day, users=sample.users_file, seed=seed,
                                 progress=False, stream=resolved(definitions.resources["stream"]))  # fmt: skip
        click.echo(
            f"4. simulated {clicks['events']:,} click events ({clicks['sessions']:,} sessions, {clicks['duplicates']:,} "
            f"re-delivered, {clicks['late_events']:,} late) through the local Firehose: {clicks['sink']['objects']:,} "
            f"gzip objects in {lake.console_url('raw/clicks/')}"
        )
        landed = time.time()
        click.echo("5. the raw sensors report them; the automation runs Glue Job 1, the Athena tables, Glue Job 2, the dashboard...")
        done = daemon.wait_until_settled(instance, landed, TIMEOUT_SECONDS)
        runs = instance.get_run_records(dg.RunsFilter(created_after=_utc(started)))
        failed_runs = [r.dagster_run for r in runs if r.dagster_run.status == dg.DagsterRunStatus.FAILURE]
        click.echo(
            f"6. {'done' if done else 'NOT done in time'}: {len(runs)} run(s) launched by the automation in "
            f"{time.time() - landed:,.0f} s, {len(failed_runs)} failed"
        )
        totals = processed_totals(instance, started)
        checks = failed_checks(instance, definitions)
        dashboard = dashboard_location(instance, since=started)

    click.echo(f"\n{'stage':<24}{'rows in':>10}{'out':>10}{'quarantined':>13}{'duplicates':>12}")
    for name, t in sorted(totals.items()):
        click.echo(f"{name:<24}{t['rows_in']:>10,}{t['rows_out']:>10,}{t['rows_quarantined']:>13,}{t['duplicates_dropped']:>12,}")
    for name, reasons in sorted(quarantine_reasons(str(settings.lake_dir)).items()):
        click.echo(f"\nquarantined in {name}, by reason:")
        for reason, n in reasons.most_common():
            click.echo(f"  {reason:<28}{n:>8,}")
    click.echo("\nchecks: " + ("all passed" if not checks else "FAILED " + ", ".join(checks)))
    for run in failed_runs:
        click.echo(f"run {run.run_id} failed: open the UI (make dev) to see why", err=True)
    ok = done and not failed_runs and not checks and dashboard is not None
    if dashboard is not None:
        click.echo("")
        for line in serving_summary(resolved(definitions.resources["warehouse"])):
            click.echo(line)
        click.echo("        query it: clickpipe query --on rds \"SELECT * FROM marts.revenue_daily LIMIT 5\"")
        click.echo(f"        Athena tables as DuckDB views: duckdb {settings.athena_duckdb_path}")
        click.echo(f"\ndashboard: {dashboard}")
        click.echo("        open it in a browser, or serve it: clickpipe dashboard  (http://127.0.0.1:8050/)")
    click.echo(f"\nfiles:  processed  {lake.console_url(layout.PROCESSED + '/')}")
    click.echo(f"        quarantine {lake.console_url(layout.QUARANTINE + '/')}")
    click.echo(f"        Dagster instance {settings.dagster_home}")
    click.echo("\nOpen the UI on this instance with `make dev`, then http://127.0.0.1:3000: the runs above are in Runs and")
    click.echo("Timeline; new files in the raw zone are picked up by the same sensors.")
    return ok


def _utc(ts: float):
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts, timezone.utc)

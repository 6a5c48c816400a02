"""``clickpipe demo``: the whole pipeline on a generated sample, on the local instance."""

from __future__ import annotations

import time
import warnings
from collections import Counter

import click
import dagster as dg

from clickpipe_dagster import settings
from clickpipe_dagster.assets import keys
from clickpipe_core.generator.batch import generate
from clickpipe_dagster.serving import dashboard_location, event_days, run_serving, serving_summary
from clickpipe_dagster.simulate import simulate_clicks
from clickpipe_core import layout


def _value(md, key, default=0):
    v = md.get(key, default)
    return getattr(v, "value", v)


def run_demo(
    *, days: int, users: int, transactions_per_day: int, seed: int, dirty_rate: float, clicks_per_day: int = 10_000
) -> bool:
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    settings.use_local_dagster_home()
    from clickpipe_dagster.definitions import defs

    home = settings.clickpipe_home()
    lake = defs.resources["lake"]
    click.echo(f"clickpipe demo  (CLICKPIPE_HOME={home}, CLICKPIPE_ENV={settings.environment()})")

    sample = generate(home / "sample", days=days, users=users, transactions_per_day=transactions_per_day,
                      seed=seed, dirty_rate=dirty_rate)  # fmt: skip
    click.echo(f"1. generated {len(sample.days)} day(s) of sample data in {sample.out}")

    uploads = {sample.days[0]: [("users", sample.users_file)]}
    for day, path in sample.transaction_files.items():
        uploads.setdefault(day, []).append(("transactions", path))
    for day, files in uploads.items():
        for dataset, path in files:
            lake.upload(path, layout.raw_batch_key(dataset, day, path.name))
    click.echo(f"2. loaded them into the raw zone at {lake.console_url('raw/')}")

    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    totals: dict[str, Counter] = {}
    reasons: dict[str, Counter] = {}
    failed_checks: list[str] = []

    def record(result, label: str) -> bool:
        """Add a run's processed counts and failed checks to the summary."""
        counted = set()
        for event in result.get_asset_materialization_events():
            mat = event.step_materialization_data.materialization
            name = mat.asset_key.to_user_string()
            # A single-run backfill materializes every partition of its range with the run's
            # metadata (counts for the whole range): count it once.
            if name.startswith("processed/") and name not in counted:
                counted.add(name)
                t = totals.setdefault(name, Counter())
                for k in ("rows_in", "rows_out", "rows_quarantined", "duplicates_dropped"):
                    t[k] += _value(mat.metadata, k)
                reasons.setdefault(name, Counter()).update(_value(mat.metadata, "quarantine_reasons", {}) or {})
        failed_checks.extend(
            f"{e.asset_key.to_user_string()}:{e.check_name} ({label})" for e in result.get_asset_check_evaluations() if not e.passed
        )
        if not result.success:
            click.echo(f"   run for {label} failed; open the UI (make dev) to see why", err=True)
        return result.success

    ok = True
    batch_job = defs.resolve_job_def("batch_job")
    with dg.DagsterInstance.get() as instance:
        for day, files in uploads.items():
            selection = [k for ds, _ in files for k in (keys.raw(ds), keys.processed(ds))]
            ok &= record(batch_job.execute_in_process(
                partition_key=day, instance=instance, asset_selection=selection, raise_on_error=False, run_config=quiet,
                tags={"clickpipe/trigger": "demo"},
            ), day)  # fmt: skip
    click.echo(f"3. cleaned the batch files into the processed zone for {', '.join(uploads)}")

    clicks = simulate_clicks(sample.days, events_per_day=clicks_per_day, users=sample.users_file, seed=seed, progress=False)
    arrivals = sorted(clicks["arrival_days"])
    click.echo(
        f"4. simulated {clicks['events']:,} click events ({clicks['sessions']:,} sessions, {clicks['duplicates']:,} "
        f"re-delivered, {clicks['late_events']:,} late) through the local Firehose: {clicks['sink']['objects']:,} "
        f"gzip objects in {lake.console_url('raw/clicks/')}"
    )
    with dg.DagsterInstance.get() as instance:
        range_tags = {"dagster/asset_partition_range_start": arrivals[0], "dagster/asset_partition_range_end": arrivals[-1]}
        ok &= record(defs.resolve_job_def("clicks_job").execute_in_process(
            instance=instance, raise_on_error=False, run_config=quiet, tags={**range_tags, "clickpipe/trigger": "demo"},
        ), f"clicks {arrivals[0]}..{arrivals[-1]}")  # fmt: skip
    click.echo(f"5. cleaned the click stream into processed/clicks/ for arrival days {arrivals[0]}..{arrivals[-1]} in one run")
    with dg.DagsterInstance.get() as instance:
        started = time.time()
        days_with_events = sorted(set(event_days(list(uploads))) | set(clicks["event_days"]))
        serving_ok, serving_failed = run_serving(defs, instance, days_with_events, run_config=quiet)
        dashboard = dashboard_location(instance, since=started)
    ok &= serving_ok
    failed_checks += serving_failed
    click.echo("6. loaded the marts into PostgreSQL and the Athena tables (DuckDB views) over the processed zone")
    click.echo("7. rendered the dashboard from the marts\n" if dashboard else
               "7. the dashboard was not rendered: open the UI (make dev) to see why\n")  # fmt: skip

    click.echo(f"{'stage':<24}{'rows in':>10}{'out':>10}{'quarantined':>13}{'duplicates':>12}")
    for name, t in sorted(totals.items()):
        click.echo(f"{name:<24}{t['rows_in']:>10,}{t['rows_out']:>10,}{t['rows_quarantined']:>13,}{t['duplicates_dropped']:>12,}")
    for name, r in sorted(reasons.items()):
        if r:
            click.echo(f"\nquarantined in {name}, by reason:")
            for reason, n in r.most_common():
                click.echo(f"  {reason:<28}{n:>8,}")
    click.echo("\nchecks: " + ("all passed" if not failed_checks else "FAILED " + ", ".join(failed_checks)))
    if serving_ok:
        click.echo("")
        for line in serving_summary(defs.resources["warehouse"]):
            click.echo(line)
        click.echo("        query it: clickpipe query --on rds \"SELECT * FROM marts.revenue_daily LIMIT 5\"")
        click.echo(f"        Athena tables as DuckDB views: duckdb {settings.athena_duckdb_path()}")
    if dashboard:
        click.echo(f"\ndashboard: {dashboard}")
        click.echo("        open it in a browser, or serve it: clickpipe dashboard  (http://127.0.0.1:8050/)")
    click.echo(f"\nfiles:  processed  {lake.console_url(layout.PROCESSED + '/')}")
    click.echo(f"        quarantine {lake.console_url(layout.QUARANTINE + '/')}")
    click.echo(f"        Dagster instance {settings.dagster_home()}")
    click.echo("\nOpen the UI on this instance with `make dev`, then http://127.0.0.1:3000")
    return ok and not failed_checks

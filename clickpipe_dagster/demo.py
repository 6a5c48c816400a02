"""``clickpipe demo``: the whole pipeline on a generated sample, on the local instance."""

from __future__ import annotations

import time
import warnings
from collections import Counter

import click
import dagster as dg

from clickpipe_dagster import settings
from clickpipe_dagster.generator.batch import generate
from clickpipe_dagster.serving import dashboard_location, event_days, run_serving, serving_summary
from glue_scripts import layout


def _value(md, key, default=0):
    v = md.get(key, default)
    return getattr(v, "value", v)


def run_demo(*, days: int, users: int, transactions_per_day: int, seed: int, dirty_rate: float) -> bool:
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

    job = defs.resolve_job_def("batch_job")
    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    totals: dict[str, Counter] = {}
    reasons: dict[str, Counter] = {}
    failed_checks = []
    ok = True
    with dg.DagsterInstance.get() as instance:
        for day, files in uploads.items():
            selection = [dg.AssetKey(f"{kind}_{ds}") for ds, _ in files for kind in ("raw", "processed")]
            result = job.execute_in_process(
                partition_key=day, instance=instance, asset_selection=selection, raise_on_error=False, run_config=quiet,
                tags={"clickpipe/trigger": "demo"},
            )  # fmt: skip
            ok &= result.success
            for event in result.get_asset_materialization_events():
                mat = event.step_materialization_data.materialization
                name = mat.asset_key.to_user_string()
                if not name.startswith("processed_"):
                    continue
                md = mat.metadata
                t = totals.setdefault(name, Counter())
                for k in ("rows_in", "rows_out", "rows_quarantined", "duplicates_dropped", "files_out"):
                    t[k] += _value(md, k)
                reasons.setdefault(name, Counter()).update(_value(md, "quarantine_reasons", {}) or {})
            for evaluation in result.get_asset_check_evaluations():
                if not evaluation.passed:
                    failed_checks.append(f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name} ({day})")
            if not result.success:
                click.echo(f"   run for {day} failed; open the UI (make dev) to see why", err=True)
    click.echo(f"3. materialized raw and processed assets for {', '.join(uploads)}")
    with dg.DagsterInstance.get() as instance:
        started = time.time()
        serving_ok, serving_failed = run_serving(defs, instance, event_days(list(uploads)), run_config=quiet)
        dashboard = dashboard_location(instance, since=started)
    ok &= serving_ok
    failed_checks += serving_failed
    click.echo("4. loaded the marts into PostgreSQL and the Athena tables (DuckDB views) over the processed zone")
    click.echo("5. rendered the dashboard from the marts\n" if dashboard else
               "5. the dashboard was not rendered: open the UI (make dev) to see why\n")  # fmt: skip

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

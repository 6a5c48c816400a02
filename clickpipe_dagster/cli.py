"""The ``clickpipe`` command: generate sample data, upload files to the raw zone, query, run the demo,
serve the local dashboard."""

from __future__ import annotations

import sys
from datetime import date, datetime, timezone
from pathlib import Path

import click

from clickpipe_dagster.contracts import BATCH_DATASETS


def _date(_ctx, _param, value):
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-11-01") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """clickpipe: batch + streaming analytics on Dagster, on a laptop or on AWS."""


@main.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Directory to write into")
@click.option("--days", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--users", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--transactions-per-day", type=click.IntRange(min=0), default=5000, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--dirty-rate", type=click.FloatRange(0, 1), default=0.02, show_default=True)
@click.option("--start", callback=_date, default="2026-11-01", show_default=True, help="First day of the extracts")
def generate(out, days, users, transactions_per_day, seed, dirty_rate, start):
    """Write a deterministic users.csv and one transactions.csv per day (with a manifest)."""
    from clickpipe_dagster.generator.batch import generate as run

    sample = run(out, days=days, users=users, transactions_per_day=transactions_per_day,
                 seed=seed, dirty_rate=dirty_rate, start=start)  # fmt: skip
    m = sample.manifest
    click.echo(f"users:        {sample.users_file}  ({m['users']['rows']:,} rows, dirty: {m['users']['dirty']})")
    for day, path in sorted(sample.transaction_files.items()):
        click.echo(f"transactions: {path}")
    click.echo(f"              {m['transactions']['rows']:,} rows, dirty: {m['transactions']['dirty']}")
    click.echo(f"manifest:     {out / 'manifest.json'}")


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dataset", type=click.Choice(BATCH_DATASETS), required=True)
@click.option("--date", "ingest_date", callback=_date, default=None, help="Ingest date (default: today, UTC)")
def upload(file, dataset, ingest_date):
    """Put FILE into the raw zone as raw/DATASET/ingest_date=DATE/FILE."""
    from clickpipe_dagster.definitions import defs
    from glue_scripts import layout

    ingest_date = ingest_date or datetime.now(timezone.utc).date()
    lake = defs.resources["lake"]
    key = layout.raw_batch_key(dataset, ingest_date.isoformat(), file.name)
    lake.upload(file, key)
    click.echo(f"uploaded {file} -> {lake.console_url(key)}")


@main.command()
@click.argument("sql", required=False)
@click.option("--on", "target", type=click.Choice(["athena", "rds"]), default="athena", show_default=True,
              help="athena: the processed zone's tables (Athena on AWS, DuckDB locally); rds: the marts in PostgreSQL")
@click.option("--file", "sql_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Read the SQL from a .sql file instead")
@click.option("--param", "params", multiple=True,
              help="A query parameter, in order (? placeholders on athena, %s on rds); repeatable")
@click.option("--max-rows", type=click.IntRange(min=1), default=200, show_default=True)
def query(sql, target, sql_file, params, max_rows):
    """Run SQL and print the answer as a table, e.g. clickpipe query "SELECT dt, COUNT(*) FROM transactions GROUP BY dt"."""
    from clickpipe_dagster.definitions import defs
    from clickpipe_dagster.resources.athena import QueryError
    from clickpipe_dagster.resources.tabular import format_table
    from glue_scripts.pg_load import WarehouseError

    if bool(sql) == bool(sql_file):
        raise click.UsageError("give either SQL text or --file FILE")
    text = sql if sql else sql_file.read_text()
    engine = defs.resources["query_engine" if target == "athena" else "warehouse"]
    try:
        result = engine.query(text, list(params) or None)
    except (QueryError, WarehouseError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(format_table(result, max_rows=max_rows))  # fmt: skip


@main.command()
@click.option("--days", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--users", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--transactions-per-day", type=click.IntRange(min=0), default=5000, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--dirty-rate", type=click.FloatRange(0, 1), default=0.02, show_default=True)
def demo(days, users, transactions_per_day, seed, dirty_rate):
    """Generate a sample, load it into the raw zone, materialize everything, print a summary."""
    from clickpipe_dagster.demo import run_demo

    ok = run_demo(days=days, users=users, transactions_per_day=transactions_per_day, seed=seed, dirty_rate=dirty_rate)
    sys.exit(0 if ok else 1)


@main.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8050, show_default=True,
              help="TCP port on 127.0.0.1 (0: any free one)")
@click.option("--render", is_flag=True,
              help="Render the page from the marts in PostgreSQL first (the dashboard asset does this too)")
def dashboard(port, render):
    """Serve the local dashboard ($CLICKPIPE_HOME/dashboard/index.html) on http://127.0.0.1:PORT/ until Ctrl-C."""
    import functools
    import http.server

    from clickpipe_dagster import settings

    if render:
        from clickpipe_dagster.definitions import defs
        from clickpipe_dagster.resources.dashboard import DashboardError, LocalDashboardResource

        resource, warehouse = defs.resources["dashboards"], defs.resources["warehouse"]
        if not isinstance(resource, LocalDashboardResource):
            raise click.ClickException(
                "--render makes the local page; with CLICKPIPE_ENV=aws materialize the dashboard asset (QuickSight)"
            )
        try:
            resource.publish_dashboard(warehouse)
        except DashboardError as e:
            raise click.ClickException(str(e)) from None
        finally:
            if hasattr(warehouse, "stop"):
                warehouse.stop()  # the embedded PostgreSQL is not needed while serving
    directory = settings.dashboard_dir()
    index = directory / "index.html"
    if not index.exists():
        raise click.ClickException(
            f"no dashboard at {index}: run `clickpipe demo`, or `clickpipe dashboard --render` once the marts are loaded"
        )
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as e:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {e.strerror}; try --port 0") from None
    click.echo(f"dashboard: {index}")
    click.echo(f"serving it at http://127.0.0.1:{server.server_address[1]}/  (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()

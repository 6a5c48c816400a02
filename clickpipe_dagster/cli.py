"""The ``clickpipe`` command: generate sample data, upload files to the raw zone, query, run the demo,
serve the local dashboard."""

from __future__ import annotations

import signal
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import click

from clickpipe_core.contracts import BATCH_DATASETS
from clickpipe_dagster.cli_errors import ClearErrorsGroup


def _date(_ctx, _param, value):
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-11-01") from None


@click.group(cls=ClearErrorsGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
    from clickpipe_core.generator.batch import generate as run

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
    """Put FILE into the raw zone as raw/DATASET/ingest_date=DATE/FILE.

    The file must be the named dataset's (its header is checked against the contract) and have a
    name Glue Job 1 reads (not starting with '.' or '_')."""
    from clickpipe_core import layout
    from clickpipe_dagster.environments import resource

    problem = upload_problem(file, dataset)
    if problem:
        raise click.ClickException(f"not uploaded: {problem}")
    ingest_date = ingest_date or datetime.now(timezone.utc).date()
    lake = _resource("lake", resource)
    key = layout.raw_batch_key(dataset, ingest_date.isoformat(), file.name)
    lake.upload(file, key)
    click.echo(f"uploaded {file} -> {lake.console_url(key)}")


def upload_problem(file: Path, dataset: str) -> str | None:
    """Why Glue Job 1 would not take FILE as a DATASET delivery, or None."""
    from clickpipe_core.contracts import get_dataset
    from clickpipe_core.raw_input import HEAD_BYTES, header_problem, is_empty_head

    if file.name.startswith((".", "_")):
        return (f"{file.name} starts with {file.name[0]!r}: Glue Job 1 does not read such files (hidden or temporary "
                "by convention) and quarantines their records; rename it")  # fmt: skip
    with open(file, "rb") as f:
        head = f.read(HEAD_BYTES)
    if is_empty_head(head):
        return f"{file} is empty: a {dataset} file starts with the header {','.join(get_dataset(dataset).column_names)}"
    _, problem = header_problem(get_dataset(dataset), head)
    if problem is None:
        return None
    others = [d for d in BATCH_DATASETS if d != dataset and header_problem(get_dataset(d), head)[1] is None]
    hint = f"; it looks like a {others[0]} file: upload it with --dataset {others[0]}" if others else ""
    return f"{file} is not a {dataset} file: its {problem}{hint}"


def _settings(settings_class):
    try:
        return settings_class.from_env()
    except ValueError as e:
        raise click.ClickException(str(e)) from None


def _resource(key: str, resolve):
    try:
        return resolve(key)
    except ValueError as e:  # a setting missing or invalid: one line, no traceback
        raise click.ClickException(str(e)) from None


def _instant(_ctx, param, value):
    """A date (its midnight; as --end, the end of that day) or an ISO-8601 time (naive = UTC)."""
    if value is None:
        return None
    try:
        if len(value.strip()) == 10:
            day = date.fromisoformat(value.strip())
            return datetime(day.year, day.month, day.day, tzinfo=timezone.utc) + timedelta(days=param.name == "end")
        t = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        return t if t.tzinfo else t.replace(tzinfo=timezone.utc)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (2026-11-01) or a time (2026-11-01T06:00:00Z)") from None


@main.command()
@click.option("--events", type=click.IntRange(min=0), default=None, help="Events to make over the window  [default: 30000]")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=None, help="Live: events per second, event time now")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), default=None, help="Live: seconds to run")
@click.option("--start", callback=_instant, default=None, help="Window start: a date or an ISO time  [default: 2026-11-01]")
@click.option("--end", callback=_instant, default=None, help="Window end: a date (inclusive) or an ISO time (exclusive)")
@click.option("--days", type=click.IntRange(min=1), default=None, help="Window length in days from --start  [default: 3]")
@click.option("--late-share", type=click.FloatRange(0, 1), default=0.05, show_default=True, help="Sessions that arrive 1-24 h late")
@click.option("--duplicate-share", type=click.FloatRange(0, 1), default=0.01, show_default=True, help="Events sent twice")
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--users", type=click.IntRange(min=1), default=1000, show_default=True, help="Users U0000001.. to draw from")
@click.option("--users-csv", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Take users and their countries from a users.csv (e.g. sample/users.csv) instead")  # fmt: skip
def simulate(events, rate, duration, start, end, days, late_share, duplicate_share, seed, users, users_csv):
    """Send simulated click events to the stream (the local Firehose, or Kinesis on AWS).

    \b
    Backfill past days (default):  clickpipe simulate --events 1000000 --start 2026-11-01 --days 3
    Live traffic for a while:      clickpipe simulate --rate 2000 --duration 60
    """
    from clickpipe_dagster.environments import resource
    from clickpipe_dagster.simulate import simulate as run

    live = rate is not None or duration is not None
    if live:
        if rate is None or duration is None:
            raise click.UsageError("--rate and --duration go together")
        given = [name for name, v in (("--events", events), ("--start", start), ("--end", end), ("--days", days)) if v is not None]
        if given:
            raise click.UsageError(f"{', '.join(given)} cannot be used with --rate/--duration (live traffic is now)")
        window = {"rate": rate, "duration": duration}
    else:
        if end is not None and days is not None:
            raise click.UsageError("give --end or --days, not both")
        start = start or datetime(2026, 11, 1, tzinfo=timezone.utc)
        end = end or start + timedelta(days=days or 3)
        if end <= start:
            raise click.UsageError(f"--end {end.isoformat()} is not after --start {start.isoformat()}")
        window = {"events": 30_000 if events is None else events, "start": start, "end": end}
    def stop(_signum, _frame):  # `kill` and service managers send SIGTERM: close the sink as on Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        m = run(**window, users=str(users_csv) if users_csv else users, seed=seed, late_share=late_share,
                duplicate_share=duplicate_share, stream=_resource("stream", resource))  # fmt: skip
    except KeyboardInterrupt:
        click.echo("interrupted; what was buffered has been delivered", err=True)
        sys.exit(130)
    click.echo(f"stream:     {m['stream']}")
    click.echo(f"events:     {m['events']:,} in {m['sessions']:,} sessions; +{m['duplicates']:,} duplicates = "
               f"{m['records']:,} records; {m['late_events']:,} late")  # fmt: skip
    click.echo("by type:    " + ", ".join(f"{k} {v:,}" for k, v in m["by_event_type"].items()))
    if m["event_time"]:
        click.echo(f"event time: {m['event_time']['first']} .. {m['event_time']['last']}")
        click.echo(f"arrivals:   {m['arrival_time']['first']} .. {m['arrival_time']['last']}  "
                   f"(raw partitions: {', '.join(m['arrival_days'])})")  # fmt: skip
    if m["objects"]:
        click.echo(f"objects:    {len(m['objects']):,} ({m['sink']['bytes_out'] / 1e6:,.1f} MB gzip)")
    click.echo(f"throughput: {m['events_per_second'] or 0:,} events/s ({m['records']:,} records in {m['seconds']:.2f} s)")


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
    from clickpipe_core.errors import WarehouseError
    from clickpipe_dagster.resources.tabular import QueryError, duckdb_query, format_table
    from clickpipe_dagster.settings import Settings

    if bool(sql) == bool(sql_file):
        raise click.UsageError("give either SQL text or --file FILE")
    text = sql if sql else sql_file.read_text()
    settings = _settings(Settings)
    try:
        if target == "athena" and settings.env == "local":
            # DuckDB over the local lake needs no Dagster: the command starts in a fraction of a second.
            result = duckdb_query(str(settings.lake_dir), text, list(params) or None)
        else:
            from clickpipe_dagster.environments import resource

            engine = _resource("query_engine" if target == "athena" else "warehouse", lambda k: resource(k, settings))
            result = engine.query(text, list(params) or None)
    except (QueryError, WarehouseError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(format_table(result, max_rows=max_rows))


@main.command()
@click.option("--days", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--users", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--transactions-per-day", type=click.IntRange(min=0), default=5000, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--dirty-rate", type=click.FloatRange(0, 1), default=0.02, show_default=True)
@click.option("--clicks-per-day", type=click.IntRange(min=1), default=10_000, show_default=True)
def demo(days, users, transactions_per_day, seed, dirty_rate, clicks_per_day):
    """Generate a sample, load it into the raw zone, materialize everything, print a summary."""
    from clickpipe_dagster.demo import run_demo

    ok = run_demo(days=days, users=users, transactions_per_day=transactions_per_day, seed=seed, dirty_rate=dirty_rate,
                  clicks_per_day=clicks_per_day)  # fmt: skip
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

    from clickpipe_dagster.settings import Settings

    settings = _settings(Settings)
    if render:
        from clickpipe_dagster.environments import resource
        from clickpipe_dagster.resources.dashboard import DashboardError, LocalDashboardResource

        dashboards = _resource("dashboards", lambda k: resource(k, settings))
        warehouse = _resource("warehouse", lambda k: resource(k, settings))
        if not isinstance(dashboards, LocalDashboardResource):
            raise click.ClickException(
                "--render makes the local page; with CLICKPIPE_ENV=aws materialize the dashboard asset (QuickSight)"
            )
        try:
            dashboards.publish_dashboard(warehouse)
        except DashboardError as e:
            raise click.ClickException(str(e)) from None
        finally:
            if hasattr(warehouse, "stop"):
                warehouse.stop()  # the embedded PostgreSQL is not needed while serving
    directory = settings.dashboard_dir
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
    # Stop on SIGTERM like on Ctrl-C, even when started from a parent that ignores or blocks it.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()

"""Glue Job 2: processed zone -> reporting marts in PostgreSQL (RDS).

Builds the marts of ``clickpipe_core/marts.py`` with their SQL files on DuckDB or Spark
(``--engine``; Spark by default on Glue, see ``marts_engine.py``) and loads them into PostgreSQL
with ADBC (binary COPY): each daily partition is replaced in one transaction; the users dimension
and weekly retention are maintained incrementally by those day transactions (``pg_load``). Both
engines hand the same Arrow tables to the same loader: Spark collects each mart to the driver
(marts are small). The tables come from the versioned migrations in
``clickpipe_core/sql/migrations/``, applied first.

Launched by Dagster Pipes (``PipesSubprocessClient`` locally, ``PipesGlueClient`` on AWS) or by hand:

    CLICKPIPE_JOB_PG_URL=postgresql://... python glue_scripts/processed_to_rds.py \
        --marts daily --lake .clickpipe/lake --partition 2026-11-01

The connection URL comes from the environment (``CLICKPIPE_JOB_PG_URL``, set by the warehouse
resource) or, on Glue, from a Secrets Manager secret (``--pg-secret-arn``); it is never printed.
A failure is reported as one message that names the setting to fix, and the job exits with status 2
(a FAILED Glue run).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

if __package__ in (None, ""):  # run as a file (Glue, subprocess): make the repo importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from clickpipe_core.lake_store import open_store  # noqa: E402
from clickpipe_core.layout import processed_prefix  # noqa: E402
from clickpipe_core.marts import (  # noqa: E402
    MART_GROUPS,
    MARTS,
    RETENTION_WEEKLY,
    USER_ACTIVITY,
    USER_VISITS_DAILY,
    USERS_DIM,
    activity_for,
    visits_for,
)
from clickpipe_core.pg_load import SOURCE_ENV, URL_ENV  # noqa: E402
from clickpipe_core.runtime import Runtime  # noqa: E402
from glue_scripts.pipes_session import (  # noqa: E402
    add_engine_argument,
    glue_job_run,
    pipes_metadata,
    pipes_session,
)

EXIT_BAD_INPUT = 2
SESSIONS_PREFIX = processed_prefix("sessions")
SESSIONS_ASSET = "processed/sessions"


class MartSelection(list):
    """The marts a run builds, and how they were asked for (``label``: the words of messages)."""

    label: str


def mart_selection(text: str) -> MartSelection:
    """``daily``, ``sessions``, ``users``, ``retention``, or mart names, comma-separated (e.g.
    ``daily_events,funnel_daily``)."""
    marts = MartSelection()
    marts.label = text
    for name in (n.strip() for n in text.split(",") if n.strip()):
        found = MART_GROUPS.get(name) or ([MARTS[name]] if name in MARTS else None)
        if found is None:
            raise argparse.ArgumentTypeError(f"unknown mart or group {name!r} (groups: {', '.join(sorted(MART_GROUPS))}; marts: {', '.join(MARTS)})")
        marts += [m for m in found if m not in marts]
    if not marts or len({m.daily for m in marts}) > 1:
        raise argparse.ArgumentTypeError("give daily marts or marts replaced whole (they load separately)")
    return marts


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--marts", type=mart_selection, default=None, help="daily, sessions, users, retention (groups), or mart names, comma-separated")
    p.add_argument(
        "--publish-sessions", choices=("true", "false"), default="false",  # a value: Glue job arguments have one
        help=f"true: also write the sessions of the days to {SESSIONS_PREFIX}dt=D/ (the processed sessions table); alone, only that",
    )  # fmt: skip
    p.add_argument("--lake", required=True, help="lake root: a directory, file:///dir or s3://bucket/prefix")
    add_engine_argument(p)
    p.add_argument("--partition", action="append", default=[], help="day(s) YYYY-MM-DD when run without Dagster")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--pg-secret-arn", default=None, help="Secrets Manager secret with the RDS credentials (Glue)")
    p.add_argument("--pg-sslmode", default="require")
    p.add_argument("--pg-host", default=None, help="RDS endpoint, when the secret does not hold it")
    p.add_argument("--pg-port", type=int, default=None)
    p.add_argument("--pg-database", default=None)
    args, _ = p.parse_known_args(argv)  # Glue adds its own arguments
    args.publish_sessions = args.publish_sessions == "true"
    if args.marts is None:
        if not args.publish_sessions:
            p.error("give --marts, --publish-sessions, or both")
        args.marts = MartSelection()
        args.marts.label = "processed sessions"
    elif args.publish_sessions and not args.marts[0].daily:
        p.error("--publish-sessions goes with daily marts (the sessions of the days built)")
    args.runtime = Runtime.detect(argv, engine=args.engine)
    args.engine = args.runtime.engine
    return args


def pg_url(args: argparse.Namespace) -> tuple[str, str]:
    """(URL, the setting it came from)."""
    from clickpipe_core.errors import WarehouseError

    url = os.environ.get(URL_ENV)
    if url:
        return url, os.environ.get(SOURCE_ENV, URL_ENV)
    if args.pg_secret_arn:
        from clickpipe_core.rds_secret import url_from_secret

        try:
            url = url_from_secret(
                args.pg_secret_arn, sslmode=args.pg_sslmode, host=args.pg_host, port=args.pg_port, database=args.pg_database
            )
            return url, f"secret {args.pg_secret_arn}"
        except Exception as e:  # botocore ClientError, a malformed secret
            raise WarehouseError(f"cannot read the RDS credentials from {args.pg_secret_arn}: {e}") from None
    raise WarehouseError(
        f"no PostgreSQL to load into: set {URL_ENV} (Dagster's warehouse resource does) or pass --pg-secret-arn"
    )


def unstorable_days(engine, tables: dict, days: list[str]) -> dict[str, str]:
    """Days whose marts would hold text PostgreSQL cannot store (U+0000, from processed files written
    before Job 1 quarantined it), each with the processed file and record it comes from."""
    from clickpipe_core import processed_probe

    failures: dict[str, str] = {}
    for name, (mart, table) in tables.items():
        for column, row in processed_probe.unstorable_rows(table):
            day = table.column("dt")[row].as_py().isoformat() if mart.daily else None
            if day in failures or (mart.daily and day not in days):
                continue
            keys = [k for source in mart.sources for k in engine.files(source, [day] if day else None)]
            found = processed_probe.first_unstorable_record(engine.store, keys)
            origin = (
                f"it comes from {processed_probe.describe(found[0])}, record {found[1]}, column {found[2]}; "
                f"Job 1 quarantines such records (control_character_{found[2]}): {processed_probe.remedy(found[0])}"
                if found
                else "no processed record holds it"
            )
            failures[day or "*"] = f"{mart.table}.{column} would hold U+0000, which PostgreSQL text cannot store; {origin}"
    return failures


def catch_up_activity(engine, url: str, source: str, run_id: str | None, activity_tables) -> list[str]:
    """Load the activity tables (``USER_ACTIVITY``, ``USER_VISITS_DAILY``) of processed days never
    loaded (a new warehouse, or one older than the table): the daily loads keep them up to date after
    that. Returns the days loaded."""
    from clickpipe_core import layout, pg_load
    from clickpipe_core.errors import WarehouseError

    done = []
    for dataset in ("clicks", "transactions"):
        activity = [a for a in activity_tables if a.sources == (dataset,)]
        if not activity:
            continue
        loaded = pg_load.loaded_days(url, activity, source=source)
        have = set.intersection(*loaded.values())
        days = sorted({layout.parse_dt(k) for k in engine.files(dataset, None)} - have - {None})
        if not days:
            continue
        built, failures = engine.build_days(activity, [dataset], days)
        tables = {a.name: (a, _concat(a, built[a.name])) for a in activity}
        pg_load.replace_partitions(url, tables, [d for d in days if d not in failures], run_id=run_id, source=source, failures=failures)
        if failures:
            raise WarehouseError(failure_summary(f"{', '.join(a.name for a in activity)} from {dataset}", days, failures))
        done += [f"{dataset} {d}" for d in days]
    return done


def _concat(mart, parts):
    """A mart's tables as one (an empty one with the mart's types when there are none)."""
    import pyarrow as pa

    from clickpipe_core import pg_load
    from clickpipe_core.marts import arrow_schema

    return pa.concat_tables([pg_load.conform(mart, arrow_schema(mart).empty_table()), *parts])


def failure_summary(what: str, days: list[str], failures: dict[str, str]) -> str:
    """One message: which days failed and why (days that failed alike share one reason), which loaded."""
    by_reason: dict[str, list[str]] = {}
    for day in days:
        if day in failures:
            by_reason.setdefault(failures[day], []).append(day)
    loaded = [d for d in days if d not in failures]
    head = (
        f"{what}: {len(days) - len(loaded)} of {len(days)} day(s) not loaded (their previous rows stay); "
        + (f"loaded {', '.join(loaded)}" if loaded else "none loaded")
    )
    return head + "".join(f". {', '.join(ds)}: {reason}" for reason, ds in by_reason.items())


def run(args, keys: list[str], run_id: str | None) -> tuple[dict, list[str], float, dict[str, str]]:
    """Build and load the marts; returns (mart -> metadata, migrations applied, seconds, failed day
    -> why). Each day is loaded on its own: a day that cannot be built or loaded is reported and the
    other days are loaded all the same."""
    from clickpipe_core import pg_load
    from clickpipe_core.errors import WarehouseError
    from glue_scripts.marts_engine import ENGINES

    started = time.perf_counter()
    marts = args.marts
    if not marts:  # only the processed sessions table: no warehouse
        store = open_store(args.lake)
        with ENGINES[args.engine](store, threads=args.threads, runtime=args.runtime) as engine:
            _, failures = engine.build_days([], ["clicks"], keys, publish_sessions=True)
            files = dict(engine.files_read)
            published = dict(engine.sessions_published)
        return {SESSIONS_ASSET: _sessions_metadata(published, files, store, args)}, [], time.perf_counter() - started, failures
    url, source = pg_url(args)
    applied = pg_load.apply_migrations(url, source=source)
    store = open_store(args.lake)
    sources = sorted({s for m in marts for s in m.sources})
    results: dict[str, dict] = {}
    failures: dict[str, str] = {}
    with ENGINES[args.engine](store, threads=args.threads, runtime=args.runtime) as engine:
        if marts[0].daily:
            # the user activity of the same sources, and the visits with session marts, in the same
            # day transactions: the users dimension and weekly retention follow incrementally (pg_load)
            loads = [*marts, *activity_for([m for m in marts if not m.sessionized]), *visits_for(marts)]
            built, failures = engine.build_days(loads, sources, keys, publish_sessions=args.publish_sessions)
            tables = {m.name: (m, _concat(m, built[m.name])) for m in loads}
            failures.update(unstorable_days(engine, tables, [d for d in keys if d not in failures]))
            good = [d for d in keys if d not in failures]
            loaded = pg_load.replace_partitions(url, tables, good, run_id=run_id, source=source, failures=failures)
            for m in marts:
                per_day = loaded[m.name]
                results[m.name] = {
                    "rows_loaded": sum(per_day.values()),
                    "rows_by_day": per_day,
                    "empty_days": [d for d, n in per_day.items() if n == 0],
                }
        else:
            if RETENTION_WEEKLY in marts:  # maintained by the session marts' day loads (pg_load)
                caught_up = catch_up_activity(engine, url, source, run_id, [USER_VISITS_DAILY])
                results[RETENTION_WEEKLY.name] = {
                    **pg_load.record_retention(url, run_id=run_id, source=source), "activity_days_loaded": caught_up
                }
            if USERS_DIM in marts:  # maintained incrementally too
                caught_up = catch_up_activity(engine, url, source, run_id, USER_ACTIVITY)
                engine.register(["users"], days=None)
                attributes = engine.query("SELECT user_id, country, plan, signup_date FROM users")
                counts = pg_load.refresh_users(url, attributes, run_id=run_id, source=source)
                results[USERS_DIM.name] = {"rows_loaded": counts["inserted"] + counts["updated"], **counts, "activity_days_loaded": caught_up}
        files = dict(engine.files_read)
        published = dict(engine.sessions_published)
    for mart in marts:
        results[mart.name].update(
            {"table": mart.table, "files_read": files, "warehouse": pg_load.redact(url), "lake": store.uri, "engine": args.engine}
        )
    if args.publish_sessions:
        results[SESSIONS_ASSET] = _sessions_metadata(published, files, store, args)
    return results, applied, time.perf_counter() - started, failures


def _sessions_metadata(published: dict[str, int], files: dict, store, args) -> dict:
    """What the processed sessions table got: rows per day published (days that failed keep their file)."""
    return {
        "rows_loaded": sum(published.values()),
        "rows_by_day": published,
        "empty_days": [d for d, n in published.items() if n == 0],
        "table": "processed/sessions",
        "location": store.url(SESSIONS_PREFIX),
        "files_read": files,
        "lake": store.uri,
        "engine": "duckdb",
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    from clickpipe_core.errors import ClickpipeError, recognize_environment_fault

    with glue_job_run(args.runtime, "clickpipe-job2"), pipes_session(args.runtime, args.partition) as pipes:
        extras = pipes.extras or {}
        keys = pipes.partition_keys or args.partition
        if (args.publish_sessions or args.marts[0].daily) and not keys:
            pipes.report_error("no partition given: pass --partition YYYY-MM-DD")
            return EXIT_BAD_INPUT
        run_id = extras.get("run_id")
        try:
            results, applied, seconds, failures = run(args, keys, run_id)
        except Exception as e:  # bad input, the warehouse, or the environment; anything else is a bug
            error = e if isinstance(e, ClickpipeError) else recognize_environment_fault(e, setting="--lake")
            if error is None:
                raise
            pipes.report_error(f"{args.marts.label} marts: {error}")
            return EXIT_BAD_INPUT
        if failures:
            # The loaded days are in PostgreSQL, each whole; the run still fails, naming the others.
            pipes.report_error(failure_summary(f"{args.marts.label} marts", keys, failures))
            return EXIT_BAD_INPUT
        for name, asset_key in [*((m.name, m.asset_key) for m in args.marts), *([(SESSIONS_ASSET, SESSIONS_ASSET)] if args.publish_sessions else [])]:
            md = dict(results[name])
            md.update({"partitions": keys, "migrations_applied": applied, "seconds": round(seconds, 3)})
            pipes.report_asset_materialization(asset_key=asset_key, metadata=pipes_metadata(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())

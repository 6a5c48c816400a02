"""Glue Job 2: processed zone -> reporting marts in PostgreSQL (RDS).

Builds the marts of ``clickpipe_core/marts.py`` with their SQL files on DuckDB or Spark
(``--engine``; Spark by default on Glue, see ``marts_engine.py``) and loads them into PostgreSQL
with ADBC (binary COPY): each daily partition is replaced in one transaction, the users dimension
is replaced whole in one transaction. Both engines hand the same Arrow tables to the same loader:
Spark collects each mart to the driver (marts are small). The tables come from the versioned
migrations in ``clickpipe_core/sql/migrations/``, applied first.

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
from clickpipe_core.marts import MART_GROUPS, MARTS  # noqa: E402
from clickpipe_core.pg_load import SOURCE_ENV, URL_ENV  # noqa: E402
from glue_scripts.pipes_session import (  # noqa: E402
    add_engine_argument,
    glue_job_run,
    pipes_metadata,
    pipes_session,
    resolve_engine,
)

EXIT_BAD_INPUT = 2


def mart_selection(text: str) -> list:
    """``daily``, ``users``, or mart names, comma-separated (e.g. ``daily_events,funnel_daily``)."""
    marts = []
    for name in (n.strip() for n in text.split(",") if n.strip()):
        found = MART_GROUPS.get(name) or ([MARTS[name]] if name in MARTS else None)
        if found is None:
            raise argparse.ArgumentTypeError(f"unknown mart or group {name!r} (groups: {', '.join(sorted(MART_GROUPS))}; marts: {', '.join(MARTS)})")
        marts += [m for m in found if m not in marts]
    if not marts or len({m.daily for m in marts}) > 1:
        raise argparse.ArgumentTypeError("give daily marts or the users dimension (they load separately)")
    return marts


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--marts", required=True, type=mart_selection, help="daily (all daily marts), users, or mart names, comma-separated")
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
    args.engine = resolve_engine(args.engine, argv)
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


def run(args, keys: list[str], run_id: str | None) -> tuple[dict, list[str], float]:
    """Build and load the marts; returns (mart -> metadata, migrations applied, seconds)."""
    from clickpipe_core import pg_load
    from glue_scripts.marts_engine import ENGINES

    started = time.perf_counter()
    marts = args.marts
    url, source = pg_url(args)
    applied = pg_load.apply_migrations(url, source=source)
    store = open_store(args.lake)
    sources = sorted({s for m in marts for s in m.sources})
    results: dict[str, dict] = {}
    with ENGINES[args.engine](store, threads=args.threads) as engine:
        if marts[0].daily:
            engine.register(sources, days=keys)
            tables = {m.name: (m, engine.build(m)) for m in marts}
            loaded = pg_load.replace_partitions(url, tables, keys, run_id=run_id, source=source)
            for m in marts:
                per_day = loaded[m.name]
                results[m.name] = {
                    "rows_loaded": sum(per_day.values()),
                    "rows_by_day": per_day,
                    "empty_days": [d for d, n in per_day.items() if n == 0],
                }
        else:
            engine.register(sources, days=None)
            for m in marts:
                n = pg_load.replace_table(url, m, engine.build(m), run_id=run_id, source=source)
                results[m.name] = {"rows_loaded": n}
        files = dict(engine.files_read)
    for mart in marts:
        results[mart.name].update(
            {"table": mart.table, "files_read": files, "warehouse": pg_load.redact(url), "lake": store.uri, "engine": args.engine}
        )
    return results, applied, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    from clickpipe_core.errors import ProcessedZoneError
    from clickpipe_core.errors import WarehouseError

    with glue_job_run(args.engine, argv, "clickpipe-job2"), pipes_session(args.partition) as pipes:
        extras = pipes.extras or {}
        keys = pipes.partition_keys or args.partition
        if args.marts[0].daily and not keys:
            pipes.report_error("no partition given: pass --partition YYYY-MM-DD")
            return EXIT_BAD_INPUT
        run_id = extras.get("run_id")
        try:
            results, applied, seconds = run(args, keys, run_id)
        except (WarehouseError, ProcessedZoneError) as e:
            pipes.report_error(str(e))
            return EXIT_BAD_INPUT
        for mart in args.marts:
            md = dict(results[mart.name])
            md.update({"partitions": keys, "migrations_applied": applied, "seconds": round(seconds, 3)})
            pipes.report_asset_materialization(asset_key=mart.asset_key, metadata=pipes_metadata(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())

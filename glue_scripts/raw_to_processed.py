"""Glue Job 1: raw zone -> processed zone (clean, typed, deduplicated Parquet) + quarantine.

One script for every dataset (``--dataset``). Launched by Dagster Pipes (``PipesSubprocessClient``
locally, ``PipesGlueClient`` on AWS) or by hand:

    python glue_scripts/raw_to_processed.py --dataset transactions --lake .clickpipe/lake \
        --partition 2026-11-01

It reports, per run, one materialization (rows in / out / quarantined / duplicates, files, bytes)
and the data checks. Bad input never ends in a traceback: a partition that cannot be processed
is reported as one message that says why, and the job exits with status 2 (a FAILED Glue run).
"""

from __future__ import annotations

import argparse
import os
import sys

if __package__ in (None, ""):  # run as a file (Glue, subprocess): make the repo importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from clickpipe_core import layout  # noqa: E402
from clickpipe_core.contracts import DATASETS, get_dataset  # noqa: E402
from clickpipe_core.job1 import Source, raw_objects  # noqa: E402
from clickpipe_core.lake_store import open_store  # noqa: E402
from clickpipe_core.runtime import Runtime  # noqa: E402
from glue_scripts.pipes_session import (  # noqa: E402
    add_engine_argument,
    glue_job_run,
    pipes_metadata,
    pipes_session,
)

EXIT_BAD_INPUT = 2


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", required=True, choices=list(DATASETS))
    p.add_argument("--lake", required=True, help="lake root: a directory, file:///dir or s3://bucket/prefix")
    add_engine_argument(p)
    p.add_argument("--partition", action="append", default=[], help="ingest date(s) when run without Dagster")
    p.add_argument("--object", action="append", default=[], dest="objects",
                   help="read only this raw object of the (one) partition, on its own (an increment); repeatable")  # fmt: skip
    p.add_argument("--threads", type=int, default=None)
    # Glue adds its own arguments (--JOB_NAME, --job-bookmark-option, pipes params...): ignore them.
    args, _ = p.parse_known_args(argv)
    args.runtime = Runtime.detect(argv, engine=args.engine)
    args.engine = args.runtime.engine
    return args


def engine_module(name: str):
    if name == "spark":
        from glue_scripts import spark_engine

        return spark_engine
    from glue_scripts import duckdb_engine

    return duckdb_engine


def combine_metadata(parts: list[dict]) -> dict:
    """Counts add up, lists join, reason counts merge; a day processed again is described by its
    latest run."""
    out: dict = {}
    for md in parts:
        for k, v in md.items():
            if isinstance(v, dict):
                merged = out.setdefault(k, {})
                for rk, rv in v.items():
                    merged[rk] = rv if isinstance(rv, dict) else merged.get(rk, 0) + rv
            elif isinstance(v, list):
                out[k] = sorted(set(out.get(k, [])) | set(v)) if k == "dt_partitions" else out.get(k, []) + v
            elif isinstance(v, (int, float)):
                out[k] = out.get(k, 0) + v
            else:
                out[k] = v
    return out


def sources(store, ds, ingest_date: str, wanted: list[str], log) -> list:
    """What to run for a partition: the whole day, or each wanted raw object on its own (the
    automation's new Firehose objects: each is read once, into files named after it)."""
    if not wanted:
        return [ingest_date]
    listed = {o.key: o for o in raw_objects(store, ds, ingest_date)}
    gone = sorted(set(wanted) - set(listed))
    if gone:
        log.warning(f"{len(gone)} raw object(s) no longer in the lake, skipped: {gone[:3]}")
    return [Source.increment(ingest_date, listed[k]) for k in sorted(set(wanted) & set(listed))]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    from clickpipe_core.errors import JobInputError, recognize_environment_fault

    engine = engine_module(args.engine)
    ds = get_dataset(args.dataset)
    store = open_store(args.lake)
    with glue_job_run(args.runtime, "clickpipe-job1"), pipes_session(args.runtime, args.partition) as pipes:
        keys = pipes.partition_keys or args.partition
        if not keys:
            pipes.report_error("no partition given: pass --partition YYYY-MM-DD")
            return EXIT_BAD_INPUT
        wanted = list(pipes.extras.get("objects") or args.objects)
        if wanted and len(keys) != 1:
            pipes.report_error("raw objects given for more than one partition: run one partition at a time")
            return EXIT_BAD_INPUT
        results = []
        for ingest_date in keys:
            try:
                for source in sources(store, ds, ingest_date, wanted, pipes.log):
                    results.append(engine.run_partition(store, ds, source, threads=args.threads, runtime=args.runtime))
            except Exception as e:
                # Bad input or a fault of the environment (a read-only or full lake...): the message
                # says why (under Dagster it becomes the asset's failure; by hand one line on stderr);
                # the exit status says that it failed (on Glue: a FAILED run, which alarms). Anything
                # else is a bug and keeps its traceback.
                error = e if isinstance(e, JobInputError) else recognize_environment_fault(e, setting="--lake")
                if error is None:
                    raise
                pipes.report_error(f"{ds.name} {ingest_date}: {error}")
                return EXIT_BAD_INPUT
            for message in results[-1].messages:
                pipes.log.warning(message)
        # One report per run, however many partitions it covered (a single-run backfill).
        metadata = combine_metadata([r.metadata() for r in results])
        metadata["partitions"] = keys
        metadata["lake"] = store.uri
        # Each day's own numbers: Dagster records them on that day's partition.
        metadata["partition_results"] = {
            day: combine_metadata([r.metadata() for r in results if str.__str__(r.ingest_date) == day]) for day in keys
        }
        pipes.report_asset_materialization(metadata=pipes_metadata(metadata))
        for name in [c["name"] for c in results[0].checks] if results else []:
            outcomes = {layout.source_name(r.ingest_date): next(c for c in r.checks if c["name"] == name) for r in results}
            passed = all(c["passed"] for c in outcomes.values())
            check_md = next(iter(outcomes.values()))["metadata"] if len(outcomes) == 1 else {
                "failed_partitions": [k for k, c in outcomes.items() if not c["passed"]]
            }
            pipes.report_asset_check(check_name=name, passed=passed, metadata=pipes_metadata(check_md))
    return 0


if __name__ == "__main__":
    sys.exit(main())

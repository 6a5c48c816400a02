"""One pass of the asset graph, as Dagster runs it, in the environment it is started with.

``python -m rehearsal.dagster_path --sample DIR --out summary.json [--clicks clicks.bin]``: uploads
the sample's batch files through the ``lake`` resource, sends the given click records through the
``stream`` resource when asked (the local path; on AWS the Lambda has put them on Kinesis already),
then runs the jobs a deployment runs: ``batch_job`` per ingest date, ``clicks_job`` over the arrival
days, and the serving jobs (daily marts over every event day in one run, the Athena tables and the
users dimension, the dashboards). ``CLICKPIPE_ENV`` picks the resources, as it does for
``make dev``: the rehearsal starts this once with ``aws`` (under the Dagster role) and once with
``local``.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path


def _days(lake, prefix: str, pattern: str) -> list[str]:
    import re

    return sorted({"-".join(m.groups()) for o in lake.store().list(prefix) if (m := re.search(pattern, o.key))})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sample", required=True, help="a directory made by clickpipe_core.generator.batch.generate")
    p.add_argument("--out", required=True)
    p.add_argument("--clicks", help="newline-framed records to send through the stream resource first")
    p.add_argument("--expect-failure", action="store_true", help="also run Job 1 on a partition with no raw file, which must fail")
    args = p.parse_args(argv)

    import dagster as dg

    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    from clickpipe_core import layout
    from clickpipe_dagster.assets import keys
    from clickpipe_dagster.definitions import build_definitions
    from clickpipe_dagster.environments import resolved
    from clickpipe_dagster.serving import run_serving

    defs = build_definitions()
    sample = Path(args.sample)
    manifest = json.loads((sample / "manifest.json").read_text())
    lake = resolved(defs.resources["lake"])  # outside a run: its settings read now
    days = [d for d in manifest["days"]]
    uploads = {days[0]: [("users", sample / "users.csv")]}
    for day in days:
        uploads.setdefault(day, []).append(("transactions", sample / "transactions" / day / "transactions.csv"))
    for day, files in uploads.items():
        for dataset, path in files:
            lake.upload(path, layout.raw_batch_key(dataset, day, path.name))
    if args.clicks:
        records = [line + b"\n" for line in Path(args.clicks).read_bytes().split(b"\n") if line]
        with resolved(defs.resources["stream"]).open_sink() as sink:
            sink.put(records)

    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    summary: dict = {"runs": {}, "failed_checks": [], "failures": {}}

    def record(label: str, result) -> None:
        summary["runs"][label] = result.success
        summary["failed_checks"] += [f"{e.asset_key.to_user_string()}:{e.check_name}" for e in result.get_asset_check_evaluations() if not e.passed]
        for event in result.all_events:
            if event.is_step_failure:
                summary["failures"][f"{label}:{event.step_key}"] = event.step_failure_data.error.message.strip()[:2000]

    with dg.DagsterInstance.get() as instance:
        batch = defs.resolve_job_def("batch_job")
        # the users snapshot (every delivery), then every ingest day's transactions in one range run
        # (one Glue run, as a backfill launches it: the asset's backfill policy is a single run)
        record("users", batch.execute_in_process(partition_key=days[0], instance=instance, asset_selection=[keys.processed("users")],
                                                 raise_on_error=False, run_config=quiet))  # fmt: skip
        upload_days = sorted(uploads)
        span = {"dagster/asset_partition_range_start": upload_days[0], "dagster/asset_partition_range_end": upload_days[-1]}
        record("transactions", batch.execute_in_process(instance=instance, asset_selection=[keys.processed("transactions")], tags=span,
                                                        raise_on_error=False, run_config=quiet))  # fmt: skip
        arrivals = _days(lake, "raw/clicks/", r"raw/clicks/(\d{4})/(\d{2})/(\d{2})/")
        summary["click_arrival_days"] = arrivals
        tags = {"dagster/asset_partition_range_start": arrivals[0], "dagster/asset_partition_range_end": arrivals[-1]}
        record("clicks", defs.resolve_job_def("clicks_job").execute_in_process(instance=instance, raise_on_error=False,
                                                                              run_config=quiet, tags=tags))  # fmt: skip
        event_days = sorted(set(_days(lake, "processed/", r"processed/(?:clicks|transactions)/dt=(\d{4})-(\d{2})-(\d{2})/")))
        summary["event_days"] = event_days
        ok, failed = run_serving(defs, instance, event_days, run_config=quiet)
        summary["serving_ok"] = ok
        summary["failed_checks"] += failed
        if args.expect_failure:  # an ingest day with no transactions file: the job fails, and says why
            missing = "2026-10-01"
            result = batch.execute_in_process(partition_key=missing, instance=instance, asset_selection=[keys.processed("transactions")],
                                              raise_on_error=False, run_config=quiet)  # fmt: skip
            failures = [e.step_failure_data for e in result.all_events if e.is_step_failure]
            summary["expected_failure"] = " | ".join(
                f"{f.error.message.strip()} [{(f.user_failure_data.metadata.get('job run').value if f.user_failure_data and 'job run' in f.user_failure_data.metadata else '')}]"
                for f in failures
            )
        # Athena result reuse, as the query engine resource requests it: the same query twice
        engine = resolved(defs.resources["query_engine"])
        try:
            summary["athena_reuse"] = [engine.query("SELECT count(*) AS n FROM transactions").reused for _ in range(2)]
        except Exception as e:
            summary["athena_reuse"] = f"{type(e).__name__}: {e}"
        # metadata the rehearsal reports: what each mart load and each data set refresh said
        summary["materializations"] = {}
        for key in instance.get_asset_keys():
            event = instance.get_latest_materialization_event(key)
            if event is not None:
                md = event.asset_materialization.metadata
                summary["materializations"][key.to_user_string()] = {k: getattr(v, "value", str(v)) for k, v in md.items()
                                                                     if isinstance(getattr(v, "value", None), (int, float, str, bool))}  # fmt: skip
    Path(args.out).write_text(json.dumps(summary, indent=2, default=str))
    return 0 if all(summary["runs"].values()) and summary["serving_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

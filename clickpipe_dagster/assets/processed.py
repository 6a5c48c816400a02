"""The processed zone: clean, typed, deduplicated Parquet written by Glue Job 1
(``glue_scripts/raw_to_processed.py``), and a quarantine with a reason for every record it could
not use.

- ``processed/users``: the current users snapshot, one file merged from every delivery (per user,
  the newest ingest day wins). Not partitioned: what the rest of the pipeline reads is the whole
  snapshot. A run started by automation merges the deliveries reported since its last run; any
  other run merges them all again.
- ``processed/transactions``: partitioned by ingest day; each run processes its days whole.
- ``processed/clicks``: partitioned by arrival day. A run started by automation for the day still
  open (Firehose may deliver into it until 00:30 UTC the next day) reads only the Firehose objects
  it has not read yet, each into files of its own; any other run (a backfill, a materialization
  from the UI, the daily close at 00:30 UTC) reads the whole day and replaces everything the day
  wrote with one file per dt x event_type (ARCHITECTURE.md, rule 2).
"""

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

import dagster as dg

from clickpipe_core import layout
from clickpipe_core.contracts import Dataset, get_dataset
from clickpipe_dagster import automation, metadata
from clickpipe_dagster.assets import keys
from clickpipe_dagster.assets.common import OWNERS, table_schema
from clickpipe_dagster.assets.jobs import JobReport, code_references, plain, run_glue_job
from clickpipe_dagster.checks import processed_check_specs, quarantine_share_check
from clickpipe_dagster.partitions import beta_parameters, hours_so_far, ingest_days, single_run
from clickpipe_dagster.resources.glue import GlueJobsResource
from clickpipe_dagster.resources.lake import LakeResource
from clickpipe_dagster.sensors import new_object_keys

JOB1 = "raw_to_processed.py"
# Firehose buffers up to 15 minutes: after 00:30 UTC nothing more arrives for yesterday.
DAY_CLOSES_AFTER = timedelta(minutes=30)


# -- what a run reads --------------------------------------------------------------------------------


def launched_by_automation(context: dg.AssetExecutionContext) -> bool:
    return context.run.tags.get(automation.TRIGGER_TAG) == automation.AUTOMATION


def is_open(day: str, now: datetime | None = None) -> bool:
    """Whether Firehose may still deliver objects of this arrival day."""
    start = datetime.fromisoformat(day).replace(tzinfo=timezone.utc)
    return (now or datetime.now(timezone.utc)) < start + timedelta(days=1) + DAY_CLOSES_AFTER


def _latest_storage_id(instance: dg.DagsterInstance, key: dg.AssetKey) -> int | None:
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=1, ascending=False).records
    return records[0].storage_id if records else None


def _previous(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None = None) -> dict | None:
    flt = dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None)
    records = instance.fetch_materializations(flt, limit=1, ascending=False).records
    return plain(records[0].asset_materialization.metadata) if records else None


def _reports_between(instance, key: dg.AssetKey, after: int, upto: int, partitions: list[str] | None = None):
    """Raw reports (the sensors' materializations) with storage ids in (after, upto]."""
    out, cursor = [], None
    while True:
        flt = dg.AssetRecordsFilter(asset_key=key, asset_partitions=partitions, after_storage_id=after, before_storage_id=upto + 1)
        page = instance.fetch_materializations(flt, limit=1000, cursor=cursor, ascending=True)
        out += page.records
        if not page.has_more:
            return out
        cursor = page.cursor


def raw_users_to_merge(context: dg.AssetExecutionContext, lake: LakeResource) -> tuple[list[str], int | None, str]:
    """(ingest days to merge, the raw report cursor after this run, what the run does)."""
    instance = context.instance
    latest = _latest_storage_id(instance, keys.raw("users"))
    previous = _previous(instance, keys.processed("users"))
    if launched_by_automation(context) and previous and previous.get("raw_cursor") is not None and latest is not None:
        reports = _reports_between(instance, keys.raw("users"), int(previous["raw_cursor"]), latest)
        return sorted({r.partition_key for r in reports}), latest, "the deliveries reported since the last run"
    days = {where[1] for o in lake.list(f"{layout.RAW}/users/") if (where := layout.parse_raw_batch_key(o.key))}
    return sorted(days), latest, "every delivery"


def new_click_objects(context: dg.AssetExecutionContext, day: str) -> tuple[list[str] | None, int | None]:
    """The Firehose objects of an open day not read yet (None: read the whole day), and the raw
    report cursor after this run."""
    instance = context.instance
    latest = _latest_storage_id(instance, keys.raw("clicks"))
    if not (launched_by_automation(context) and len(context.partition_keys) == 1 and is_open(day)) or latest is None:
        return None, latest
    previous = _previous(instance, keys.processed("clicks"), day)
    if not previous or previous.get("raw_cursor") is None:
        return None, latest
    hours = [f"{day}-{h:02d}:00" for h in range(24)]
    reports = _reports_between(instance, keys.raw("clicks"), int(previous["raw_cursor"]), latest, hours)
    return sorted({k for r in reports for k in new_object_keys(r.asset_materialization.metadata)}), latest


# -- what a run reports ------------------------------------------------------------------------------


def run_job1(context, dataset: str, lake: LakeResource, glue: GlueJobsResource, days: list[str], extras=None) -> JobReport:
    return run_glue_job(
        context, glue, script=JOB1, arguments={"--dataset": dataset, "--lake": lake.job_uri},
        partition_keys=days, env=lake.job_env(), extras=extras,
    )  # fmt: skip


def _read_parquet(lake: LakeResource, keys_: Iterable[str], columns=None, rows: int | None = None):
    """The rows of some lake Parquet files (the first ``rows`` of each when given), or None."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    store = lake.store()
    for key in keys_:
        with store.local_copy(key) as path:
            f = pq.ParquetFile(path)
            if rows is None:
                tables.append(f.read(columns=columns))
            else:
                batch = next(f.iter_batches(batch_size=rows, columns=columns), None)
                if batch is not None:
                    tables.append(pa.Table.from_batches([batch]))
    return pa.concat_tables(tables, promote_options="permissive") if tables else None


def quarantine_rows(lake: LakeResource, ds: Dataset, day: str, sources: list[str]):
    """The quarantine rows the given sources (source file names of this ingest day) wrote."""
    names = {layout.source_file_name(s).removesuffix(".parquet") for s in sources}
    prefix = layout.quarantine_key(ds.name, day).rsplit("/", 1)[0] + "/"
    found = [o.key for o in lake.list(prefix) if o.key.endswith(".parquet") and o.key.rsplit("/", 1)[-1].removesuffix(".parquet") in names]
    return _read_parquet(lake, found)


def processed_preview(lake: LakeResource, ds: Dataset, sources: list[str], dt_days: list[str]) -> dg.MetadataValue | None:
    """A few rows of the smallest file these sources wrote (the snapshot for users)."""
    if not ds.partition_time_column:
        table = _read_parquet(lake, [layout.snapshot_key(ds.name)], rows=metadata.PREVIEW_ROWS)
        return metadata.preview(table) if table is not None else None
    names = tuple(layout.source_file_name(s).removesuffix(".parquet") for s in sources)
    files = [
        o
        for dt in dt_days[:3]
        for o in lake.list(f"{layout.processed_prefix(ds.name)}dt={dt}/")
        if o.key.rsplit("/", 1)[-1].startswith(names)
    ]
    if not files:
        return None
    smallest = min(files, key=lambda o: o.size)
    table = _read_parquet(lake, [smallest.key], rows=metadata.PREVIEW_ROWS)
    return metadata.preview(table) if table is not None else None


def partition_metadata(lake: LakeResource, ds: Dataset, day: str, result: dict, quarantined, sources: list[str]) -> dict:
    """What one ingest day's processing did, for its materialization."""
    md = {
        "rows_in": result.get("rows_in", 0),
        "rows_out": result.get("rows_out", 0),
        "rows_quarantined": result.get("rows_quarantined", 0),
        "duplicates_dropped": result.get("duplicates_dropped", 0),
        "quarantine_share": metadata.share(result.get("rows_quarantined", 0), result.get("rows_in", 0)),
        "read": f"{result.get('files_in', 0):,} file(s), {metadata.size(result.get('bytes_in', 0))}",
        "written": f"{result.get('files_out', 0):,} file(s), {metadata.size(result.get('bytes_out', 0))}",
        "location": dg.MetadataValue.url(lake.console_url(layout.processed_prefix(ds.name))),
        "read_from": dg.MetadataValue.url(lake.console_url(layout.raw_partition_prefix(ds.name, day) if ds.raw_format == "csv" else layout.raw_clicks_day_prefix(day))),
        "quarantine": dg.MetadataValue.url(lake.console_url(layout.quarantine_key(ds.name, day).rsplit("/", 1)[0] + "/")),
    }
    if result.get("dt_partitions"):
        md["event_days"] = ", ".join(result["dt_partitions"])
    if result.get("quarantine_reasons"):
        md["quarantine_reasons"] = metadata.counts(result["quarantine_reasons"], "reason")
    if result.get("messages"):
        md["messages"] = metadata.bulleted(result["messages"])
    if quarantined is not None and quarantined.num_rows:
        md["quarantine_preview"] = metadata.preview(quarantined, ["reason", "detail", "source_file", "source_line", "record"])
    preview = processed_preview(lake, ds, sources, result.get("dt_partitions") or [])
    if preview is not None:
        md["processed_preview"] = preview
    return md


def report_reprocessed(context: dg.AssetExecutionContext, key: dg.AssetKey, days: list[str], results: dict[str, dict]) -> None:
    """Record a materialization of each ingest day outside this run that Job 1 processed again
    because this run's re-deliveries changed its records (ARCHITECTURE.md, rule 9): its partition
    then shows its new counts, and what reads it (the marts of its days) sees an update."""
    again = {day: (d, counts) for d in days for day, counts in (results[d].get("reprocessed_results") or {}).items() if day not in days}
    for day, (by, counts) in sorted(again.items()):
        md = {
            "dagster/row_count": counts["rows_out"],
            **{k: counts[k] for k in ("rows_in", "rows_out", "rows_quarantined", "duplicates_dropped")},
            "read_mode": f"the whole day again: re-deliveries in ingest day {by} decide some of its records",
            "reprocessed_by": by,
        }
        previous = _previous(context.instance, key, day) or {}
        if previous.get("raw_cursor") is not None:  # what the day had read stays what it had read
            md["raw_cursor"] = previous["raw_cursor"]
        context.log_event(dg.AssetMaterialization(asset_key=key, partition=day, metadata=md))
        context.log.info(f"{key.to_user_string()} {day} processed again: {counts['rows_out']} row(s) out")


def job1_results(report: JobReport, key: dg.AssetKey, days: list[str]) -> dict[str, dict]:
    """Each day's own numbers from the job's report (older jobs reported one total)."""
    md = report.materializations.get(key, {})
    per_day = md.get("partition_results") or {}
    return {d: per_day.get(d, md if len(days) == 1 else {}) for d in days}


# -- the assets ---------------------------------------------------------------------------------------


def _spec_kwargs(ds: Dataset) -> dict:
    levels = "/".join(f"{c}=…" for c in ds.partition_columns)
    layout_note = (
        f"`processed/{ds.name}/{levels}/part-ingest_date=…parquet`, by the UTC date of `{ds.partition_time_column}`"
        if ds.partition_time_column
        else f"`processed/{ds.name}/{ds.name}.parquet`, the current snapshot (per key, the newest ingest date wins)"
    )
    return dict(
        key=keys.processed(ds.name),
        check_specs=processed_check_specs(ds, keys.processed(ds.name)),
        group_name="processed",
        kinds={"glue", "duckdb", "parquet"},
        owners=OWNERS,
        code_version="job1-v2",
        metadata={
            "dagster/column_schema": table_schema(ds),
            "key": ds.key,
            "layout": layout_note,
            "max_quarantine_share": f"{ds.max_quarantine_share:.0%}",
            "dagster/code_references": code_references(
                (f"glue_scripts/{JOB1}", "Glue Job 1"), ("clickpipe_core/cleaning.py", "cleaning rules"),
                ("clickpipe_core/contracts.py", "contract"),
            ),
        },
    )  # fmt: skip


WHAT = {
    "users": "Who our users are today: one row per user, from every users extract.",
    "transactions": "Every payment, cleaned and typed, one row per transaction.",
    "clicks": "Every click event, cleaned and deduplicated, one row per event.",
}


def _description(ds: Dataset, how: str) -> str:
    return (
        f"{WHAT[ds.name]} {ds.description} Cleaned by Glue Job 1 (`glue_scripts/{JOB1}`): validated against the "
        f"contract, trimmed and normalized, deduplicated on `{ds.key}`, bad records sent to `quarantine/{ds.name}/` "
        f"with a reason. {how}"
    )


USERS = get_dataset("users")


@dg.asset(
    deps=[keys.raw("users")],
    automation_condition=automation.NEW_RAW_DATA,
    output_required=False,
    description=_description(
        USERS, "Layout: `processed/users/users.parquet`, the current snapshot (per user, the newest ingest day wins)."
    ),
    **_spec_kwargs(USERS),
)
def processed_users(context: dg.AssetExecutionContext, lake: LakeResource, glue: GlueJobsResource):
    days, raw_cursor, what = raw_users_to_merge(context, lake)
    if not days:
        context.log.info("no users delivery to merge")
        return
    report = run_job1(context, "users", lake, glue, days)
    results = job1_results(report, keys.processed("users"), days)
    quarantined = {d: quarantine_rows(lake, USERS, d, [d]) for d in days}
    total = {k: sum(r.get(k, 0) for r in results.values()) for k in ("rows_in", "rows_out", "rows_quarantined", "duplicates_dropped")}
    reasons: dict[str, int] = {}
    for r in results.values():
        for reason, n in (r.get("quarantine_reasons") or {}).items():
            reasons[reason] = reasons.get(reason, 0) + n
    md = {
        "dagster/row_count": max((r.get("snapshot_rows") or 0 for r in results.values()), default=0),
        **total,
        "quarantine_share": metadata.share(total["rows_quarantined"], total["rows_in"]),
        "merged": f"{len(days)} delivery day(s): {what}",
        "by_ingest_day": metadata.table(
            ["ingest day", "rows in", "rows out", "quarantined", "duplicates", "quarantine share"],
            [(d, r.get("rows_in", 0), r.get("rows_out", 0), r.get("rows_quarantined", 0), r.get("duplicates_dropped", 0),
              metadata.share(r.get("rows_quarantined", 0), r.get("rows_in", 0))) for d, r in results.items()],
        ),
        "location": dg.MetadataValue.url(lake.console_url(layout.snapshot_key("users"))),
        "raw_cursor": raw_cursor,
    }  # fmt: skip
    if reasons:
        md["quarantine_reasons"] = metadata.counts(reasons, "reason")
    shown = [t for t in quarantined.values() if t is not None and t.num_rows]
    if shown:
        md["quarantine_preview"] = metadata.preview(shown[0], ["reason", "detail", "source_file", "source_line", "record"])
    preview = processed_preview(lake, USERS, days, [])
    if preview is not None:
        md["processed_preview"] = preview
    yield dg.MaterializeResult(metadata={k: v for k, v in md.items() if v is not None})
    yield from report.checks
    yield quarantine_share_check(context, USERS, results, quarantined)


def _partitioned_processed(dataset: str, deps: list, condition, how: str):
    ds = get_dataset(dataset)

    with beta_parameters():

        @dg.asset(
            partitions_def=ingest_days,
            deps=deps,
            automation_condition=condition,
            backfill_policy=single_run(),
            output_required=False,
            description=_description(ds, how),
            **_spec_kwargs(ds),
        )
        def processed_asset(context: dg.AssetExecutionContext, lake: LakeResource, glue: GlueJobsResource):
            days = list(context.partition_keys)
            objects, raw_cursor = new_click_objects(context, days[0]) if ds.raw_format == "ndjson" else (None, None)
            if objects == []:  # a whole-day run read them meanwhile: the checks need a run, read the day
                context.log.info(f"no Firehose object of {days[0]} left unread: reading the day whole")
                objects = None
            extras, sources = {}, {d: [d] for d in days}
            if objects is not None:
                extras = {"objects": objects}
                sources = {days[0]: [layout.increment_source(days[0], k) for k in objects]}
            report = run_job1(context, dataset, lake, glue, days, extras)
            results = job1_results(report, keys.processed(dataset), days)
            quarantined = {d: quarantine_rows(lake, ds, d, sources[d]) for d in days}
            for d in days:
                md = partition_metadata(lake, ds, d, results[d], quarantined[d], sources[d])
                md["dagster/row_count"] = results[d].get("rows_out", 0)
                if objects is not None:
                    previous = _previous(context.instance, keys.processed(dataset), d) or {}
                    md["dagster/row_count"] += int(previous.get("dagster/row_count") or 0)
                    md["read_mode"] = f"new objects only: {len(objects)} Firehose object(s) not read before"
                else:
                    md["read_mode"] = "the whole day"
                if raw_cursor is not None:
                    md["raw_cursor"] = raw_cursor
                context.add_asset_metadata(md, partition_key=d)
            report_reprocessed(context, keys.processed(dataset), days, results)
            yield dg.MaterializeResult(metadata={"partitions": f"{days[0]} .. {days[-1]}" if len(days) > 1 else days[0]})
            yield from report.checks
            yield quarantine_share_check(context, ds, results, quarantined)

    return processed_asset


processed_transactions = _partitioned_processed(
    "transactions",
    [keys.raw("transactions"), keys.processed("users")],
    automation.after_new_raw_data_with_snapshot(keys.processed("users")),
    "A partition is an ingest day; its rows land by the UTC date of `transaction_ts` in "
    "`processed/transactions/dt=…/part-ingest_date=<ingest day>.parquet` (a payment more than the late "
    "window before its ingest day is quarantined). `user_id` is checked against the users snapshot.",
)
processed_clicks = _partitioned_processed(
    "clicks",
    # An arrival day reads the arrival hours reported so far: today's later hours do not exist yet.
    [dg.AssetDep(keys.raw("clicks"), partition_mapping=hours_so_far())],
    automation.NEW_RAW_DATA,
    "A partition is a Firehose arrival day; its rows land by the UTC date of `ts` in "
    "`processed/clicks/dt=…/event_type=…/part-ingest_date=<arrival day>[_<object>].parquet`. Automation reads each "
    "new object of the open day once; the daily close (00:30 UTC) re-reads the day whole into one file per "
    "dt x event_type.",
)

processed_assets = [processed_users, processed_transactions, processed_clicks]

"""Glue Job 1's pipeline, written once for every engine: read -> classify -> quarantine -> dedup ->
enrich (a dataset's derived columns: the clicks' ``enrichment.py``) -> write -> check -> publish.

``run_partition`` takes an ``Engine`` and the raw objects to process (by default every object of
the partition) and does the rest: every rule (``cleaning.py``'s SQL in the engine's dialect),
the accounting, the checks (``checks.py``, on the written files' footers), the output naming and
the atomic publish. An engine supplies only what differs: reading raw objects into the text-column
relation, running SQL, and writing Parquet. Engine-neutral on purpose (no DuckDB, no Spark import):
``glue_scripts/duckdb_engine.py`` and ``glue_scripts/spark_engine.py`` implement ``Engine``.
"""

from __future__ import annotations

import abc
import os
import shutil
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from clickpipe_core import cleaning, enrichment, layout, raw_input
from clickpipe_core.checks import Footers, check_output
from clickpipe_core.contracts import DEDUP_WINDOW_DAYS, LATE_WINDOW_DAYS, Dataset
from clickpipe_core.dialect import Dialect
from clickpipe_core.errors import JobInputError


class Source(str):
    """An ingest day as the engines take it. Its value is the day (the lineage column, the
    quarantine folder); ``name`` is what its files are named after; ``objects`` are the raw objects
    to read. ``Source(day)`` is the whole day; ``Source.increment(day, obj)`` one raw object read on
    its own (the automation's new Firehose objects): its files are ``part-ingest_date=<day>_<object>``,
    replaced by a whole-day run of the day (ARCHITECTURE.md, rules 2 and 4)."""

    name: str
    objects: list | None

    def __new__(cls, day: str, name: str | None = None, objects: list | None = None):
        self = super().__new__(cls, day)
        self.name, self.objects = name or day, objects
        return self

    @classmethod
    def increment(cls, day: str, obj) -> "Source":
        return cls(day, layout.increment_source(day, obj.key), [obj])


def late_bound(ingest_date: str) -> str:
    """The earliest event time an ingest day takes (UTC, ISO-8601): the start of the day
    ``LATE_WINDOW_DAYS`` before it. An earlier record is quarantined (reason ``late_<column>``)."""
    day = date.fromisoformat(str.__str__(ingest_date)) - timedelta(days=LATE_WINDOW_DAYS)
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc).isoformat()


@dataclass
class PartitionResult:
    dataset: str
    ingest_date: str
    rows_in: int = 0
    rows_out: int = 0
    quarantined: int = 0
    duplicates: int = 0
    files_in: list[str] = field(default_factory=list)
    bytes_in: int = 0
    files_out: list[str] = field(default_factory=list)
    bytes_out: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    dt_partitions: list[str] = field(default_factory=list)
    snapshot_rows: int | None = None
    checks: list[dict] = field(default_factory=list)
    # Ingest days whose outcome this run's deliveries changed (re-delivery), processed again after it,
    # and the counts of each such run (what Dagster records on that day's partition).
    reprocessed: list[str] = field(default_factory=list)
    reprocessed_results: dict[str, dict] = field(default_factory=dict)

    def metadata(self) -> dict:
        md = {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "rows_quarantined": self.quarantined,
            "duplicates_dropped": self.duplicates,
            "files_in": len(self.files_in),
            "bytes_in": self.bytes_in,
            "files_out": len(self.files_out),
            "bytes_out": self.bytes_out,
            "quarantine_reasons": dict(sorted(self.quarantine_reasons.items())),
            "dt_partitions": self.dt_partitions,
            "messages": self.messages,
        }
        if self.snapshot_rows is not None:
            md["snapshot_rows"] = self.snapshot_rows
        if self.reprocessed:
            md["reprocessed"] = self.reprocessed
            md["reprocessed_results"] = self.reprocessed_results
        return md


# -- what an engine supplies ------------------------------------------------------------------------
@dataclass
class RawInput:
    """A reader's output. ``records``: relations (batches of objects, classified one after the
    other so that memory does not grow with the number of objects) of ``__ord``, ``__fidx`` and the
    contract's columns as text (for NDJSON also ``__record``, the raw line, and the JSON facts of
    ``cleaning.json_fact_columns``). ``finish``, called once the records have been read, returns
    the lines that never became records and, when the reader's positions count such lines too,
    the ``gaps(__fidx, __ord)`` between records. ``notes``: per object index, ``EMPTY_FILE`` or the
    header problem of a file whose records were all quarantined as ``wrong_header``."""

    records: list[str]
    finish: Callable[[], tuple[list[raw_input.LineReject] | str | None, str | None]]
    notes: dict[int, str] = field(default_factory=dict)


class Engine(abc.ABC):
    """What an engine supplies to the pipeline: its SQL dialect, running SQL over named relations,
    reading raw objects into the text-column relation, and writing Parquet.

    Relation names passed in are logical (``classified``); the engine returns the name to use in
    SQL, so that it can keep runs apart."""

    dialect: Dialect
    # Errors with which reading fails when an object turns out damaged while it is read (the
    # pipeline then reads again with ``salvage=True``).
    damaged_input_errors: tuple[type[BaseException], ...] = ()

    def __init__(self, store):
        self.store = store
        self.staging: Path | None = None

    def start(self, staging: Path) -> None:
        """Called before a run: ``staging`` is a local directory of the run, removed afterwards."""
        self.staging = staging

    def finish(self) -> None:
        """Called after a run, whatever happened: drop what the run created."""

    def fresh(self) -> "Engine":
        """A new engine like this one, for another run (re-processing a partition re-delivery changed)."""
        raise NotImplementedError

    @abc.abstractmethod
    def table(self, name: str, sql: str) -> str:
        """Materialize ``sql`` (it is read several times)."""

    @abc.abstractmethod
    def append(self, name: str, sql: str) -> None:
        """Add the rows of ``sql`` to the table ``name`` (a name ``table`` returned)."""

    @abc.abstractmethod
    def view(self, name: str, sql: str) -> str:
        """Name ``sql`` without materializing it."""

    @abc.abstractmethod
    def rows(self, sql: str) -> list[tuple]:
        """The (few) rows of ``sql``."""

    @abc.abstractmethod
    def from_rows(self, name: str, columns: Sequence[tuple[str, str]], rows: Sequence[tuple]) -> str:
        """A relation from Python rows; column types are logical types or ``int``/``bigint``."""

    def from_arrow(self, name: str, table) -> str:
        """A relation from a (small) Arrow table of string and boolean columns."""
        import pyarrow as pa

        types = [(f.name, "flag" if pa.types.is_boolean(f.type) else "string") for f in table.schema]
        return self.from_rows(name, types, [tuple(r.values()) for r in table.to_pylist()])

    @abc.abstractmethod
    def parquet(self, name: str, keys: list[str]) -> str:
        """A relation over Parquet objects of the lake."""

    @abc.abstractmethod
    def read(self, ds: Dataset, objects: list, files: str, *, salvage: bool = False) -> RawInput:
        """The raw objects (``objects[i]`` has ``__fidx`` i; ``files`` relates ``__fidx`` to ``__file``)
        as text records. With ``salvage``, damaged gzip objects are read as far as they can be
        (``raw_input.salvage``) and the rest quarantined as ``corrupt_object``."""

    @abc.abstractmethod
    def json_records(self, ds: Dataset, lines: str) -> str:
        """The records of a JSON-lines dataset, as ``read`` gives them (``__fidx``, ``__ord``,
        ``__record``, the JSON facts and the text columns), from a relation ``(__fidx, __ord, line)``
        of lines ``read`` gave as ``__record``: the explaining pass parses the failed lines again."""

    @abc.abstractmethod
    def write(
        self, sql: str, target: Path, *, partition_by: Sequence[str] = (), order_by: Sequence[str] = (), rows: int | None = None
    ) -> list[Path]:
        """Write ``sql`` as Parquet (snappy): hive directories under ``target`` by ``partition_by``,
        else the one file ``target`` (in ``order_by`` order); returns the files written. ``rows``,
        when known, is how many rows ``sql`` holds (an engine may size its files by it)."""

    def local_path(self, key: str) -> Path:
        """A local file for a lake object: the object itself in a local lake, else a copy in staging."""
        if self.store.is_local:
            return self.store.path(key)
        target = self.staging / "objects" / key
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            with self.store.local_copy(key) as p:
                shutil.copyfile(p, target)
        return target


# -- the pipeline ---------------------------------------------------------------------------------------
def run_partition(engine: Engine, ds: Dataset, ingest_date: str, objects: list | None = None) -> PartitionResult:
    """Run one raw partition through Job 1 on ``engine``: ``objects`` (by default every object of
    the partition, or those a ``Source`` names).

    Writers of the dataset's shared state (the users snapshot, the dedup state) hold the lake's
    lock of the dataset from reading that state to publishing (ARCHITECTURE.md, rule 9). When this
    partition's deliveries change the outcome of a neighbouring partition already processed (it
    delivered a key this one now wins, or lost a key to a delivery this one no longer makes), that
    partition is processed again, under the same lock, so the processed zone is the same in any order."""
    store = engine.store
    with store.lock(f"job1-{ds.name}"):
        result = _run_once(engine, ds, ingest_date, objects)
        for day in result.reprocessed:
            again = _run_once(engine.fresh(), ds, day, None)
            result.reprocessed_results[day] = {
                "rows_in": again.rows_in, "rows_out": again.rows_out, "rows_quarantined": again.quarantined,
                "duplicates_dropped": again.duplicates, "dt_partitions": again.dt_partitions,
            }  # fmt: skip
            result.messages.append(
                f"processed ingest_date {day} again: keys this partition delivered decide its records "
                f"({ds.redelivery} delivery wins); {again.rows_out} row(s) out, {again.duplicates} duplicate(s)"
            )
    return result


def _run_once(engine: Engine, ds: Dataset, ingest_date: str, objects: list | None) -> PartitionResult:
    store = engine.store
    objects = raw_objects(store, ds, ingest_date) if objects is None else objects
    references = reference_snapshots(store, ds)
    staging = store.staging_dir()
    engine.start(staging)
    try:
        return _Run(engine, ds, ingest_date, objects, references, staging).run()
    finally:
        engine.finish()
        shutil.rmtree(staging, ignore_errors=True)


LINE_REJECT_COLUMNS = (("reason", "string"), ("detail", "string"), ("__fidx", "int"), ("__line", "bigint"), ("record", "string"))


class _Run:
    def __init__(self, engine: Engine, ds: Dataset, ingest_date: str, objects: list, references, staging: Path):
        self.e, self.d, self.ds, self.day = engine, engine.dialect, ds, ingest_date
        # Objects the engine reads first, then those not read for their name (after them: their
        # index is past every record's, so record order is that of the objects read).
        hidden = {o.key: problem for o in objects if (problem := raw_input.hidden_name_problem(o.key))}
        self.readable = [o for o in objects if o.key not in hidden]
        self.objects = self.readable + [o for o in objects if o.key in hidden]
        self.hidden = {i: hidden[o.key] for i, o in enumerate(self.objects) if o.key in hidden}
        self.references, self.staging = references, staging
        self.not_before = late_bound(ingest_date) if ds.partition_time_column else None
        self.result = PartitionResult(ds.name, ingest_date, files_in=[o.key for o in self.objects], bytes_in=sum(o.size for o in objects))

    def run(self) -> PartitionResult:
        e, ds, result = self.e, self.ds, self.result
        if not self.objects:
            result.messages.append(f"no raw {ds.name} object arrived on {self.day}: an empty partition")
        refs = {
            column: e.table(f"ref_{column}", f"SELECT DISTINCT {ref_column} AS key FROM {e.parquet(f'snapshot_{column}', [key])}")
            for column, ref_column, key in self.references
        }
        arrival = ds.raw_format == "ndjson"
        file_columns = [("__fidx", "int"), ("__file", "string")] + ([("__not_after", "timestamp")] if arrival else [])
        files = e.from_rows(
            "files", file_columns, [(i, o.key, *([raw_input.not_after(o.key)] if arrival else [])) for i, o in enumerate(self.objects)]
        )
        classified, raw = self._classify(files, refs)
        per_file = {f: (n, failed) for f, n, failed in e.rows(f"SELECT __fidx, count(*), count(reason) FROM {classified} GROUP BY __fidx")}
        rejects, gaps = raw.finish()
        rejects = self._with_hidden(rejects)
        explained = e.table("explained", self._explain(classified, refs, files))
        groups = e.table("duplicate_groups", cleaning.duplicate_groups_sql(ds, self.d, classified))
        self.neighbors = neighbor_states(e.store, ds, self.day) if ds.dedup_across_partitions else []
        seen = self._winners(classified) if ds.dedup_across_partitions else None
        dropped = e.table("dropped", cleaning.dropped_sql(ds, self.d, classified, groups, seen))
        quarantine = e.table(
            "quarantine",
            cleaning.quarantine_sql(ds, self.d, files=files, line_rejects=rejects, explained=explained, dropped=dropped, gaps=gaps),
        )
        self._account(quarantine, per_file, raw.notes, rejects)
        staged, data_files, distinct_keys = self._write(classified, dropped, groups, quarantine)
        if ds.dedup_across_partitions and result.rows_in > result.quarantined:  # clean keys to record
            target = self.staging / "out" / "dedup_state.parquet"
            # In no particular order (like the processed files): its readers group or join by key.
            e.write(cleaning.dedup_state_sql(ds, self.d, classified, dropped, seen, layout.source_name(self.day)), target)
            staged[layout.dedup_state_key(ds.name, self.day)] = target
        result.checks = check_output(ds, data_files, result, distinct_keys=distinct_keys)
        publish(e.store, ds, staged, self.day, result)
        if ds.dedup_across_partitions:
            result.reprocessed = self._changed_neighbors()
        return result

    # -- classify -------------------------------------------------------------------------------
    def _carry(self) -> tuple[str, ...]:
        arrival = any(c.not_after_arrival for c in self.ds.columns)
        return ("__ord", "__fidx", *(("__not_after",) if arrival else ()), *(("__record",) if self.ds.raw_format == "ndjson" else ()))

    def _classify(self, files: str, refs: dict[str, str]) -> tuple[str, RawInput]:
        """Read and classify every record in one pass into ``classified``."""
        e, ds = self.e, self.ds
        for salvage in (False, True):
            raw = e.read(ds, self.readable, files, salvage=salvage)
            try:
                classified = None
                for batch in raw.records:
                    source = self._arrived(batch, files)
                    sql = cleaning.classify_sql(
                        ds, self.d, source=source, carry=self._carry(), reference_tables=refs,
                        json_facts=ds.raw_format == "ndjson", not_before=self.not_before,
                    )  # fmt: skip
                    if classified is None:
                        classified = e.table("classified", sql)
                    else:
                        e.append(classified, sql)
                return classified, raw
            except e.damaged_input_errors:
                if salvage:
                    raise
        raise AssertionError("unreachable")

    def _arrived(self, records: str, files: str) -> str:
        """``records`` with their object's arrival (``__not_after``) when a rule reads it."""
        if "__not_after" not in self._carry():
            return records
        return f"(SELECT r.*, f.__not_after FROM {records} r JOIN {files} f ON f.__fidx = r.__fidx)"

    def _with_hidden(self, rejects: list[raw_input.LineReject] | str | None) -> str | None:
        """The reader's line rejects (Python rows or a relation) and the record lines of the objects
        not read for their name (``raw_input.HIDDEN_FILE_NAME``), as one relation, or None."""
        e, ds = self.e, self.ds
        hidden = [
            r
            for fidx, problem in sorted(self.hidden.items())
            for r in raw_input.whole_file_rejects(
                e.local_path(self.objects[fidx].key), fidx, raw_input.HIDDEN_FILE_NAME, problem,
                header=ds.raw_format == "csv", gunzip=ds.raw_format == "ndjson",
            )  # fmt: skip
        ]
        self.hidden_lines = Counter(r.fidx for r in hidden)
        if not isinstance(rejects, str):
            rows = [tuple(vars(r).values()) for r in [*(rejects or []), *hidden]]
            return e.from_rows("line_rejects", LINE_REJECT_COLUMNS, rows) if rows else None
        if not hidden:
            return rejects
        extra = e.from_rows("hidden_rejects", LINE_REJECT_COLUMNS, [tuple(vars(r).values()) for r in hidden])
        columns = ", ".join(n for n, _ in LINE_REJECT_COLUMNS)
        return e.view("all_line_rejects", f"SELECT {columns} FROM {rejects} UNION ALL SELECT {columns} FROM {extra}")

    def _explain(self, classified: str, refs: dict[str, str], files: str) -> str:
        """The failed records again, with the sentence that says why (only the few failed ones). A
        JSON line kept only its raw line (``__record``): it is parsed again here."""
        e, ds = self.e, self.ds
        json_lines = ds.raw_format == "ndjson"
        if json_lines:
            lines = e.view("failed_lines", f"SELECT __fidx, __ord, __record AS line FROM {classified} WHERE reason IS NOT NULL")
            failed = self._arrived(e.json_records(ds, lines), files)
        else:
            failed = f"(SELECT {', '.join([*self._carry(), *ds.column_names])} FROM {classified} WHERE reason IS NOT NULL)"
        return cleaning.classify_sql(
            ds, self.d, source=failed, carry=self._carry(), reference_tables=refs, explain=True, json_facts=json_lines,
            not_before=self.not_before,
        )  # fmt: skip

    # -- re-delivery -----------------------------------------------------------------------------------
    def _own(self) -> str:
        return layout.source_name(self.day)

    def _beats(self, other: str, own: str) -> bool:
        """Whether source ``other``'s delivery of a key wins over source ``own``'s."""
        return other < own if self.ds.redelivery == "first" else other > own

    def _winners(self, classified: str) -> str | None:
        """Keys of this partition's clean records that neighbouring sources within the dedup window
        delivered and that win over this one's delivery: ``seen(key, src)`` (the winning source), or None.

        Only keys whose hash a clean record has are grouped (a semi-join on the classification's
        ``__key_hash``): the neighbours' states hold every key they delivered, this partition
        repeats few of them, and every reader of ``seen`` joins it to this partition's clean keys."""
        e, d, own = self.e, self.d, self._own()
        keys = [k for k, name in self.neighbors if self._beats(name, own)]
        if not keys:
            return None
        best = "min" if self.ds.redelivery == "first" else "max"
        mine = f"SELECT __key_hash FROM {classified} WHERE __key_hash IS NOT NULL"
        return e.table(
            "seen", f"SELECT key, {best}(src) AS src FROM {e.parquet('winners', keys)} WHERE {d.key_hash('key')} IN ({mine}) GROUP BY key"
        )

    def _changed_neighbors(self) -> list[str]:
        """Ingest days of neighbouring sources this run's deliveries beat whose recorded outcome no
        longer holds: they keep a key this run delivered (or lost it to a worse source), or they lost
        a key to this source, which no longer delivers it."""
        e, d, own = self.e, self.d, self._own()
        losers = [k for k, name in self.neighbors if self._beats(own, name)]
        if not losers:
            return []
        own_key = layout.dedup_state_key(self.ds.name, self.day)
        mine = e.parquet("own_state", [own_key]) if e.store.exists(own_key) else e.from_rows("own_state", [("key", "string")], [])
        lit = d.literal(own)
        worse = f"n.beaten_by > {lit}" if self.ds.redelivery == "first" else f"n.beaten_by < {lit}"
        ours = f"substr(n.beaten_by, 1, {len(own)}) = {lit}" if own == str.__str__(self.day) else f"n.beaten_by = {lit}"
        rows = e.rows(
            f"SELECT DISTINCT substr(n.src, 1, 10) FROM {e.parquet('loser_states', losers)} n LEFT JOIN {mine} o ON o.key = n.key "
            f"WHERE (o.key IS NOT NULL AND (n.beaten_by IS NULL OR {worse})) OR (o.key IS NULL AND {ours})"
        )
        return sorted(r[0] for r in rows)

    # -- account ------------------------------------------------------------------------------------
    def _account(self, quarantine: str, per_file: dict[int, tuple[int, int]], notes: dict[int, str], rejects: str | None) -> None:
        e, result = self.e, self.result
        counts = dict(e.rows(f"SELECT reason, count(*) FROM {quarantine} GROUP BY reason"))
        result.duplicates = counts.pop(cleaning.DUPLICATE_REASON, 0)
        result.quarantined = sum(counts.values())
        result.quarantine_reasons = counts
        rejected = dict(e.rows(f"SELECT __fidx, count(*) FROM {rejects} GROUP BY __fidx")) if rejects else {}
        # Records that never became rows (unparseable lines, files with a wrong header, damaged
        # objects) count by line; everything else by record.
        result.rows_in = sum(n for n, _ in per_file.values()) + sum(rejected.values())
        for fidx, obj in enumerate(self.objects):
            note = notes.get(fidx)
            if fidx in self.hidden:
                quarantined = self.hidden_lines.get(fidx, 0)
                result.messages.append(f"{obj.key}: {self.hidden[fidx]}; {quarantined} record(s) quarantined as {raw_input.HIDDEN_FILE_NAME}")
            elif note == raw_input.EMPTY_FILE:
                result.messages.append(f"{obj.key}: empty file, no records")
            elif note:
                result.messages.append(f"{obj.key}: {note}; {rejected.get(fidx, 0)} record(s) quarantined as wrong_header")
            elif self.ds.raw_format == "csv" and not per_file.get(fidx) and not rejected.get(fidx):
                result.messages.append(f"{obj.key}: header only, no records")

    # -- write -------------------------------------------------------------------------------------
    def _write(self, classified: str, dropped: str, groups: str, quarantine: str) -> tuple[dict[str, Path], list[Path], int]:
        """Write every output file into staging: (lake key -> staged file, the data files, and how
        many distinct keys they should hold)."""
        e, d, ds, result = self.e, self.d, self.ds, self.result
        out = self.staging / "out"
        out.mkdir()
        staged: dict[str, Path] = {}
        clean = cleaning.clean_sql(ds, d, classified, dropped, self.day)
        if ds.derived_columns:
            clean = self._enrich(classified, clean)
        clean_rows = result.rows_in - result.quarantined - result.duplicates
        if ds.partition_columns:
            if clean_rows:
                e.write(clean, out / "processed", partition_by=ds.partition_columns, rows=clean_rows)
            staged.update(name_staged_files(ds, out / "processed", self.day))
            result.dt_partitions = sorted({layout.parse_dt(k) for k in staged})
            data_files = list(staged.values())
            # Counted from the files themselves, so the conservation check can catch a lost row.
            result.rows_out = Footers(data_files).rows
            # Every key of the clean records once, less the keys an earlier partition delivered.
            repeated = e.rows(f"SELECT count(*), coalesce(sum(n), 0) FROM {groups}")[0]
            distinct_keys = clean_rows + result.duplicates - (repeated[1] - repeated[0]) - self._delivered_before(dropped)
        else:
            key = layout.snapshot_key(ds.name)
            previous = e.parquet("previous", [key]) if e.store.exists(key) else None
            snapshot = e.table("snapshot", cleaning.snapshot_sql(ds, d, f"({clean}) c", previous, self.day))
            target = out / "snapshot.parquet"
            (data_file,) = e.write(f"SELECT * FROM {snapshot}", target, order_by=[ds.key])
            staged[key] = data_file
            data_files = [data_file]
            result.rows_out = clean_rows
            result.snapshot_rows = Footers(data_files).rows
            distinct_keys = e.rows(f"SELECT count(DISTINCT {ds.key}) FROM {snapshot}")[0][0]
        if result.quarantined + result.duplicates:
            target = out / "quarantine.parquet"
            e.write(cleaning.quarantine_file_sql(d, quarantine, self.day), target, order_by=cleaning.QUARANTINE_ORDER)
            staged[layout.quarantine_key(ds.name, self.day)] = target
        return staged, data_files, distinct_keys

    def _enrich(self, classified: str, clean: str) -> str:
        """The clean rows with the enrichment columns: the run's distinct user agents and (page query,
        referrer) pairs are fetched once, parsed in Python (``enrichment.py``, the one home of the
        rules) and joined back from two small lookup tables, so every engine gives the same answer."""
        e = self.e
        passed = f"(SELECT t_user_agent, t_page, t_referrer FROM {classified} WHERE reason IS NULL) r"
        agents, acquisitions = enrichment.lookups(e.rows, passed, user_agent="t_user_agent", page="t_page", referrer="t_referrer")
        columns = [*self.ds.column_names, "ingest_date", *(["dt"] if self.ds.partition_time_column else [])]
        return enrichment.enrich_sql(f"({clean})", e.from_arrow("user_agents", agents), e.from_arrow("acquisitions", acquisitions), columns)

    def _delivered_before(self, dropped: str) -> int:
        if not self.ds.dedup_across_partitions:
            return 0
        within = self.d.literal(cleaning.WITHIN_PARTITION)
        return self.e.rows(f"SELECT count(*) FROM {dropped} WHERE why <> {within}")[0][0]


# -- publish ---------------------------------------------------------------------------------------
def publish(store, ds: Dataset, staged: dict[str, Path], ingest_date: str, result: PartitionResult) -> None:
    """Replace this source's output, file by file (each replace is atomic), then drop stale files.

    ``staged`` maps lake keys to finished local files. Stale files are this source's files that
    the run no longer produces (e.g. a day that lost all its rows); they go last, so a run killed
    mid-way leaves whole files only and a re-run repairs the partition.
    """
    own_name = layout.source_file_name(ingest_date).removesuffix(".parquet")
    stale = [
        o.key
        # the quarantine folder of the day, not just its own file: a whole-day run's stale files include
        # the day's increments (ARCHITECTURE.md, rule 4)
        for prefix in (
            layout.processed_prefix(ds.name),
            layout.quarantine_key(ds.name, ingest_date).rsplit("/", 1)[0] + "/",
            layout.dedup_state_prefix(ds.name, ingest_date),
        )
        for o in store.list(prefix)
        if o.key.rsplit("/", 1)[-1].startswith(own_name) and o.key not in staged
    ]
    for key, path in sorted(staged.items()):
        result.bytes_out += os.path.getsize(path)
        store.put_file(path, key, move=True)
        result.files_out.append(key)
    for key in stale:
        store.delete(key)
    if stale:
        result.messages.append(f"removed {len(stale)} file(s) this partition no longer produces")


def name_staged_files(ds: Dataset, data: Path, ingest_date: str) -> dict[str, Path]:
    """Lake keys for the Parquet files an engine wrote under ``data`` (hive directories): each is
    named after its source partition; a second file in the same directory gets ``-1`` and so on."""
    staged = {}
    name = layout.source_file_name(ingest_date)
    files = [f for f in data.rglob("*.parquet") if not f.name.startswith((".", "_"))]
    for directory in sorted({f.parent for f in files}):
        rel = directory.relative_to(data).as_posix()
        for i, f in enumerate(sorted(p for p in files if p.parent == directory)):
            staged[f"{layout.processed_prefix(ds.name)}{rel}/" + (name if not i else name.replace(".parquet", f"-{i}.parquet"))] = f
    return staged


def raw_objects(store, ds: Dataset, ingest_date: str) -> list:
    """The raw objects of one partition (or those a ``Source`` names); a batch partition without a
    file is an error, a stream day without objects is empty."""
    if getattr(ingest_date, "objects", None) is not None:
        return list(ingest_date.objects)
    if ds.raw_format == "csv":
        prefix = layout.raw_partition_prefix(ds.name, ingest_date)
        objects = [o for o in store.list(prefix) if layout.parse_raw_batch_key(o.key)]
        if not objects:
            raise JobInputError(
                f"no raw {ds.name} file for {ingest_date}: nothing under {store.url(prefix)}. "
                f"Upload one with `clickpipe upload FILE --dataset {ds.name} --date {ingest_date}`."
            )
        return objects
    prefix = layout.raw_clicks_day_prefix(ingest_date)
    return [o for o in store.list(prefix) if layout.parse_raw_clicks_key(o.key) == ingest_date]


def reference_snapshots(store, ds: Dataset) -> list[tuple[str, str, str]]:
    """(column, referenced column, snapshot key) for each reference; a missing snapshot is an error."""
    found = []
    for column, (dataset, ref_column) in ds.references.items():
        key = layout.snapshot_key(dataset)
        if not store.exists(key):
            raise JobInputError(
                f"{ds.name}.{column} must exist in {dataset}.{ref_column}, but there is no {dataset} "
                f"snapshot at {store.url(key)}: materialize processed/{dataset} first"
            )
        found.append((column, ref_column, key))
    return found


def neighbor_states(store, ds: Dataset, ingest_date: str) -> list[tuple[str, str]]:
    """(key, source name) of the dedup state of every other source within ``DEDUP_WINDOW_DAYS`` of
    ``ingest_date``: a bounded look-up, whatever the history. A whole-day run leaves out its own
    day's increments (it replaces them)."""
    own = layout.source_name(ingest_date)
    whole_day = own == str.__str__(ingest_date)
    day = date.fromisoformat(str.__str__(ingest_date))
    found = []
    for offset in range(-DEDUP_WINDOW_DAYS, DEDUP_WINDOW_DAYS + 1):
        for o in store.list(layout.dedup_state_prefix(ds.name, (day + timedelta(days=offset)).isoformat())):
            name = layout.state_source(o.key)
            if name != own and not (whole_day and name.startswith(own)):
                found.append((o.key, name))
    return found

"""Glue Job 1 on DuckDB: one raw batch partition in, clean Parquet and quarantine rows out.

The rules live in ``cleaning.py`` (SQL from the contracts); this module only loads the raw
records, runs that SQL, writes the files into a staging area and publishes them.
"""

from __future__ import annotations

import contextlib
import shutil
from datetime import timedelta
from pathlib import Path

import duckdb

from clickpipe_core.contracts import Dataset
from glue_scripts import ndjson_reader
from clickpipe_core import cleaning, job1, layout
from clickpipe_core.checks import check_output
from clickpipe_core.job1 import (  # noqa: F401  (re-exported: the engine's public names)
    HEAD_BYTES,
    MAX_LINE_BYTES,
    PartitionResult,
    header_problem,
    is_blank_line,
    is_empty_head,
    name_staged_files,
    physical_lines,
    publish,
    reject_detail,
    reject_record,
)
from clickpipe_core.lake_store import LocalStore, S3Store

# DuckDB's CSV reject types, mapped to our stable quarantine reasons.
CSV_REJECT_REASONS = {
    "TOO MANY COLUMNS": "too_many_columns",
    "MISSING COLUMNS": "too_few_columns",
    "INVALID ENCODING": "invalid_encoding",
    "INVALID UNICODE": "invalid_encoding",
    "LINE SIZE OVER MAXIMUM": "line_too_long",
    "UNQUOTED VALUE": "malformed_csv",
}
# Reasons whose reject text DuckDB shortens or mangles: the quarantined record is read from the file.
# (Not malformed_csv: after an unclosed quote DuckDB's record runs to the end of the file, and its
# text is the only place those lines are kept.)
REREAD_REASONS = {"invalid_encoding", "line_too_long"}


class DuckDBJob:
    """Runs one dataset's raw partition through the cleaning rules on DuckDB."""

    def __init__(self, store: LocalStore | S3Store, ds: Dataset, *, threads: int | None = None):
        self.store, self.ds = store, ds
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        self.dialect = cleaning.DUCKDB
        self.not_before: str | None = None  # the late window's bound of the day being run

    # -- loading ---------------------------------------------------------------------------
    @property
    def _carry(self) -> tuple[str, ...]:
        """Bookkeeping columns that travel with each record through the rules."""
        # Records carry their position in the input (__lrow): the order dedup and record numbers use.
        return ("__lrow", "__file") if self.ds.raw_format == "csv" else ("__lrow", "__file", "__not_after", "__record")

    def _classify(self, source: str, refs: dict[str, str], **kw) -> str:
        return cleaning.classify_sql(
            self.ds, self.dialect, source=source, reference_tables=refs, pre_checked=self.ds.raw_format == "ndjson",
            not_before=self.not_before, **kw,
        )  # fmt: skip

    def _create_tables(self, refs: dict[str, str]) -> None:
        # Records are parsed, normalized, typed and checked straight into ``classified``, each with
        # its input position ``__lrow`` (``__ord`` below), the order that dedup relies on. Not the
        # rowid of ``classified``: a join in the rules may reorder rows on their way in.
        types = {"__not_after": "TIMESTAMPTZ", "__lrow": "BIGINT"}
        empty = ", ".join(
            f"NULL::{types.get(c, 'VARCHAR')} AS {c}"
            for c in [*self._carry, *self.ds.column_names, *(("__pre_reason", "__pre_detail") if self.ds.raw_format == "ndjson" else ())]
        )
        shape = self._classify(f"(SELECT {empty})", refs, carry=self._carry)
        self.con.execute(f"CREATE OR REPLACE TABLE classified AS SELECT * FROM ({shape}) LIMIT 0")
        self.con.execute("CREATE OR REPLACE VIEW classified_ord AS SELECT __lrow AS __ord, * FROM classified")
        self.con.execute("CREATE OR REPLACE TABLE src_files (__file VARCHAR, first_ord BIGINT)")
        self.con.execute(
            "CREATE OR REPLACE TABLE bad_input (reason VARCHAR, detail VARCHAR, source_file VARCHAR, "
            "source_line VARCHAR, record VARCHAR)"
        )

    def _quarantine_lines(self, path: Path, key: str, reason: str, detail: str) -> int:
        """Every record line of an unusable file goes to quarantine, raw, with one reason."""
        rows = [
            (reason, detail, key, f"line {n}", reject_record(raw))
            for n, raw in physical_lines(path).items()
            if n > 1 and not is_blank_line(raw)
        ]
        if rows:
            self.con.executemany("INSERT INTO bad_input VALUES (?, ?, ?, ?, ?)", rows)
        return len(rows)

    def _load_csv(self, key: str, path: Path, result: PartitionResult, refs: dict[str, str]) -> None:
        with open(path, "rb") as f:
            head = f.read(HEAD_BYTES)
        if is_empty_head(head):
            result.messages.append(f"{key}: empty file, no records")
            return
        names, problem = header_problem(self.ds, head)
        if problem:
            n = self._quarantine_lines(path, key, "wrong_header", problem)
            result.messages.append(f"{key}: {problem}; {n} record(s) quarantined as wrong_header")
            return
        columns = "{" + ", ".join(f"{cleaning.sql_string(n)}: 'VARCHAR'" for n in names) + "}"
        select = ", ".join(c if c in names else f"NULL AS {c}" for c in self.ds.column_names)
        before = self.con.execute("SELECT count(*) FROM classified").fetchone()[0]
        self.con.execute("INSERT INTO src_files VALUES (?, ?)", [key, before])
        # The plain scan into a table keeps the file's order in its rowids; the rules then carry
        # that order as __lrow (the reference check is a join, which may reorder its output).
        self.con.execute(
            f"""CREATE OR REPLACE TEMP TABLE raw_csv AS SELECT {select}
            FROM read_csv({cleaning.sql_string(str(path))}, header = true, auto_detect = false, columns = {columns},
                          delim = ',', quote = '"', escape = '"', max_line_size = {MAX_LINE_BYTES},
                          store_rejects = true, rejects_table = 'csv_rejects', rejects_scan = 'csv_scans')"""
        )
        source = f"(SELECT {before} + rowid AS __lrow, {cleaning.sql_string(key)} AS __file, * FROM raw_csv)"
        self.con.execute("INSERT INTO classified " + self._classify(source, refs, carry=self._carry))
        self.con.execute("DROP TABLE raw_csv")
        loaded = self.con.execute("SELECT count(*) FROM classified").fetchone()[0] - before
        # One bad line can raise several errors: keep the first per line. DuckDB reports a column
        # count error once per column it misses or finds extra: the extremes are the count found.
        rejects = self.con.execute(
            """SELECT line, arg_min(error_type, byte_position), arg_min(csv_line, byte_position),
                      min(column_idx), max(column_idx)
               FROM csv_rejects GROUP BY line ORDER BY line"""
        ).fetchall()
        self.con.execute("DROP TABLE csv_rejects; DROP TABLE csv_scans")
        reasons = [(line, CSV_REJECT_REASONS.get(etype, "malformed_csv")) for line, etype, *_ in rejects]
        reread = physical_lines(path, {line for line, r in reasons if r in REREAD_REASONS}) if reasons else {}
        expected = len(names)
        rows = [
            (
                reason,
                reject_detail(reason, expected=expected, found=hi if reason == "too_many_columns" else lo),
                key,
                f"line {line}",
                reject_record(reread.get(line) if reason in REREAD_REASONS else (raw or "").strip("\r\n")),
            )
            for (line, reason), (_, _, raw, lo, hi) in zip(reasons, rejects)
        ]
        if rows:
            self.con.executemany("INSERT INTO bad_input VALUES (?, ?, ?, ?, ?)", rows)
        if loaded == 0 and not rows:
            result.messages.append(f"{key}: header only, no records")

    def _load_references(self) -> dict[str, str]:
        tables = {}
        for column, ref_column, key in job1.reference_snapshots(self.store, self.ds):
            table = f"ref_{column}"
            with self.store.local_copy(key) as p:
                self.con.execute(
                    f"CREATE OR REPLACE TABLE {table} AS SELECT DISTINCT {ref_column} AS key FROM read_parquet(?)",
                    [str(p)],
                )
            tables[column] = table
        return tables

    # -- the job ---------------------------------------------------------------------------
    def _raw_objects(self, ingest_date: str) -> list:
        return job1.raw_objects(self.store, self.ds, ingest_date)

    def _load_ndjson(self, objects: list, result: PartitionResult, refs: dict[str, str], workdir: Path) -> None:
        with contextlib.ExitStack() as stack:
            files = [(o.key, stack.enter_context(self.store.local_copy(o.key))) for o in objects]
            bad_rows: list = []
            ndjson_reader.load_lines(self.con, files, bad_rows, workdir)
        if bad_rows:
            self.con.executemany("INSERT INTO bad_input VALUES (?, ?, ?, ?, ?)", bad_rows)
        arrivals = [
            (o.key, layout.parse_raw_clicks_arrival(o.key) + timedelta(hours=1) + ndjson_reader.CLOCK_SKEW) for o in objects
        ]
        self.con.execute("CREATE OR REPLACE TABLE arrivals (__file VARCHAR, __not_after TIMESTAMPTZ)")
        self.con.executemany("INSERT INTO arrivals VALUES (?, ?)", arrivals)
        self.con.execute("INSERT INTO src_files SELECT __file, min(rowid) FROM lines GROUP BY __file")
        lines = "(SELECT lines.rowid AS __lrow, lines.*, arrivals.__not_after FROM lines JOIN arrivals USING (__file))"
        source = f"({ndjson_reader.fields_sql(self.ds, lines)})"
        self.con.execute("INSERT INTO classified " + self._classify(source, refs, carry=self._carry))

    def _already_delivered(self, ingest_date: str) -> str | None:
        """Keys that earlier raw partitions delivered for the days this run touches (at-least-once
        delivery repeats events across partitions): a table ``seen(key, src)``, or None."""
        ds = self.ds
        days = [r[0] for r in self.con.execute(
            f"SELECT DISTINCT {self.dialect.cast(self.dialect.utc_date('t_' + ds.partition_time_column), 'string')} "
            "FROM classified WHERE reason IS NULL"
        ).fetchall()]  # fmt: skip
        earlier = job1.earlier_source_files(self.store, ds, days, ingest_date)
        if not earlier:
            return None
        self.con.execute("CREATE OR REPLACE TABLE seen (key VARCHAR, src DATE)")
        with contextlib.ExitStack() as stack:
            paths = [str(stack.enter_context(self.store.local_copy(k))) for k in earlier]
            self.con.execute(
                f"INSERT INTO seen SELECT {ds.key}, min(ingest_date) FROM read_parquet(?) GROUP BY 1", [paths]
            )
        return "seen"

    def run(self, ingest_date: str) -> PartitionResult:
        ds, store = self.ds, self.store
        result = PartitionResult(ds.name, ingest_date)
        objects = self._raw_objects(ingest_date)
        self.not_before = job1.late_bound(ingest_date) if ds.partition_time_column else None
        refs = self._load_references()
        self._create_tables(refs)
        staging = store.staging_dir()
        try:
            result.files_in = [o.key for o in objects]
            result.bytes_in = sum(o.size for o in objects)
            if not objects:
                result.messages.append(f"no raw {ds.name} object arrived on {ingest_date}: an empty partition")
            elif ds.raw_format == "csv":
                for obj in objects:
                    with store.local_copy(obj.key) as path:
                        self._load_csv(obj.key, path, result, refs)
            else:
                self._load_ndjson(objects, result, refs, staging)
            self._quarantine_and_dedup(ingest_date, result, refs)
            staged = self._write(staging / "out", ingest_date, result)
            result.checks = check_output(self.con, ds, staged, result)
            self._publish(staged, ingest_date, result)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return result

    def _quarantine_and_dedup(self, ingest_date: str, result: PartitionResult, refs: dict[str, str]) -> None:
        ds = self.ds
        self.con.execute("CREATE OR REPLACE TABLE firsts AS " + cleaning.first_of_duplicates_sql(ds, "classified_ord"))
        # Only the failed records are explained (detail): cheap, they are few.
        keep = ["__ord", *self._carry, *ds.column_names] + (["__pre_reason", "__pre_detail"] if ds.raw_format == "ndjson" else [])
        failed = f"(SELECT {', '.join(keep)} FROM classified_ord WHERE reason IS NOT NULL)"
        explained = self._classify(failed, refs, explain=True, carry=("__ord", *self._carry))
        record = "__record" if ds.raw_format == "ndjson" else cleaning.raw_record(ds, self.dialect)
        self.con.execute(
            f"""INSERT INTO bad_input
            SELECT reason, detail, e.__file, 'record ' || (__ord - first_ord + 1), {record}
            FROM ({explained}) e JOIN src_files USING (__file)"""
        )
        dupes = cleaning.duplicate_rows_sql(ds, "classified_ord", "firsts")
        self.con.execute(f"CREATE OR REPLACE TABLE duplicates AS SELECT *, 'seen before in this partition' AS why FROM ({dupes})")
        if ds.dedup_across_partitions and (seen := self._already_delivered(ingest_date)):
            self.con.execute(
                f"""INSERT INTO duplicates
                SELECT c.*, 'already delivered by ingest_date ' || s.src FROM classified_ord c
                JOIN {seen} s ON c.t_{ds.key} = s.key
                WHERE c.reason IS NULL AND c.__ord NOT IN (SELECT __ord FROM duplicates)"""
            )
        typed = cleaning.typed_record(ds, self.dialect)
        self.con.execute(
            f"""INSERT INTO bad_input
            SELECT '{cleaning.DUPLICATE_REASON}', '{ds.key} ' || t_{ds.key} || ' ' || why,
                   x.__file, 'record ' || (__ord - first_ord + 1), {typed}
            FROM duplicates x JOIN src_files USING (__file)"""
        )
        counts = dict(self.con.execute("SELECT reason, count(*) FROM bad_input GROUP BY reason").fetchall())
        result.duplicates = counts.pop(cleaning.DUPLICATE_REASON, 0)
        result.quarantined = sum(counts.values())
        result.quarantine_reasons = counts
        # Records that never became rows (unparseable lines, files with a wrong header, damaged
        # objects) are quarantined by line number; everything else by record number.
        loaded, unparsed = self.con.execute(
            "SELECT (SELECT count(*) FROM classified), (SELECT count(*) FROM bad_input WHERE source_line LIKE 'line %')"
        ).fetchone()
        result.rows_in = loaded + unparsed

    def _write(self, out: Path, ingest_date: str, result: PartitionResult) -> dict[str, Path]:
        """Write every output file under ``out``; returns lake key -> staged file."""
        ds, staged = self.ds, {}
        out.mkdir(parents=True)
        projection = cleaning.clean_projection(ds, self.dialect, ingest_date)
        self.con.execute(
            f"CREATE OR REPLACE TEMP VIEW clean AS SELECT __ord, {projection} "
            f"FROM ({cleaning.clean_rows_sql('classified_ord', 'duplicates')})"
        )
        parquet = "FORMAT parquet, COMPRESSION snappy"
        if ds.partition_columns:
            data = out / "processed"
            if result.rows_in > result.quarantined + result.duplicates:
                # No ORDER BY: a re-run writes the same rows, in an order that may differ; sorting
                # 5M rows for a byte-identical file would cost as much as the whole write.
                self.con.execute(
                    f"COPY (SELECT * EXCLUDE (__ord) FROM clean) TO '{data}' "
                    f"({parquet}, PARTITION_BY ({', '.join(ds.partition_columns)}), FILENAME_PATTERN 'part-{{i}}')"
                )
            staged.update(name_staged_files(ds, data, ingest_date))
            result.dt_partitions = sorted({layout.parse_dt(k) for k in staged})
            # Counted from the files themselves, so the conservation check can catch a lost row.
            files = [str(p) for p in staged.values()]
            result.rows_out = self.con.execute(f"SELECT count(*) FROM read_parquet({files!r})").fetchone()[0] if files else 0
        else:
            # A snapshot: this partition's rows replace its own earlier rows; per key the newest
            # ingest_date wins, whatever order partitions are processed in.
            key = layout.snapshot_key(ds.name)
            union = "SELECT * EXCLUDE (__ord) FROM clean"
            if self.store.exists(key):
                with self.store.local_copy(key) as p:
                    self.con.execute("CREATE OR REPLACE TABLE previous AS SELECT * FROM read_parquet(?)", [str(p)])
                union = f"SELECT * FROM previous WHERE ingest_date <> DATE '{ingest_date}' UNION ALL {union}"
            result.rows_out = self.con.execute("SELECT count(*) FROM clean").fetchone()[0]
            target = out / "snapshot.parquet"
            self.con.execute(
                f"""COPY (SELECT * EXCLUDE (__rank) FROM (
                        SELECT *, ROW_NUMBER() OVER (PARTITION BY {ds.key} ORDER BY ingest_date DESC) AS __rank
                        FROM ({union})) WHERE __rank = 1 ORDER BY {ds.key}) TO '{target}' ({parquet})"""
            )
            result.snapshot_rows = self.con.execute(f"SELECT count(*) FROM read_parquet('{target}')").fetchone()[0]
            staged[key] = target
        if result.quarantined + result.duplicates:
            target = out / "quarantine.parquet"
            self.con.execute(
                f"""COPY (SELECT reason, detail, source_file, source_line, record, DATE '{ingest_date}' AS ingest_date
                    FROM bad_input ORDER BY source_file, source_line, reason) TO '{target}' ({parquet})"""
            )
            staged[layout.quarantine_key(ds.name, ingest_date)] = target
        return staged

    def _publish(self, staged: dict[str, Path], ingest_date: str, result: PartitionResult) -> None:
        publish(self.store, self.ds, staged, ingest_date, result)


def run_partition(store, ds: Dataset, ingest_date: str, **kwargs) -> PartitionResult:
    return DuckDBJob(store, ds, **kwargs).run(ingest_date)




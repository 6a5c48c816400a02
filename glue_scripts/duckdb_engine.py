"""Glue Job 1 on DuckDB: the engine for ``clickpipe_core.job1``'s pipeline.

The pipeline (read -> classify -> quarantine -> dedup -> write -> check -> publish) and every rule
are the kernel's; this module runs their SQL on an in-process DuckDB, reads raw objects into the
text-column relation and writes Parquet with ``COPY``.

Reading: each CSV file and each Firehose object is one ``read_csv`` scan (``WITH ORDINALITY``: the
record's position in its object), all of a run's scans in one ``UNION ALL`` that streams straight
into the classification. Firehose lines are read as text (a malformed line is a quarantine row,
not an error) and parsed once by DuckDB's JSON functions into the facts the kernel's JSON rules
read. Lines the reader rejects (bad UTF-8, over the size limit, bad CSV) come from its rejects
table. A damaged gzip object, or a CSV file that ends its lines in more than one way (CRLF and LF),
fails the scan; the pipeline then reads again with each object checked: damaged gzip objects
salvaged (``raw_input.salvage``), CSV files with mixed line ends read from a copy with LF line ends.

Memory: ``memory_limit`` (default ``DEFAULT_MEMORY_LIMIT``) bounds DuckDB's buffers, which spill
to a temporary directory in the run's staging area beyond it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import duckdb

from clickpipe_core import job1, raw_input
from clickpipe_core.cleaning import ORD_BITS
from clickpipe_core.contracts import LOGICAL_TYPES, Dataset
from clickpipe_core.dialect import DUCKDB
from clickpipe_core.job1 import PartitionResult, RawInput
from clickpipe_core.raw_input import LineReject
from clickpipe_core.runtime import Runtime

DEFAULT_MEMORY_LIMIT = os.environ.get("CLICKPIPE_DUCKDB_MEMORY", "1GB")
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
# Each scan's read buffer: room for the longest line allowed. (DuckDB's default for a gzip object
# is 128 MiB, and the scans of a run's objects are one query: memory would grow with the objects.)
BUFFER_BYTES = 2 * raw_input.MAX_LINE_BYTES
BATCH_OBJECTS = 16  # objects read and classified by one statement: bounds the read buffers in use



class DuckDBEngine(job1.Engine):
    dialect = DUCKDB
    damaged_input_errors = (duckdb.IOException, duckdb.InvalidInputException)

    def __init__(self, store, *, threads: int | None = None, memory_limit: str | None = None, runtime: Runtime | None = None):
        super().__init__(store)
        self._options = {"threads": threads, "memory_limit": memory_limit, "runtime": runtime}
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        # Row order is carried explicitly (__ord) wherever it matters: DuckDB need not keep it.
        self.con.execute("SET preserve_insertion_order = false")
        self.con.execute(f"SET memory_limit = {DUCKDB.literal(memory_limit or DEFAULT_MEMORY_LIMIT)}")
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")

    def start(self, staging: Path) -> None:
        super().start(staging)
        self.con.execute(f"SET temp_directory = {DUCKDB.literal(str(staging / 'duckdb-spill'))}")

    def finish(self) -> None:
        self.con.close()

    def fresh(self) -> "DuckDBEngine":
        return DuckDBEngine(self.store, **self._options)

    # -- relations -----------------------------------------------------------------------------
    def table(self, name: str, sql: str) -> str:
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")
        return name

    def append(self, name: str, sql: str) -> None:
        self.con.execute(f"INSERT INTO {name} {sql}")

    def view(self, name: str, sql: str) -> str:
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {sql}")
        return name

    def rows(self, sql: str) -> list[tuple]:
        return self.con.execute(sql).fetchall()

    def from_rows(self, name: str, columns: Sequence[tuple[str, str]], rows: Sequence[tuple]) -> str:
        import pyarrow as pa

        types = {"int": pa.int32(), "bigint": pa.int64()}
        schema = pa.schema([(n, types[t] if t in types else LOGICAL_TYPES[t].arrow) for n, t in columns])
        data = pa.Table.from_pylist([dict(zip(schema.names, r)) for r in rows], schema=schema)
        return self.from_arrow(name, data)

    def from_arrow(self, name: str, table) -> str:
        self.con.register(f"__arrow_{name}", table)  # one bulk insert, however many rows
        try:
            return self.table(name, f"SELECT * FROM __arrow_{name}")
        finally:
            self.con.unregister(f"__arrow_{name}")

    def parquet(self, name: str, keys: list[str]) -> str:
        paths = "[" + ", ".join(DUCKDB.literal(str(self.local_path(k))) for k in keys) + "]"
        return self.view(name, f"SELECT * FROM read_parquet({paths})")

    def write(self, sql: str, target: Path, *, partition_by: Sequence[str] = (), order_by: Sequence[str] = (), rows: int | None = None) -> list[Path]:
        options = "FORMAT parquet, COMPRESSION snappy"
        if not partition_by:
            order = f" ORDER BY {', '.join(order_by)}" if order_by else ""
            self.con.execute(f"COPY ({sql}{order}) TO {DUCKDB.literal(str(target))} ({options})")
            return [target]
        # One COPY per partition value: one file per directory, and cheaper than COPY's PARTITION_BY
        # (which hashes every row into per-partition buffers).
        out = self.view("__output", sql)
        columns = ", ".join(partition_by)
        written = []
        for values in self.rows(f"SELECT DISTINCT {columns} FROM {out} ORDER BY {columns}"):
            directory = target.joinpath(*(f"{c}={'NULL' if v is None else v}" for c, v in zip(partition_by, values)))
            directory.mkdir(parents=True)
            # Equalities (not IS NOT DISTINCT FROM), so that DuckDB pushes them into the scan and
            # fetches the other columns only for the partition's rows.
            where = " AND ".join(f"{c} IS NULL" if v is None else f"{c} = ?" for c, v in zip(partition_by, values))
            self.con.execute(
                f"COPY (SELECT * EXCLUDE ({columns}) FROM {out} WHERE {where}) TO {DUCKDB.literal(str(directory / 'part-0.parquet'))} ({options})",
                [v for v in values if v is not None],
            )
            written.append(directory / "part-0.parquet")
        return written

    # -- reading -------------------------------------------------------------------------------
    def read(self, ds: Dataset, objects: list, files: str, *, salvage: bool = False) -> RawInput:
        if ds.raw_format == "csv":
            return self._read_csv(ds, objects, salvage)
        return self._read_ndjson(ds, objects, salvage)

    def _batches(self, name: str, parts: list[str], empty: list[tuple[str, str]]) -> list[str]:
        """Views of up to BATCH_OBJECTS scans each (at least one view, maybe empty)."""
        if not parts:
            return [self.view(name, "SELECT " + ", ".join(f"CAST(NULL AS {t}) AS {n}" for n, t in empty) + " WHERE false")]
        return [
            self.view(f"{name}_{i}", "\nUNION ALL\n".join(parts[i : i + BATCH_OBJECTS])) for i in range(0, len(parts), BATCH_OBJECTS)
        ]

    def _scan(self, fidx: int, select: str, reader: str) -> str:
        # ordinality: the record's position among what the scan returns, i.e. the records of this
        # object in file order (rejected lines are not returned): the order dedup relies on and the
        # record numbers quarantine rows carry.
        return f"SELECT {fidx} AS __fidx, {fidx << ORD_BITS} + ordinality AS __ord, {select} FROM {reader} WITH ORDINALITY"

    def _read_csv(self, ds: Dataset, objects: list, salvage: bool = False) -> RawInput:
        self.con.execute("DROP TABLE IF EXISTS csv_rejects; DROP TABLE IF EXISTS csv_scans")  # a failed read's
        parts, notes, rejects, paths, widths = [], {}, [], {}, {}
        for fidx, obj in enumerate(objects):
            path = self.local_path(obj.key)
            if salvage and raw_input.mixed_line_ends(path):
                # DuckDB's reader stops at a file that ends its lines in more than one way: read a
                # copy with LF line ends (the same lines and line numbers).
                path = raw_input.normalize_line_ends(path, self.staging / "normalized" / f"{fidx}.csv")
            head = raw_input.read_head(path)
            if raw_input.is_empty_head(head):
                notes[fidx] = raw_input.EMPTY_FILE
                continue
            names, problem = raw_input.header_problem(ds, head)
            if problem:
                notes[fidx] = problem
                rejects += raw_input.wrong_header_rejects(path, fidx, problem)
                continue
            paths[str(path)], widths[fidx] = fidx, len(names)
            columns = "{" + ", ".join(f"{DUCKDB.literal(n)}: 'VARCHAR'" for n in names) + "}"
            select = ", ".join(c if c in names else f"NULL AS {c}" for c in ds.column_names)
            reader = (
                f"read_csv({DUCKDB.literal(str(path))}, header = true, auto_detect = false, columns = {columns}, "
                f"delim = ',', quote = '\"', escape = '\"', max_line_size = {raw_input.MAX_LINE_BYTES}, buffer_size = {BUFFER_BYTES}, "
                "store_rejects = true, rejects_table = 'csv_rejects', rejects_scan = 'csv_scans')"
            )
            parts.append(self._scan(fidx, select, reader))
        empty = [("__fidx", "INTEGER"), ("__ord", "BIGINT"), *((c, "VARCHAR") for c in ds.column_names)]
        records = self._batches("records", parts, empty)

        def finish():
            return rejects + self._csv_rejects(paths, widths), None

        return RawInput(records, finish, notes)

    def _reader_rejects(self, table: str, scans: str) -> list[tuple]:
        """(file path, line, error type, reader's text of the line, first and last column index) per
        rejected line: one bad line can raise several errors; the first (by position) says why.
        DuckDB reports a column count error once per column it misses or finds extra: the extremes
        are the count found."""
        exists = self.rows(f"SELECT count(*) FROM duckdb_tables() WHERE table_name = '{table}'")[0][0]
        if not exists:
            return []
        found = self.rows(
            f"""SELECT s.file_path, r.line, arg_min(r.error_type, r.byte_position), arg_min(r.csv_line, r.byte_position),
                       min(r.column_idx), max(r.column_idx)
                FROM {table} r JOIN {scans} s USING (scan_id, file_id) GROUP BY ALL ORDER BY 1, 2"""
        )
        self.con.execute(f"DROP TABLE {table}; DROP TABLE {scans}")
        return found

    def _csv_rejects(self, paths: dict[str, int], widths: dict[int, int]) -> list[LineReject]:
        found = self._reader_rejects("csv_rejects", "csv_scans")
        reasons = [CSV_REJECT_REASONS.get(etype, "malformed_csv") for _, _, etype, *_ in found]
        wanted: dict[str, set[int]] = {}
        for (path, line, *_), reason in zip(found, reasons):
            if reason in REREAD_REASONS:
                wanted.setdefault(path, set()).add(line)
        reread = {p: raw_input.physical_lines(Path(p), lines) for p, lines in wanted.items()}
        rejects = []
        for (path, line, _, text, lo, hi), reason in zip(found, reasons):
            fidx = paths[path]
            detail = raw_input.reject_detail(reason, expected=widths[fidx], found=hi if reason == "too_many_columns" else lo)
            raw = reread[path].get(line) if reason in REREAD_REASONS else (text or "").strip("\r\n")
            rejects.append(LineReject(reason, detail, fidx, line, raw_input.reject_record(raw)))
        return rejects

    def _read_ndjson(self, ds: Dataset, objects: list, salvage: bool) -> RawInput:
        self.con.execute("DROP TABLE IF EXISTS json_rejects; DROP TABLE IF EXISTS json_scans")
        parts, rejects, paths, gunzip = [], [], {}, {}
        for fidx, obj in enumerate(objects):
            path, compressed = self.local_path(obj.key), True
            if salvage and not self._readable(path):
                saved = raw_input.salvage(path, fidx)
                rejects += [saved.corrupt] if saved.corrupt else []
                path, compressed = self.staging / "salvaged" / f"{fidx}.ndjson", False
                path.parent.mkdir(exist_ok=True)
                path.write_bytes(b"".join(line + b"\n" for line in saved.lines))
            paths[str(path)], gunzip[str(path)] = fidx, compressed
            parts.append(self._scan(fidx, "line", _line_reader(path, compressed)))
        batches = self._batches("lines", parts, [("__fidx", "INTEGER"), ("__ord", "BIGINT"), ("line", "VARCHAR")])
        records = [self.view(f"records_{i}", json_facts_sql(ds, lines)) for i, lines in enumerate(batches)]

        def finish():
            return rejects + self._json_rejects(paths, gunzip), None

        return RawInput(records, finish)

    def json_records(self, ds: Dataset, lines: str) -> str:
        return self.view("json_records", json_facts_sql(ds, lines))

    def _readable(self, path: Path) -> bool:
        """DuckDB's own verdict on a gzip object: can its reader read it to the end?"""
        try:
            self.con.execute(f"SELECT count(*) FROM {_line_reader(path, True, verdict=True)}").fetchall()
            return True
        except self.damaged_input_errors:
            return False

    def _json_rejects(self, paths: dict[str, int], gunzip: dict[str, bool]) -> list[LineReject]:
        found = self._reader_rejects("json_rejects", "json_scans")
        # The reader's own text of a rejected line is shortened or mangled: read it from the object.
        wanted: dict[str, set[int]] = {}
        for path, line, *_ in found:
            wanted.setdefault(path, set()).add(line)
        raw = {p: raw_input.physical_lines(Path(p), lines, gunzip=gunzip[p]) for p, lines in wanted.items()}
        rejects = []
        for path, line, etype, *_ in found:
            reason = "line_too_long" if "MAXIMUM" in etype else "invalid_encoding" if "ENCOD" in etype or "UNICODE" in etype else "malformed_json"
            rejects.append(LineReject(reason, raw_input.reject_detail(reason), paths[path], line, raw_input.reject_record(raw[path].get(line))))
        return rejects


def _line_reader(path: Path, compressed: bool, *, verdict: bool = False) -> str:
    # \x01 never appears unescaped in valid JSON: every line is one value.
    rejects = "ignore_errors = true" if verdict else "store_rejects = true, rejects_table = 'json_rejects', rejects_scan = 'json_scans'"
    return (
        f"read_csv({DUCKDB.literal(str(path))}, columns = {{'line': 'VARCHAR'}}, header = false, delim = '\\x01', quote = '', "
        f"escape = '', auto_detect = false, max_line_size = {raw_input.MAX_LINE_BYTES}, buffer_size = {BUFFER_BYTES}, "
        f"compression = '{'gzip' if compressed else 'none'}', {rejects})"
    )


def json_facts_sql(ds: Dataset, lines: str) -> str:
    """From ``lines(__fidx, __ord, line)`` to the records of a JSON-lines dataset: the contract's
    text columns, the raw line (``__record``) and the JSON facts the kernel's JSON rules read
    (``cleaning.json_fact_columns``).

    Two parses of a line: one for the JSON types of the line and of every field (``json_type``
    with a list of paths; NULL when the line is not JSON), one for the fields' texts.
    """
    paths = [f"$.{c}" for c in ds.column_names]
    types = "[" + ", ".join(DUCKDB.literal(p) for p in ["$", *paths]) + "]"
    texts = "[" + ", ".join(DUCKDB.literal(p) for p in paths) + "]"
    facts = ", ".join(f"__types[{i + 2}] AS __jt_{c}" for i, c in enumerate(ds.column_names))
    values = ", ".join(
        (f"CASE WHEN __types[{i + 2}] = 'OBJECT' THEN __texts[{i + 1}] END" if c.json_object else f"__texts[{i + 1}]") + f" AS {c.name}"
        for i, c in enumerate(ds.columns)
    )
    return f"""
SELECT __fidx, __ord, line AS __record, __types[1] AS __jt, {facts}, {values}
FROM (
  SELECT *, CASE WHEN __types[1] = 'OBJECT' THEN json_extract_string(line, {texts}) END AS __texts
  FROM (SELECT *, try(json_type(line, {types})) AS __types FROM {lines})
)
"""


def run_partition(store, ds: Dataset, ingest_date: str, *, objects: list | None = None, **kwargs) -> PartitionResult:
    return job1.run_partition(DuckDBEngine(store, **kwargs), ds, ingest_date, objects)

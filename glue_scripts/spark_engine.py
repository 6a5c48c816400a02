"""Glue Job 1 on Spark (Glue 5.0: Spark 3.5, or a local SparkSession): the engine for
``clickpipe_core.job1``'s pipeline, giving the same rows as the DuckDB engine.

The pipeline and every rule are the kernel's (``cleaning.py``'s SQL in the Spark dialect); this
module runs that SQL as cached temporary views, reads raw objects into the text-column relation
and writes Parquet with Spark's writer. What is Spark's own is the reading:

* Raw files are read as text lines with Spark's text source (splittable, so a big file is read by
  many tasks). Every line gets its object and line number (from the partition id and
  ``monotonically_increasing_id``, counted per partition in one small pass): the input order dedup
  needs and the line and record numbers quarantine rows carry.
* CSV lines are split into fields by Spark's CSV parser (``from_csv``) when they hold a quote and
  by ``split`` when they do not (the same result, cheaper). Spark's parser cannot say what DuckDB's
  reader says of a line (it accepts malformed quoting silently and counts no fields), so a line with
  a quote is first checked against the record grammar of the dialect both engines read
  (``CSV_RECORD``), and its fields are counted outside quoted values.
* Click-stream lines (gzip NDJSON) get their JSON facts in Python (``json_lines``): Spark's JSON
  functions cannot tell a JSON string from a number. A damaged gzip object fails Spark's reader:
  then every object is checked in Python and damaged ones salvaged (``raw_input.salvage``).

The differences that remain between the engines (none occurs in our sources; see
tests/test_engine_parity.py), the one list of them:

* A quoted CSV value that spans lines is one record for DuckDB and malformed lines here (records
  are lines). An unclosed quote in the middle of a file makes DuckDB's reader take the rest of the
  file as one malformed record; here only that line is quarantined and the next lines are read.
* Unicode case mapping of upper/lower-cased columns differs for a few letters ('ß' -> 'SS' in Java).
* Regex classes: Java's ``\\s`` also matches a vertical tab (RE2's does not).
* JSON numbers inside a free-form JSON object column are re-serialized by Python, not DuckDB
  (``1e20`` -> ``1e+20``); integers beyond 64 bits stay exact here where DuckDB makes them doubles.

On Glue with an S3 lake, executors read raw objects from S3 and stage output under ``_tmp/`` in
the lake; the driver fetches the staged files to check their footers and publishes them.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote, urlparse

from clickpipe_core import job1, raw_input
from clickpipe_core.cleaning import ORD_BITS
from clickpipe_core.contracts import LOGICAL_TYPES, Dataset
from clickpipe_core.dialect import SPARK
from clickpipe_core.job1 import PartitionResult, RawInput
from clickpipe_core.lake_store import LocalStore
from clickpipe_core.runtime import Runtime
from glue_scripts.spark_session import spark_session

# What a damaged gzip object makes Spark's reader say (then the objects are checked one by one).
GZIP_ERRORS = ("EOFException", "ZipException", "GZIP", "zlib", "header check", "Unexpected end of input")
LINE_REASONS = ("wrong_header", "line_too_long", "invalid_encoding", "malformed_csv", "too_many_columns", "too_few_columns")
EXTRA_TYPES = {"int": "int", "bigint": "bigint"}
LINES_SCHEMA = "__fidx int, __line long, __ord long, value string"
# Rows per processed file at volume: about 100-200 MB of Parquet (transactions ~22 B/row, clicks ~14
# B/row as written), which Athena reads best (many small files cost a request each; one file per
# directory would be read by one task).
ROWS_PER_FILE = int(os.environ.get("CLICKPIPE_SPARK_ROWS_PER_FILE", 8_000_000))

# The CSV dialect both engines read (DuckDB's reader natively): fields separated by commas; a
# quoted field may have spaces around its quotes and doubles the quotes inside; an unquoted field
# may hold quotes, but not start (after spaces) with one. Possessive quantifiers: no backtracking
# stack on long values.
_QUOTED = '"(?:[^"]++|"")*+"'
_FIELD = f' *{_QUOTED} *|(?! *")[^,]*+'
CSV_RECORD = f"(?s)^(?:{_FIELD})(?:,(?:{_FIELD}))*+" + "\\z"
# A quoted field with the spaces around it (the line matched CSV_RECORD): unpadded for Spark's
# parser, which takes spaces before a quote as part of an unquoted value.
_PADDED_QUOTED = f"(^|,) *({_QUOTED}) *(?=,|$)"
_WHOLE_QUOTED = f"(^|,){_QUOTED}(?=,|$)"
_BLANK = "^[ \t\n\r\x0b\x0c]*\\z"  # what Python's bytes.strip() removes
# Spark's CSV parser set to the same dialect: a doubled quote inside quotes, every space kept.
FROM_CSV_OPTIONS = {"escape": '"', "ignoreLeadingWhiteSpace": "false", "ignoreTrailingWhiteSpace": "false", "mode": "PERMISSIVE"}


def _F():
    from pyspark.sql import functions as F

    return F


def _all_equal(F, columns, values):
    cond = F.lit(True)
    for c, v in zip(columns, values):
        cond = cond & F.col(c).eqNullSafe(F.lit(v))
    return cond


class SparkEngine(job1.Engine):
    dialect = SPARK

    def __init__(self, store, *, spark=None, threads: int | None = None, runtime: Runtime | None = None):
        super().__init__(store)
        self.runtime = runtime or Runtime.local("spark")
        self._spark, self._threads = spark, threads
        # On Glue an S3 lake is read and staged in S3 by the executors; elsewhere Spark reads local
        # files (an S3 lake is copied down first: a local Spark has no S3 connector).
        self.remote = not store.is_local and self.runtime.on_glue
        self.run_id = uuid.uuid4().hex[:12]
        self._cached: list = []

    @property
    def spark(self):
        """Started on first use, so bad input is reported before a JVM starts."""
        if self._spark is None:
            self._spark = spark_session(self.runtime, self._threads)
        return self._spark

    def finish(self) -> None:
        for df in self._cached:
            df.unpersist()
        self._cached = []
        if self._spark is not None:
            for t in self._spark.catalog.listTables():
                if t.isTemporary and t.name.endswith(self.run_id):
                    self._spark.catalog.dropTempView(t.name)

    def fresh(self) -> "SparkEngine":
        return SparkEngine(self.store, spark=self._spark, threads=self._threads, runtime=self.runtime)

    # -- relations -----------------------------------------------------------------------------
    def _name(self, df, name: str) -> str:
        df.createOrReplaceTempView(f"{name}_{self.run_id}")
        return f"{name}_{self.run_id}"

    def table(self, name: str, sql: str) -> str:
        return self._cache(name, self.spark.sql(sql))

    def _cache(self, name: str, df) -> str:
        df = df.persist()
        self._cached.append(df)
        return self._name(df, name)

    def append(self, name: str, sql: str) -> None:
        raise NotImplementedError("the Spark engine reads every object in one batch")

    def view(self, name: str, sql: str) -> str:
        return self._name(self.spark.sql(sql), name)

    def rows(self, sql: str) -> list[tuple]:
        return [tuple(r) for r in self.spark.sql(sql).collect()]

    def from_rows(self, name: str, columns: Sequence[tuple[str, str]], rows: Sequence[tuple]) -> str:
        schema = ", ".join(f"{n} {EXTRA_TYPES.get(t) or LOGICAL_TYPES[t].athena}" for n, t in columns)
        return self._name(self.spark.createDataFrame(list(rows), schema), name)

    def parquet(self, name: str, keys: list[str]) -> str:
        return self._name(self.spark.read.option("mergeSchema", "false").parquet(*map(self._input_path, keys)), name)

    def _input_path(self, key: str) -> str:
        return self.store.url(key) if self.remote else str(self.local_path(key).resolve())

    # -- writing -------------------------------------------------------------------------------
    def write(self, sql: str, target: Path, *, partition_by: Sequence[str] = (), order_by: Sequence[str] = (), rows: int | None = None) -> list[Path]:
        df = self.spark.sql(sql)
        if partition_by:
            df = df.repartition(*partition_by) if rows is not None and rows <= ROWS_PER_FILE else self._spread(df, partition_by)
            writer = df.write.mode("overwrite").option("maxRecordsPerFile", ROWS_PER_FILE)
            writer.partitionBy(*partition_by).parquet(self._stage_uri(target))
            return sorted(p for p in self._fetch(target).rglob("*.parquet") if not p.name.startswith((".", "_")))
        df = df.repartition(1)
        if order_by:
            df = df.sortWithinPartitions(*order_by)
        df.write.mode("overwrite").parquet(self._stage_uri(target, ".dir"))
        (written,) = [p for p in self._fetch(target, ".dir").glob("*.parquet") if not p.name.startswith((".", "_"))]
        written.rename(target)
        return [target]

    def _spread(self, df, partition_by: Sequence[str]):
        """Rows to tasks so that each output directory gets files of about ``ROWS_PER_FILE`` rows,
        written in parallel: one task per directory when it is small, else the directory's rows
        spread over several tasks by a hash of the whole row (deterministic, so a retried task
        writes the same rows)."""
        F = _F()
        sizes = df.groupBy(*partition_by).count().collect()
        spread = {tuple(r[c] for c in partition_by): -(-r["count"] // ROWS_PER_FILE) for r in sizes}
        if all(n == 1 for n in spread.values()):
            return df.repartition(*partition_by)
        files = F.lit(1)
        for values, n in spread.items():
            if n > 1:
                files = F.when(_all_equal(F, partition_by, values), F.lit(n)).otherwise(files)
        salt = F.pmod(F.xxhash64(*df.columns), files)
        return df.repartition(len(spread) + sum(spread.values()), *partition_by, salt)

    def _stage_uri(self, target: Path, suffix: str = "") -> str:
        if self.remote:  # executors write to S3; the driver fetches the files to check and publish them
            return self.store.url(f"{LocalStore.TMP}/{self.run_id}/{target.name}{suffix}")
        return str(target) + suffix

    def _fetch(self, target: Path, suffix: str = "") -> Path:
        local = Path(str(target) + suffix)
        if self.remote:
            prefix = f"{LocalStore.TMP}/{self.run_id}/{target.name}{suffix}/"
            for o in list(self.store.list(prefix)):
                dest = local / o.key[len(prefix) :]
                dest.parent.mkdir(parents=True, exist_ok=True)
                with self.store.local_copy(o.key) as p:
                    shutil.copyfile(p, dest)
                self.store.delete(o.key)
        return local

    # -- lines with their numbers ---------------------------------------------------------------
    @staticmethod
    def _norm(path: str) -> str:
        """Spark's input_file_name() and our paths, in one spelling."""
        p = unquote(path)
        if p.startswith("file:"):
            p = str(Path(urlparse(p).path).resolve())
        return p

    def _numbered_lines(self, files: list[tuple[int, str]]):
        """``(__fidx, __line, __ord, value)`` for every line of ``files`` ((index, path) pairs).

        Lines come as Spark splits the files (CR, LF or CRLF); a file's splits are read in order,
        so within a (file, partition) the row ids increase with the line; one small aggregate
        gives each partition's first line number.
        """
        F = _F()
        if not files:
            return self.spark.createDataFrame([], LINES_SCHEMA)
        text = self.spark.read.text([p for _, p in files]).select(
            F.input_file_name().alias("__path"),
            F.spark_partition_id().alias("__pid"),
            F.monotonically_increasing_id().alias("__mono"),
            "value",
        )
        stats = text.groupBy("__path", "__pid").agg(F.min("__mono").alias("m"), F.count("*").alias("n")).collect()
        index = {self._norm(p): i for i, p in files}
        rows, seen = [], {}
        for r in sorted(stats, key=lambda r: (r["__path"], r["__pid"])):
            fidx = index.get(self._norm(r["__path"]))
            if fidx is None:
                raise RuntimeError(f"Spark read a file the job did not ask for: {r['__path']}")
            base = seen.get(fidx, 0)
            rows.append((r["__path"], r["__pid"], r["m"], base, fidx))
            seen[fidx] = base + r["n"]
        if not rows:
            return self.spark.createDataFrame([], LINES_SCHEMA)
        parts = self.spark.createDataFrame(rows, "__path string, __pid int, m long, base long, __fidx int")
        line = F.col("base") + F.col("__mono") - F.col("m") + 1
        return text.join(F.broadcast(parts), ["__path", "__pid"]).select(
            "__fidx",
            line.alias("__line"),
            (F.shiftleft(F.col("__fidx").cast("long"), ORD_BITS) + line).alias("__ord"),
            "value",
        )

    def _head(self, key: str) -> bytes:
        if self.remote:
            s3 = self.store
            return s3.client.get_object(Bucket=s3.bucket, Key=s3.prefix + key, Range=f"bytes=0-{raw_input.HEAD_BYTES - 1}")["Body"].read()
        return raw_input.read_head(self.local_path(key))

    # -- reading -------------------------------------------------------------------------------
    def read(self, ds: Dataset, objects: list, files: str, *, salvage: bool = False) -> RawInput:
        if ds.raw_format == "csv":
            return self._read_csv(ds, objects)
        return self._read_ndjson(ds, objects)

    def _split(self, lines, record: str, detail: str, records=None) -> RawInput:
        """Records, line rejects and gaps from one cached relation of numbered lines with a
        ``__status`` (``row`` for a record); ``records`` makes the records from that relation's name
        when they are not its ``row`` lines as they are."""
        d = self.dialect
        lv = self._cache("lines_checked", lines)
        batch = records(lv) if records else self.view("records", f"SELECT * FROM {lv} WHERE __status = 'row'")
        reasons = ", ".join(d.literal(r) for r in LINE_REASONS + (raw_input.CORRUPT_OBJECT,))

        def finish():
            rejects = self.view(
                "line_rejects",
                f"SELECT __status AS reason, {detail} AS detail, __fidx, __line, {record} AS record FROM {lv} WHERE __status IN ({reasons})",
            )
            # Lines of objects that hold records but are not records themselves (a header, blank or
            # rejected lines): record numbers count records only.
            gaps = self.view("gaps", f"SELECT __fidx, __ord FROM {lv} WHERE __status <> 'row' AND __problem IS NULL AND __ord IS NOT NULL")
            return rejects, gaps

        return RawInput([batch], finish)

    def _read_csv(self, ds: Dataset, objects: list) -> RawInput:
        d, F = self.dialect, _F()
        files, info, notes, names_of = [], [], {}, {}
        for fidx, obj in enumerate(objects):
            head = self._head(obj.key)
            if raw_input.is_empty_head(head):
                notes[fidx] = raw_input.EMPTY_FILE
                continue
            names, problem = raw_input.header_problem(ds, head)
            files.append((fidx, self._input_path(obj.key)))
            info.append((fidx, len(names), problem))
            if problem:
                notes[fidx] = problem
            else:
                names_of[fidx] = names
        lines = self._numbered_lines(files)
        info_df = self.spark.createDataFrame(info, "__fidx int, __expected int, __problem string")
        lv = self._name(lines.join(F.broadcast(info_df), "__fidx"), "lines")
        # Which field of each file holds each contract column (files may order their header freely).
        pick = {
            c: "CASE __fidx " + " ".join(whens) + " END" if (whens := [f"WHEN {i} THEN {n.index(c) + 1}" for i, n in names_of.items() if c in n]) else "NULL"
            for c in ds.column_names
        }
        width = max((len(n) for n in names_of.values()), default=1)
        schema = ", ".join(f"c{i} STRING" for i in range(1, width + 1))
        options = "map(" + ", ".join(f"{d.literal(k)}, {d.literal(v)}" for k, v in FROM_CSV_OPTIONS.items()) + ")"
        parsed = self.spark.sql(f"""
WITH l AS (
  SELECT *, value <> decode(CAST(value AS BINARY), 'UTF-8') AS __bad_utf8, instr(value, '"') > 0 AS __quoted FROM {lv}
), s AS (
  SELECT *, CASE
      WHEN __line = 1 THEN 'header'
      WHEN __problem IS NOT NULL THEN CASE WHEN value RLIKE {d.literal(_BLANK)} THEN 'skip' ELSE 'wrong_header' END
      WHEN value = '' THEN 'skip'
      WHEN octet_length(value) > {raw_input.MAX_LINE_BYTES} THEN 'line_too_long'
      WHEN __bad_utf8 THEN 'invalid_encoding'
      WHEN __quoted AND NOT value RLIKE {d.literal(CSV_RECORD)} THEN 'malformed_csv'
    END AS __status FROM l
), u AS (
  SELECT *, CASE WHEN __status IS NULL AND __quoted THEN regexp_replace(value, {d.literal(_PADDED_QUOTED)}, '$1$2') END AS __unpadded FROM s
), c AS (
  SELECT *, CASE WHEN __status IS NULL THEN
      size(split(CASE WHEN __quoted THEN regexp_replace(__unpadded, {d.literal(_WHOLE_QUOTED)}, '$1') ELSE value END, ',', -1))
    END AS __found FROM u
), f AS (
  SELECT *, coalesce(__status, CASE WHEN __found > __expected THEN 'too_many_columns'
                                    WHEN __found < __expected THEN 'too_few_columns' ELSE 'row' END) AS __st FROM c
), v AS (
  SELECT *, CASE WHEN __st = 'row' THEN
      CASE WHEN __quoted THEN from_csv(__unpadded, '{schema}', {options}) END
    END AS __csv FROM f
)
SELECT __fidx, __line, __ord, __expected, __problem, __found, value, __bad_utf8, __st AS __status,
       {", ".join(f"CASE WHEN __st = 'row' THEN nullif(element_at(CASE WHEN __quoted THEN array({', '.join(f'__csv.c{i}' for i in range(1, width + 1))}) ELSE split(value, ',', -1) END, {pick[c]}), '') END AS {c}" for c in ds.column_names)}
FROM v
""")  # fmt: skip
        detail = "CASE __status WHEN 'wrong_header' THEN __problem " + " ".join(
            f"WHEN {d.literal(r)} THEN {raw_input.reject_detail_sql(d, r, expected='__expected', found='__found')}"
            for r in ("too_many_columns", "too_few_columns", "line_too_long", "invalid_encoding", "malformed_csv")
        ) + " END"  # fmt: skip
        record = f"substring(CASE WHEN __bad_utf8 THEN decode(CAST(value AS BINARY), 'UTF-8') ELSE value END, 1, {raw_input.MAX_RECORD_CHARS})"
        raw = self._split(parsed, record, detail)
        raw.notes = notes
        return raw

    def _read_ndjson(self, ds: Dataset, objects: list) -> RawInput:
        d, F = self.dialect, _F()
        files = [(fidx, self._input_path(o.key)) for fidx, o in enumerate(objects)]
        corrupt = []
        try:
            lines = self._numbered_lines(files)
        except Exception as e:  # noqa: BLE001 - a damaged gzip object fails the whole read
            if not any(s in str(e) for s in GZIP_ERRORS):
                raise
            good, salvaged = [], []
            for fidx, o in enumerate(objects):
                saved = raw_input.salvage(self.local_path(o.key), fidx)
                if saved.corrupt is None:
                    good.append(files[fidx])
                    continue
                corrupt.append(saved.corrupt)
                salvaged += [(fidx, n, bytearray(b)) for n, b in enumerate(saved.lines, start=1)]
            lines = self._numbered_lines(good)
            if salvaged:
                extra = self.spark.createDataFrame(salvaged, "__fidx int, __line long, bin binary").select(
                    "__fidx", "__line",
                    (F.shiftleft(F.col("__fidx").cast("long"), ORD_BITS) + F.col("__line")).alias("__ord"),
                    F.col("bin").cast("string").alias("value"),
                )  # fmt: skip
                lines = lines.unionByName(extra)
        lv = self._name(lines, "lines")
        status = f"""CASE WHEN octet_length(value) > {raw_input.MAX_LINE_BYTES} THEN 'line_too_long'
                          WHEN value <> decode(CAST(value AS BINARY), 'UTF-8') THEN 'invalid_encoding' ELSE 'row' END"""
        checked = self.spark.sql(f"SELECT *, {status} AS __status, CAST(NULL AS STRING) AS __problem FROM {lv}")
        if corrupt:
            checked = checked.unionByName(
                self.spark.createDataFrame(
                    [(r.fidx, r.line, None, r.record, r.reason, None, r.detail) for r in corrupt],
                    "__fidx int, __line long, __ord long, value string, __status string, __problem string, __corrupt_detail string",
                ),
                allowMissingColumns=True,
            )
        else:
            checked = checked.withColumn("__corrupt_detail", F.lit(None).cast("string"))
        detail = "CASE __status " + " ".join(
            f"WHEN {d.literal(r)} THEN {d.literal(raw_input.reject_detail(r))}" for r in ("line_too_long", "invalid_encoding")
        ) + f" WHEN {d.literal(raw_input.CORRUPT_OBJECT)} THEN __corrupt_detail END"
        record = (
            f"CASE WHEN __status = {d.literal(raw_input.CORRUPT_OBJECT)} THEN value "
            f"ELSE substring(decode(CAST(value AS BINARY), 'UTF-8'), 1, {raw_input.MAX_RECORD_CHARS}) END"
        )

        def records(lv: str) -> str:
            lines = self.spark.sql(f"SELECT __fidx, __ord, nullif(value, '') AS line FROM {lv} WHERE __status = 'row'")
            return self._name(self._json_facts(ds, lines), "records")

        return self._split(checked, record, detail, records)

    def json_records(self, ds: Dataset, lines: str) -> str:
        return self._name(self._json_facts(ds, self.spark.sql(f"SELECT __fidx, __ord, line FROM {lines}")), "json_records")

    def _json_facts(self, ds: Dataset, df):
        """``(__fidx, __ord, __record, <JSON facts>, <columns>)`` from ``(__fidx, __ord, line)``, via Python."""
        import pyarrow as pa

        from clickpipe_core.cleaning import json_fact_columns
        from glue_scripts import json_lines

        names, fact_names = ds.column_names, json_fact_columns(ds)
        out = pa.schema(
            [("__fidx", pa.int32()), ("__ord", pa.int64()), ("__record", pa.string())]
            + [(n, pa.string()) for n in fact_names + names]
        )

        def check(batches):
            for b in batches:
                lines = b.column("line").to_pylist()
                found = [json_lines.facts(ds, line) for line in lines]
                cols = {"__fidx": b.column("__fidx"), "__ord": b.column("__ord"), "__record": pa.array(lines, pa.string())}
                cols["__jt"] = pa.array([f[0] for f in found], pa.string())
                for i, n in enumerate(names):
                    cols[f"__jt_{n}"] = pa.array([f[1][i] for f in found], pa.string())
                    cols[n] = pa.array([f[2][i] for f in found], pa.string())
                yield pa.RecordBatch.from_pydict(cols, schema=out)

        schema = "__fidx int, __ord long, __record string, " + ", ".join(f"{n} string" for n in fact_names + names)
        return df.mapInArrow(check, schema)


def run_partition(store, ds: Dataset, ingest_date: str, *, objects: list | None = None, **kwargs) -> PartitionResult:
    return job1.run_partition(SparkEngine(store, **kwargs), ds, ingest_date, objects)

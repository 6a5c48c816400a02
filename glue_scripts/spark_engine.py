"""Glue Job 1 on Spark (Glue 5.0: Spark 3.5, or a local SparkSession): the same job as the DuckDB
engine, row for row.

The rules are the SQL of ``cleaning.py`` in the Spark dialect; the quarantine wording, the header
check and the publish are ``clickpipe_core.job1``'s; the checks are ``checks.py`` reading the staged files.
What is Spark's own is only the reading:

* Raw files are read as text lines (splittable, so a big CSV file is read by many tasks). Every
  line gets its file and line number (from the partition id and ``monotonically_increasing_id``,
  counted per partition in one small pass), which gives the input order that dedup needs (the
  first occurrence wins) and the line and record numbers that quarantine rows carry.
* CSV lines are split into fields in Spark SQL with the reader's rules (RFC 4180 quotes, spaces
  around a quoted value, an empty field is NULL); a line with the wrong field count, bad quoting,
  bad UTF-8 or over the size limit becomes a quarantine row with the same reason as DuckDB's
  reader gives it.
* Click-stream lines (gzip NDJSON) are checked in Python (``json_lines``), because Spark's JSON
  functions cannot tell a JSON string from a number. A damaged gzip object fails Spark's reader:
  then every object is checked in Python and damaged ones are salvaged like in the DuckDB engine.

Known differences from the DuckDB engine (none occurs in our sources; see test_engine_parity):

* A quoted CSV value that spans lines is one record for DuckDB and malformed lines here (records
  are lines). An unclosed quote in the middle of a file makes DuckDB's reader take the rest of the
  file as one malformed record; here only that line is quarantined and the next lines are read.
* Unicode case mapping of upper/lower-cased columns differs for a few letters ('ß' -> 'SS' in Java).
* Regex classes: Java's ``\s`` also matches a vertical tab (RE2's does not).
* JSON numbers inside ``properties`` are re-serialized by Python, not DuckDB (``1e20``).

On Glue with an S3 lake, executors read raw objects from S3 and stage output under ``_tmp/`` in
the lake; the driver then fetches the staged files to check them (``checks.py`` on DuckDB, so Glue
needs ``duckdb`` in ``--additional-python-modules``) and publishes them like the DuckDB engine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, urlparse

from clickpipe_core.contracts import Dataset
from clickpipe_core import cleaning, job1, layout
from clickpipe_core.job1 import (
    HEAD_BYTES,
    MAX_LINE_BYTES,
    MAX_RECORD_CHARS,
    PartitionResult,
    header_problem,
    is_empty_head,
    name_staged_files,
    publish,
    reject_detail,
)
from clickpipe_core.lake_store import LocalStore, S3Store

ORD_BITS = 40  # __ord = file index << 40 | line number: input order across the files of a run
# What a damaged gzip object makes Spark's reader say (then the objects are checked one by one).
GZIP_ERRORS = ("EOFException", "ZipException", "GZIP", "zlib", "header check", "Unexpected end of input")
# Line bookkeeping that rides through the rules with every line (see _load_csv).
SIDE_CARRY = ("__fidx", "__line", "__status", "__problem", "__rej_detail", "__rej_record")
LINE_REASONS = ("wrong_header", "line_too_long", "invalid_encoding", "malformed_csv", "too_many_columns", "too_few_columns")

# Session settings the rules rely on, on Glue and locally alike.
SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "false",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",  # not INT96: timestamp[us, UTC]
    "spark.sql.parquet.compression.codec": "snappy",
    "spark.sql.sources.partitionOverwriteMode": "static",
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",  # dt=… stays text, like Athena's
}

# A CSV field: quoted (spaces around it allowed, "" inside) or unquoted (not starting with a quote).
_QUOTED = r' *"(?:[^"]|"")*" *'
_FIELD = f'{_QUOTED}|(?! *")[^,]*'
_RECORD_RE = f"(?s)^(?:{_FIELD})(?:,(?:{_FIELD}))*" + "\\z"
_FIELDS_RE = f"(?s)(?<=^|,)({_FIELD})"  # lookbehind: an empty match must not skip a comma
_BLANK_RE = "^[ \t\n\r\x0b\x0c]*\\z"  # what Python's bytes.strip() removes
_UNQUOTE_RE = '(?s)^ *"(.*)" *' + "\\z"

_state: dict = {}


def on_glue() -> bool:
    try:
        import awsglue  # noqa: F401
    except ImportError:
        return False
    return True


def spark_session(threads: int | None = None):
    """The run's SparkSession: Glue's (through a GlueContext) on Glue, else a local one (shared)."""
    if "spark" in _state:
        return _state["spark"]
    if on_glue():
        from awsglue.context import GlueContext
        from pyspark.context import SparkContext

        glue_context = GlueContext(SparkContext.getOrCreate())
        _state["glue_context"] = glue_context
        spark = glue_context.spark_session
    else:
        from pyspark.sql import SparkSession

        # Python workers (the JSON checks) must run this interpreter, with this environment's packages.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        spark = (
            SparkSession.builder.master(f"local[{threads or os.cpu_count() or 2}]")
            .appName("clickpipe-job1")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", str(max(2, 2 * (threads or os.cpu_count() or 2))))
            .config("spark.driver.memory", os.environ.get("CLICKPIPE_SPARK_DRIVER_MEMORY", "4g"))
            .config("spark.sql.adaptive.enabled", "true")
            .config("spark.ui.showConsoleProgress", "false")
            # uncompressed in-memory cache: a third less time for the classified records, more memory
            .config("spark.sql.inMemoryColumnarStorage.compressed", "false")
        )
        # More settings for a local run, e.g. CLICKPIPE_SPARK_CONF="spark.eventLog.enabled=true spark.eventLog.dir=/tmp/ev"
        for item in os.environ.get("CLICKPIPE_SPARK_CONF", "").split():
            k, _, v = item.partition("=")
            spark = spark.config(k, v)
        spark = spark.getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
    for k, v in SESSION_CONF.items():
        spark.conf.set(k, v)
    _state["spark"] = spark
    return spark


@contextlib.contextmanager
def glue_job(argv: list[str], default_name: str):
    """``Job.init``/``Job.commit`` around a run on Glue (bookmarks need both); nothing elsewhere.

    Both jobs read exactly the partitions Dagster asks for, so a re-run replaces its own output
    (ARCHITECTURE.md, rule 2); bookmark state is therefore kept but never used to skip input.
    """
    if not on_glue():
        yield None
        return
    from awsglue.job import Job
    from awsglue.utils import getResolvedOptions

    spark_session()
    # getResolvedOptions expects sys.argv's shape (the script first)
    args = getResolvedOptions([sys.argv[0], *argv], ["JOB_NAME"]) if "--JOB_NAME" in argv else {"JOB_NAME": default_name}
    job = Job(_state["glue_context"])
    job.init(args["JOB_NAME"], args)
    yield job
    job.commit()


def _F():
    from pyspark.sql import functions as F

    return F


class SparkJob:
    """Runs one dataset's raw partition through the cleaning rules on Spark."""

    def __init__(self, store: LocalStore | S3Store, ds: Dataset, *, spark=None, threads: int | None = None):
        self.store, self.ds = store, ds
        self._spark, self._threads = spark, threads
        self.d = cleaning.SPARK
        # On Glue an S3 lake is read and staged in S3 by the executors; elsewhere Spark reads local
        # files (an S3 lake is copied down first: a local Spark has no S3 connector).
        self.remote = isinstance(store, S3Store) and on_glue()
        self.run_id = uuid.uuid4().hex[:12]

    @property
    def spark(self):
        """Started on first use, so bad input is reported before a JVM starts."""
        if self._spark is None:
            self._spark = spark_session(self._threads)
        return self._spark

    # -- small helpers ------------------------------------------------------------------------
    def sql(self, query: str):
        return self.spark.sql(query)

    def _view(self, name: str, df):
        df.createOrReplaceTempView(f"{name}_{self.run_id}")
        return f"{name}_{self.run_id}"

    def _input_path(self, key: str, stack: contextlib.ExitStack) -> str:
        if self.remote:
            return self.store.url(key)
        return str(Path(stack.enter_context(self.store.local_copy(key))).resolve())

    def _head(self, key: str, path: str) -> bytes:
        if self.remote:
            s3 = self.store
            return s3.client.get_object(Bucket=s3.bucket, Key=s3.prefix + key, Range=f"bytes=0-{HEAD_BYTES - 1}")["Body"].read()
        with open(path, "rb") as f:
            return f.read(HEAD_BYTES)

    @staticmethod
    def _norm(path: str) -> str:
        """Spark's input_file_name() and our paths, in one spelling."""
        p = unquote(path)
        if p.startswith("file:"):
            p = str(Path(urlparse(p).path).resolve())
        return p

    # -- lines with their numbers ---------------------------------------------------------------
    def _numbered_lines(self, files: list[tuple[int, str]]):
        """``(__fidx, __line, __ord, value)`` for every line of ``files`` ((index, path) pairs).

        Lines come as Spark splits the files (CR, LF or CRLF); a file's splits are read in order,
        so within a (file, partition) the row ids increase with the line; one small aggregate
        gives each partition's first line number.
        """
        F = _F()
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
            return self.spark.createDataFrame([], "__fidx int, __line long, __ord long, value string")
        parts = self.spark.createDataFrame(rows, "__path string, __pid int, m long, base long, __fidx int")
        line = F.col("base") + F.col("__mono") - F.col("m") + 1
        return text.join(F.broadcast(parts), ["__path", "__pid"]).select(
            "__fidx",
            line.alias("__line"),
            (F.shiftleft(F.col("__fidx").cast("long"), ORD_BITS) + line).alias("__ord"),
            "value",
        )

    # -- CSV ------------------------------------------------------------------------------------
    def _load_csv(self, objects, paths: list[str], result: PartitionResult) -> tuple[str, str, str]:
        """Views (rows, line rejects, lines that are not records) from the raw CSV files."""
        ds = self.ds
        files, meta = [], []
        for fidx, (obj, path) in enumerate(zip(objects, paths)):
            head = self._head(obj.key, path)
            if is_empty_head(head):
                meta.append((fidx, obj.key, 0, None, "empty"))
                continue
            names, problem = header_problem(ds, head)
            files.append((fidx, path))
            meta.append((fidx, obj.key, len(names), problem, names))
        lines = self._numbered_lines(files) if files else None
        info = self.spark.createDataFrame(
            [(i, k, n, p) for i, k, n, p, names in meta if names != "empty"],
            "__fidx int, __file string, __expected int, __problem string",
        )
        # Which field of each file holds each contract column (files may order their header freely).
        pick = {
            c: "CASE __fidx " + " ".join(f"WHEN {i} THEN {names.index(c) + 1}" for i, _, _, p, names in meta
                                         if names != "empty" and p is None and c in names) + " END"
            for c in ds.column_names
        }  # fmt: skip
        F = _F()
        if lines is None:
            lines = self.spark.createDataFrame([], "__fidx int, __line long, __ord long, value string")
        lv = self._view("lines", lines.join(F.broadcast(info), "__fidx"))
        quote = "instr(value, '\"') > 0"
        blank = self.d.literal(_BLANK_RE)
        parsed = self.sql(f"""
WITH l AS (
  SELECT *, value <> decode(CAST(value AS BINARY), 'UTF-8') AS __bad_utf8 FROM {lv}
), s AS (
  SELECT *, CASE
      WHEN __line = 1 THEN 'header'
      WHEN __problem IS NOT NULL THEN CASE WHEN value RLIKE {blank} THEN 'skip' ELSE 'wrong_header' END
      WHEN value = '' THEN 'skip'
      WHEN octet_length(value) > {MAX_LINE_BYTES} THEN 'line_too_long'
      WHEN __bad_utf8 THEN 'invalid_encoding'
      WHEN {quote} AND NOT value RLIKE {self.d.literal(_RECORD_RE)} THEN 'malformed_csv'
    END AS __status FROM l
), f AS (
  SELECT *, CASE WHEN __status IS NULL THEN
      CASE WHEN {quote} THEN transform(regexp_extract_all(value, {self.d.literal(_FIELDS_RE)}, 1),
                                       x -> CASE WHEN x RLIKE '^ *"' THEN replace(regexp_extract(x, {self.d.literal(_UNQUOTE_RE)}, 1), '""', '"') ELSE x END)
           ELSE split(value, ',', -1) END
    END AS __fields FROM s
)
SELECT __fidx, __line, __ord, __file, __expected, value, __bad_utf8,
       coalesce(__status, CASE WHEN size(__fields) > __expected THEN 'too_many_columns'
                               WHEN size(__fields) < __expected THEN 'too_few_columns' ELSE 'row' END) AS __status,
       size(__fields) AS __found,
       {", ".join(f"nullif(element_at(__fields, {pick[c]}), '') AS {c}" for c in ds.column_names)},
       __problem
FROM f
""")  # fmt: skip
        # One pass: every line goes through the rules (the few that are not records too, so their
        # quarantine text rides along in the same cached table instead of costing a second parse).
        pv = self._view("parsed", parsed)
        detail = (
            "CASE __status WHEN 'wrong_header' THEN __problem "
            "WHEN 'too_many_columns' THEN concat('expected ', __expected, ' fields, found ', __found) "
            "WHEN 'too_few_columns' THEN concat('expected ', __expected, ' fields, found ', __found) "
            + " ".join(f"WHEN '{r}' THEN {self.d.literal(reject_detail(r))}" for r in ("line_too_long", "invalid_encoding", "malformed_csv"))
            + " END"
        )
        record = f"substring(CASE WHEN __bad_utf8 THEN decode(CAST(value AS BINARY), 'UTF-8') ELSE value END, 1, {MAX_RECORD_CHARS})"
        reasons = ", ".join(repr(r) for r in LINE_REASONS)
        rows = self._view(
            "rows",
            self.sql(
                f"""SELECT __ord, __fidx, __line, __status, __problem,
                       CASE WHEN __status IN ({reasons}) THEN {detail} END AS __rej_detail,
                       CASE WHEN __status IN ({reasons}) THEN {record} END AS __rej_record,
                       {', '.join(ds.column_names)}
                FROM {pv}"""
            ),
        )
        self._side_carry = SIDE_CARRY

        def finish(everything: str):
            classified = self._view("classified", self.sql(f"SELECT * FROM {everything} WHERE __status = 'row'"))
            side = self._view(
                "side",
                self.sql(
                    f"""SELECT __fidx, __ord, __problem, __status IN ({reasons}) AS __rejected, __status AS reason,
                           __rej_detail AS detail, f.__file AS source_file, concat('line ', __line) AS source_line, __rej_record AS record
                    FROM {everything} JOIN {self._files} f USING (__fidx) WHERE __status <> 'row'"""
                ),
            )
            rv = self._view("line_rejects", self.sql(f"SELECT reason, detail, source_file, source_line, record FROM {side} WHERE __rejected"))
            # Lines of files that hold records but are not records themselves (header, blank,
            # rejected): record numbers count records only, like the row ids of the DuckDB engine.
            nonrecords = self._view("nonrecords", self.sql(f"SELECT __ord FROM {side} WHERE __problem IS NULL"))
            per_file = {
                r[0]: (r[1], r[2])
                for r in self.sql(
                    f"SELECT __fidx, count_if(__status = 'row'), count_if(__status IN ({reasons})) FROM {everything} GROUP BY __fidx"
                ).collect()
            }
            for fidx, key, _, problem, names in meta:
                loaded, bad = per_file.get(fidx, (0, 0))
                if names == "empty":
                    result.messages.append(f"{key}: empty file, no records")
                elif problem:
                    result.messages.append(f"{key}: {problem}; {bad} record(s) quarantined as wrong_header")
                elif not loaded and not bad:
                    result.messages.append(f"{key}: header only, no records")
            return classified, rv, nonrecords

        return rows, finish

    # -- NDJSON ---------------------------------------------------------------------------------
    def _load_ndjson(self, objects, paths: list[str], result: PartitionResult, stack: contextlib.ExitStack):
        from glue_scripts import ndjson_reader

        F = _F()
        files = list(enumerate(paths))
        salvaged, bad_rows = [], []
        try:
            lines = self._numbered_lines(files) if files else None
        except Exception as e:  # noqa: BLE001 - a damaged gzip object fails the whole read
            if not any(s in str(e) for s in GZIP_ERRORS):
                raise
            good = []
            for fidx, (obj, path) in enumerate(zip(objects, paths)):
                local = path if not self.remote else str(stack.enter_context(self.store.local_copy(obj.key)))
                data, problem = ndjson_reader.salvage_gzip(Path(local))
                if problem is None:
                    good.append((fidx, path))
                    continue
                complete, _, partial = data.rpartition(b"\n")
                kept_lines = ndjson_reader.split_lines(complete) if complete else []
                salvaged += [(fidx, n, bytearray(b)) for n, b in enumerate(kept_lines, start=1)]
                kept = complete.count(b"\n") + 1 if complete else 0
                bad_rows.append(
                    (
                        "corrupt_object",
                        f"{problem or 'not a gzip object'}; the {kept} complete line(s) before the damage were kept",
                        obj.key,
                        f"line {kept + 1}",
                        partial.decode("utf-8", "replace")[:MAX_RECORD_CHARS],
                    )
                )
            lines = self._numbered_lines(good) if good else None
            if salvaged:
                extra = self.spark.createDataFrame(salvaged, "__fidx int, __line long, bin binary").select(
                    "__fidx", "__line",
                    (F.shiftleft(F.col("__fidx").cast("long"), ORD_BITS) + F.col("__line")).alias("__ord"),
                    F.col("bin").cast("string").alias("value"),
                )  # fmt: skip
                lines = extra if lines is None else lines.unionByName(extra)
        if lines is None:
            lines = self.spark.createDataFrame([], "__fidx int, __line long, __ord long, value string")
        arrivals = [
            (i, o.key, layout.parse_raw_clicks_arrival(o.key) + timedelta(hours=1) + ndjson_reader.CLOCK_SKEW)
            for i, o in enumerate(objects)
        ]
        info = self.spark.createDataFrame(arrivals, "__fidx int, __file string, __not_after timestamp")
        lv = self._view("lines", lines.join(F.broadcast(info), "__fidx"))
        parsed = self.sql(f"""
SELECT __fidx, __line, __ord, __file, __not_after, value, bad_utf8,
       CASE WHEN octet_length(value) > {MAX_LINE_BYTES} THEN 'line_too_long' WHEN bad_utf8 THEN 'invalid_encoding' ELSE 'row' END AS __status
FROM (SELECT *, value <> decode(CAST(value AS BINARY), 'UTF-8') AS bad_utf8 FROM {lv})
""")  # fmt: skip
        pv = self._view("parsed", parsed)
        record = f"substring(CASE WHEN bad_utf8 THEN decode(CAST(value AS BINARY), 'UTF-8') ELSE value END, 1, {MAX_RECORD_CHARS})"
        detail = (
            f"CASE __status WHEN 'line_too_long' THEN {self.d.literal(reject_detail('line_too_long'))} "
            f"WHEN 'invalid_encoding' THEN {self.d.literal(reject_detail('invalid_encoding'))} END"
        )
        fields = self._json_fields(self.sql(
            f"""SELECT __ord, __not_after, __fidx, __line, __status, CAST(NULL AS STRING) AS __problem,
                   {detail} AS __rej_detail, CASE WHEN __status <> 'row' THEN {record} END AS __rej_record,
                   CASE WHEN __status = 'row' THEN nullif(value, '') END AS line
            FROM {pv}"""
        ))  # fmt: skip
        self._side_carry = SIDE_CARRY

        def finish(everything: str):
            classified = self._view("classified", self.sql(f"SELECT * FROM {everything} WHERE __status = 'row'"))
            side = self.sql(
                f"""SELECT __ord, __status AS reason, __rej_detail AS detail, f.__file AS source_file,
                       concat('line ', __line) AS source_line, __rej_record AS record
                FROM {everything} JOIN {self._files} f USING (__fidx) WHERE __status <> 'row'"""
            )
            if bad_rows:
                side = side.unionByName(
                    self.spark.createDataFrame(bad_rows, "reason string, detail string, source_file string, source_line string, record string")
                    .selectExpr("CAST(NULL AS BIGINT) AS __ord", "*")
                )  # fmt: skip
            sv = self._view("side", side)
            rv = self._view("line_rejects", self.sql(f"SELECT reason, detail, source_file, source_line, record FROM {sv}"))
            nonrecords = self._view("nonrecords", self.sql(f"SELECT __ord FROM {sv} WHERE __ord IS NOT NULL"))
            return classified, rv, nonrecords

        return self._view("rows", fields), finish

    def _json_fields(self, df):
        """``(__ord, __not_after, __record, __pre_reason, __pre_detail, <line bookkeeping>, <columns>)`` via Python."""
        import pyarrow as pa

        from glue_scripts import json_lines

        ds = self.ds
        names = ds.column_names
        out_schema = pa.schema(
            [("__ord", pa.int64()), ("__not_after", pa.timestamp("us", tz="UTC")),
             ("__record", pa.string()), ("__pre_reason", pa.string()), ("__pre_detail", pa.string())]
            + [("__fidx", pa.int32()), ("__line", pa.int64()), ("__status", pa.string()), ("__problem", pa.string()),
               ("__rej_detail", pa.string()), ("__rej_record", pa.string())]
            + [(n, pa.string()) for n in names]
        )  # fmt: skip
        passed = ("__fidx", "__line", "__status", "__problem", "__rej_detail", "__rej_record")
        nothing = (None, None, [None] * len(names))

        def check(batches):
            for b in batches:
                lines = b.column("line").to_pylist()
                status = b.column("__status").to_pylist()
                checked = [json_lines.check_line(ds, line) if st == "row" else nothing for line, st in zip(lines, status)]
                cols = {
                    "__ord": b.column("__ord"),
                    "__not_after": b.column("__not_after").cast(pa.timestamp("us", tz="UTC")),
                    "__record": pa.array(lines, pa.string()),
                    "__pre_reason": pa.array([c[0] for c in checked], pa.string()),
                    "__pre_detail": pa.array([c[1] for c in checked], pa.string()),
                }
                for c in passed:
                    cols[c] = b.column(c).cast(out_schema.field(c).type)
                for i, n in enumerate(names):
                    cols[n] = pa.array([c[2][i] for c in checked], pa.string())
                yield pa.RecordBatch.from_pydict(cols, schema=out_schema)

        schema = (
            "__ord long, __not_after timestamp, __record string, __pre_reason string, __pre_detail string, "
            "__fidx int, __line long, __status string, __problem string, __rej_detail string, __rej_record string, "
            + ", ".join(f"{n} string" for n in names)
        )
        return df.mapInArrow(check, schema)

    # -- references, dedup across partitions --------------------------------------------------------
    def _load_references(self, stack: contextlib.ExitStack) -> dict[str, str]:
        tables = {}
        for column, ref_column, key in job1.reference_snapshots(self.store, self.ds):
            df = self.spark.read.parquet(self._input_path(key, stack)).selectExpr(f"{ref_column} AS key").distinct()
            df = df.persist()
            self._cached.append(df)
            tables[column] = self._view(f"ref_{column}", df)
        return tables

    def _already_delivered(self, classified: str, ingest_date: str, stack: contextlib.ExitStack) -> str | None:
        ds, d = self.ds, self.d
        days = [r[0] for r in self.sql(
            f"SELECT DISTINCT {d.cast(d.utc_date('t_' + ds.partition_time_column), 'string')} FROM {classified} WHERE reason IS NULL"
        ).collect()]  # fmt: skip
        earlier = job1.earlier_source_files(self.store, ds, days, ingest_date)
        if not earlier:
            return None
        paths = [self._input_path(k, stack) for k in earlier]
        seen = self.spark.read.option("mergeSchema", "false").parquet(*paths).groupBy(ds.key).agg(
            _F().min("ingest_date").alias("src")
        ).withColumnRenamed(ds.key, "key")  # fmt: skip
        seen = seen.persist()
        self._cached.append(seen)
        return self._view("seen", seen)

    # -- the job ----------------------------------------------------------------------------------
    def _raw_objects(self, ingest_date: str) -> list:
        return job1.raw_objects(self.store, self.ds, ingest_date)

    def run(self, ingest_date: str) -> PartitionResult:
        ds = self.ds
        result = PartitionResult(ds.name, ingest_date)
        objects = self._raw_objects(ingest_date)
        self._not_before = job1.late_bound(ingest_date) if ds.partition_time_column else None
        self._cached, self._side_carry = [], ()
        staging = self.store.staging_dir()
        try:
            with contextlib.ExitStack() as stack:
                refs = self._load_references(stack)
                self._files = self._view(
                    "files", self.spark.createDataFrame([(i, o.key) for i, o in enumerate(objects)], "__fidx int, __file string")
                )
                result.files_in = [o.key for o in objects]
                result.bytes_in = sum(o.size for o in objects)
                paths = [self._input_path(o.key, stack) for o in objects]
                if not objects:
                    result.messages.append(f"no raw {ds.name} object arrived on {ingest_date}: an empty partition")
                if ds.raw_format == "csv":
                    rows, finish = self._load_csv(objects, paths, result)
                else:
                    rows, finish = self._load_ndjson(objects, paths, result, stack)
                classified, line_rejects, nonrecords = finish(self._classify(rows, refs))
                bad, dupes = self._quarantine_and_dedup(classified, line_rejects, nonrecords, refs, ingest_date, result, stack)
                staged = self._write(staging / "out", classified, bad, dupes, ingest_date, result, stack)
                import duckdb

                from clickpipe_core.checks import check_output

                with contextlib.closing(duckdb.connect()) as con:
                    result.checks = check_output(con, ds, staged, result)
            publish(self.store, ds, staged, ingest_date, result)
        finally:
            for df in self._cached:
                df.unpersist()
            if self._spark is not None:
                for name in list(self._spark.catalog.listTables()):
                    if name.isTemporary and name.name.endswith(self.run_id):
                        self._spark.catalog.dropTempView(name.name)
            shutil.rmtree(staging, ignore_errors=True)
        return result

    def _carry(self) -> tuple[str, ...]:
        # No file name per record (it would be the largest cached column): __fidx, mapped at the end.
        base = ("__ord",) if self.ds.raw_format == "csv" else ("__ord", "__not_after", "__record")
        return base + self._side_carry

    def _classify(self, rows: str, refs: dict[str, str]) -> str:
        sql = cleaning.classify_sql(
            self.ds, self.d, source=rows, reference_tables=refs, carry=self._carry(), pre_checked=self.ds.raw_format == "ndjson",
            not_before=self._not_before,
        )  # fmt: skip
        df = self.sql(sql).persist()
        self._cached.append(df)
        return self._view("all_lines", df)

    def _quarantine_and_dedup(self, classified, line_rejects, nonrecords, refs, ingest_date, result, stack):
        ds, d = self.ds, self.d
        pre = ["__pre_reason", "__pre_detail"] if ds.raw_format == "ndjson" else []
        keep = [*self._carry(), *ds.column_names, *pre]
        failed = f"(SELECT {', '.join(keep)} FROM {classified} WHERE reason IS NOT NULL)"
        explained = self._view(
            "explained",
            self.sql(cleaning.classify_sql(ds, d, source=failed, reference_tables=refs, explain=True, carry=self._carry(),
                                           pre_checked=bool(pre), not_before=self._not_before)),  # fmt: skip
        )
        firsts = self._view("firsts", self.sql(cleaning.first_of_duplicates_sql(ds, classified)))
        dupes_sql = f"SELECT *, 'seen before in this partition' AS why FROM ({cleaning.duplicate_rows_sql(ds, classified, firsts)})"
        dupes = self.sql(dupes_sql)
        if ds.dedup_across_partitions and (seen := self._already_delivered(classified, ingest_date, stack)):
            dv = self._view("dupes_here", dupes)
            dupes = dupes.unionByName(self.sql(
                f"""SELECT c.*, concat('already delivered by ingest_date ', CAST(seen.src AS STRING)) AS why
                FROM {classified} c JOIN {seen} seen ON c.t_{ds.key} = seen.key
                WHERE c.reason IS NULL AND c.__ord NOT IN (SELECT __ord FROM {dv})"""
            ))  # fmt: skip
        dupes = dupes.persist()
        self._cached.append(dupes)
        dv = self._view("duplicates", dupes)
        record = "__record" if ds.raw_format == "ndjson" else cleaning.raw_record(ds, d)
        # record number = line number minus the lines before it (same file) that are not records
        numbered = """(SELECT x.__ord, x.__ord - shiftleft(shiftright(x.__ord, {bits}), {bits}) - count(n.__ord) AS __recno
                      FROM {src} x LEFT JOIN {nonrecords} n
                        ON shiftright(n.__ord, {bits}) = shiftright(x.__ord, {bits}) AND n.__ord < x.__ord
                      GROUP BY x.__ord)"""
        bad = self.sql(f"""
SELECT reason, detail, source_file, source_line, record FROM {line_rejects}
UNION ALL
SELECT e.reason, e.detail, f.__file, concat('record ', r.__recno), {record}
FROM {explained} e JOIN {numbered.format(src=explained, nonrecords=nonrecords, bits=ORD_BITS)} r USING (__ord)
JOIN {self._files} f ON f.__fidx = e.__fidx
UNION ALL
SELECT '{cleaning.DUPLICATE_REASON}', concat({d.literal(ds.key + ' ')}, x.t_{ds.key}, ' ', x.why), f.__file,
       concat('record ', r.__recno), {cleaning.typed_record(ds, d)}
FROM {dv} x JOIN {numbered.format(src=dv, nonrecords=nonrecords, bits=ORD_BITS)} r USING (__ord)
JOIN {self._files} f ON f.__fidx = x.__fidx
""").persist()  # fmt: skip
        self._cached.append(bad)
        bv = self._view("bad_input", bad)
        counts = {r[0]: r[1] for r in self.sql(f"SELECT reason, count(*) FROM {bv} GROUP BY reason").collect()}
        result.duplicates = counts.pop(cleaning.DUPLICATE_REASON, 0)
        result.quarantined = sum(counts.values())
        result.quarantine_reasons = counts
        loaded, unparsed = self.sql(
            f"SELECT (SELECT count(*) FROM {classified}), (SELECT count(*) FROM {bv} WHERE source_line LIKE 'line %')"
        ).collect()[0]
        result.rows_in = loaded + unparsed
        return bv, dv

    # -- output -----------------------------------------------------------------------------------
    def _stage_uri(self, out: Path, name: str) -> str:
        if self.remote:  # executors write to S3; the driver fetches the files to check and publish them
            return self.store.url(f"{LocalStore.TMP}/{self.run_id}/{name}")
        return str(out / name)

    def _fetch(self, out: Path, name: str) -> Path:
        local = out / name
        if self.remote:
            prefix = f"{LocalStore.TMP}/{self.run_id}/{name}/"
            for o in list(self.store.list(prefix)):
                target = local / o.key[len(prefix):]
                target.parent.mkdir(parents=True, exist_ok=True)
                with self.store.local_copy(o.key) as p:
                    shutil.copyfile(p, target)
                self.store.delete(o.key)
        return local

    def _write(self, out: Path, classified, bad, dupes, ingest_date, result, stack) -> dict[str, Path]:
        import pyarrow.parquet as pq

        ds, d, F = self.ds, self.d, _F()
        out.mkdir(parents=True)
        staged: dict[str, Path] = {}
        projection = cleaning.clean_projection(ds, d, ingest_date)
        clean = self.sql(f"SELECT __ord, {projection} FROM ({cleaning.clean_rows_sql(classified, dupes)})")
        if ds.partition_columns:
            parts = ds.partition_columns
            (
                clean.repartition(*parts).sortWithinPartitions(*parts, "__ord").drop("__ord")
                .write.mode("overwrite").partitionBy(*parts).parquet(self._stage_uri(out, "processed"))
            )  # fmt: skip
            staged.update(name_staged_files(ds, self._fetch(out, "processed"), ingest_date))
            result.dt_partitions = sorted({layout.parse_dt(k) for k in staged})
            # Counted from the files themselves, so the conservation check can catch a lost row.
            result.rows_out = sum(pq.ParquetFile(p).metadata.num_rows for p in staged.values())
        else:
            key = layout.snapshot_key(ds.name)
            union = clean.drop("__ord")
            result.rows_out = union.count()
            if self.store.exists(key):
                previous = self.spark.read.parquet(self._input_path(key, stack))
                union = previous.where(F.col("ingest_date") != F.lit(ingest_date).cast("date")).unionByName(union)
            from pyspark.sql.window import Window

            rank = F.row_number().over(Window.partitionBy(ds.key).orderBy(F.col("ingest_date").desc()))
            (
                union.withColumn("__rank", rank).where("__rank = 1").drop("__rank")
                .repartition(1).sortWithinPartitions(ds.key)
                .write.mode("overwrite").parquet(self._stage_uri(out, "snapshot"))
            )  # fmt: skip
            files = sorted(p for p in self._fetch(out, "snapshot").glob("*.parquet") if not p.name.startswith((".", "_")))
            if len(files) != 1:
                raise RuntimeError(f"expected one snapshot file, Spark wrote {len(files)}")
            result.snapshot_rows = pq.ParquetFile(files[0]).metadata.num_rows
            staged[key] = files[0]
        if result.quarantined + result.duplicates:
            (
                self.sql(f"SELECT reason, detail, source_file, source_line, record, DATE '{ingest_date}' AS ingest_date FROM {bad}")
                .repartition(1).sortWithinPartitions("source_file", "source_line", "reason")
                .write.mode("overwrite").parquet(self._stage_uri(out, "quarantine"))
            )  # fmt: skip
            files = sorted(p for p in self._fetch(out, "quarantine").glob("*.parquet") if not p.name.startswith((".", "_")))
            staged[layout.quarantine_key(ds.name, ingest_date)] = files[0]
        return staged


def run_partition(store, ds: Dataset, ingest_date: str, **kwargs) -> PartitionResult:
    return SparkJob(store, ds, **kwargs).run(ingest_date)

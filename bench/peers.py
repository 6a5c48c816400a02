"""Job 1 written the way a pandas user and a PySpark user would write it: the peers of the benchmarks.

Both apply the same validation as clickpipe (every rule of the dataset's contract: trimming and
case normalization, required fields, length limits, the type guards and casts, time zones, the
arrival bound, the late window, control characters, amounts finer than their currency, patterns,
allowed sets, minimum amounts, the reference to users), drop the same
duplicates (the first clean occurrence of a key wins, in input order: by object, then by line; for
clicks also across arrival days) and write the same processed rows as Parquet partitioned like
clickpipe's (``dt=``, ``event_type=``). They report how many records they read, wrote, rejected
and dropped; the benchmark compares their rows with clickpipe's row for row.

What they leave out, as a peer would: quarantine files (rejected rows are only counted), checks and
the atomic publish. They read the rule parameters (regular expressions, sets, limits) from the same
contract, so a rule cannot drift between clickpipe and its peers.
"""

from __future__ import annotations

import re
from pathlib import Path

from datetime import datetime

from clickpipe_core import cleaning, job1, layout, raw_input
from clickpipe_core.contracts import CONTROL_CHARACTERS, Column, Dataset, minor_units

ZONE = r".*(Z|[+-][0-9]{2}:?[0-9]{2})"  # the require_zone rule's pattern (cleaning.column_rules)


def _checks(ds: Dataset, col: Column):
    """The contract's per-value rules for one column, as (kind, parameter), in clickpipe's order."""
    if col.required:
        yield "required", None
    if col.type == "string":
        yield "control", CONTROL_CHARACTERS
    if col.max_length:
        yield "max_length", col.max_length
    if col.currency_column:  # (pattern, currencies): more decimals than the currency has
        by_units: dict[int, list[str]] = {}
        for code in ds.column(col.currency_column).allowed:
            by_units.setdefault(minor_units(code), []).append(code)
        yield "precision", [(cleaning.too_fine(k), codes) for k, codes in sorted(by_units.items())]
    if col.type in cleaning.TYPE_GUARDS:
        yield "guard", cleaning.TYPE_GUARDS[col.type]
    if col.require_zone:
        yield "pattern", ZONE
    if col.not_after_arrival:
        yield "not_after", None
    if col.pattern:
        yield "pattern", col.pattern
    if col.allowed:
        yield "allowed", list(col.allowed)
    if col.min_value is not None:
        yield "min", col.min_value
    if col.name == ds.partition_time_column:
        yield "late", None


def not_before(ingest_date: str) -> datetime:
    """The late window's bound of an ingest day (``job1.late_bound``) as a time."""
    return datetime.fromisoformat(job1.late_bound(ingest_date))


def arrival_day(key: str) -> str:
    return layout.parse_raw_clicks_key(key)


# -- pandas -----------------------------------------------------------------------------------------
def pandas_clean(df, ds: Dataset, *, references: dict | None = None, not_after=None, not_before=None, carry: tuple[str, ...] = ()):
    """The rows of ``df`` (text columns, input order) that pass every rule, typed (with the ``carry``
    columns as they are); and how many failed. ``not_before``: the late window's bound (a time, or
    one per row)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    ok = pd.Series(True, index=df.index)
    typed, texts = {}, {}
    for col in ds.columns:
        s = df[col.name].astype("str") if col.name in df else pd.Series(pd.NA, index=df.index, dtype="str")
        s = s.str.strip(" ").replace("", pd.NA)
        if col.normalize == "upper":
            s = s.str.upper()
        elif col.normalize == "lower":
            s = s.str.lower()
        texts[col.name] = s
    for col in ds.columns:
        s = texts[col.name]
        value = s
        if col.type == "money":
            parsed = pc.cast(pa.array(s.where(s.str.fullmatch(cleaning.TYPE_GUARDS["money"]).fillna(False))), pa.decimal128(38, 9), safe=False)
            money = pc.cast(pc.round(parsed, 2, round_mode="half_towards_infinity"), pa.decimal128(18, 2))
            value = pd.Series(pd.arrays.ArrowExtensionArray(money), index=df.index)
        elif col.type == "timestamp":
            value = pd.to_datetime(s, utc=True, format="ISO8601", errors="coerce")
        elif col.type == "date":
            value = pd.to_datetime(s, format="%Y-%m-%d", errors="coerce").dt.date
        for kind, p in _checks(ds, col):
            present = s.notna()
            if kind == "required":
                ok &= present
            elif kind == "control":
                ok &= ~s.str.contains(p, regex=True).fillna(False)
            elif kind == "precision":
                for pattern, codes in p:
                    ok &= ~(texts[col.currency_column].isin(codes) & s.str.fullmatch(pattern).fillna(False))
            elif kind == "late":
                ok &= ~(value < not_before).fillna(False)
            elif kind == "max_length":
                ok &= ~(s.str.len() > p).fillna(False)
            elif kind == "guard":
                ok &= ~present | (s.str.fullmatch(p).fillna(False) & value.notna())
            elif kind == "pattern":
                ok &= ~present | s.str.fullmatch(p).fillna(False)
            elif kind == "not_after":
                ok &= ~(value > not_after).fillna(False)
            elif kind == "allowed":
                ok &= ~present | s.isin(p)
            elif kind == "min":
                ok &= ~(value < p).fillna(False)
        typed[col.name] = value
    for column, keys in (references or {}).items():
        ok &= typed[column].isna() | typed[column].isin(keys)
    for c in carry:
        typed[c] = df[c]
    out = pd.DataFrame(typed)[ok.to_numpy()]
    return out, int((~ok).sum())


def pandas_transactions(csv_path: Path, users_snapshot: Path, out: Path, ds: Dataset, ingest_date: str) -> dict:
    import pandas as pd

    df = pd.read_csv(csv_path, dtype="str", keep_default_na=False, on_bad_lines="skip")
    lines = sum(1 for _ in open(csv_path, "rb")) - 1
    users = pd.read_parquet(users_snapshot, columns=["user_id"])["user_id"]
    clean, failed = pandas_clean(df, ds, references={"user_id": users}, not_before=not_before(ingest_date))
    kept = clean.drop_duplicates(ds.key, keep="first")
    _pandas_write(kept, ds, out, ingest_date=ingest_date)
    return {"rows_in": lines, "rows_out": len(kept), "quarantined": failed + lines - len(df), "duplicates": len(clean) - len(kept)}


def pandas_clicks(objects: list[tuple[str, Path]], out: Path, ds: Dataset) -> dict:
    """``objects``: (lake key, local path) of every Firehose object, in key order."""
    import json

    import pandas as pd

    frames, rows_in = [], 0
    for key, path in objects:
        try:
            df = pd.read_json(path, lines=True, dtype=False, compression="gzip")
        except ValueError:  # a malformed line: what is left is read line by line
            import gzip

            docs = []
            for line in gzip.open(path, "rt", encoding="utf-8", errors="replace"):
                try:
                    docs.append(json.loads(line))
                except ValueError:
                    docs.append({})
            df = pd.DataFrame(docs)
        rows_in += len(df)
        df["__key"] = key
        frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    # JSON types: text fields must be JSON strings (or null), object fields JSON objects.
    ok = pd.Series(True, index=df.index)
    for col in ds.columns:
        if col.name not in df:
            continue
        s = df[col.name]
        kinds = s.map(lambda v: "object" if isinstance(v, dict) else "str" if isinstance(v, str) else "null" if v is None or v != v else "other")
        ok &= kinds.isin(["object", "null"] if col.json_object else ["str", "null"])
        if col.json_object:
            df[col.name] = s.map(lambda v: json.dumps(v, separators=(",", ":"), ensure_ascii=False) if isinstance(v, dict) else None)
    bad_json = int((~ok).sum())
    df = df[ok.to_numpy()]
    keys = df.pop("__key")
    text = df.astype("str").where(df.notna(), "")
    text["ingest_date"] = keys.map(arrival_day)
    not_after = pd.to_datetime(keys.map(raw_input.not_after), utc=True)
    late = pd.to_datetime(text["ingest_date"].map(not_before), utc=True)
    clean, failed = pandas_clean(text, ds, not_after=not_after, not_before=late, carry=("ingest_date",))
    kept = clean.drop_duplicates(ds.key, keep="first")
    _pandas_write(kept, ds, out)
    return {"rows_in": rows_in, "rows_out": len(kept), "quarantined": failed + bad_json, "duplicates": len(clean) - len(kept)}


def _pandas_write(df, ds: Dataset, out: Path, *, ingest_date: str | None = None) -> None:
    import pandas as pd
    import pyarrow as pa

    from clickpipe_core.contracts import LOGICAL_TYPES

    df = df.copy()
    if ingest_date:
        df["ingest_date"] = ingest_date
    df["ingest_date"] = pd.to_datetime(df["ingest_date"]).dt.date
    df["dt"] = df[ds.partition_time_column].dt.strftime("%Y-%m-%d")
    # The contract's columns without Job 1's enrichment (the peers apply the rules, not the enrichment),
    # as the Spark peer writes them.
    schema = pa.schema([pa.field(n, LOGICAL_TYPES[t].arrow) for n, t in ds.processed_columns if n not in ds.derived_column_names])
    for c in ds.partition_value_columns:
        schema = schema.append(pa.field(c, pa.string()))
    table = pa.Table.from_pandas(df[[*schema.names, "dt"]], schema=schema.append(pa.field("dt", pa.string())), preserve_index=False)
    import pyarrow.parquet as pq

    pq.write_to_dataset(table, out, partition_cols=ds.partition_columns, compression="snappy")


# -- PySpark ----------------------------------------------------------------------------------------
def _java(pattern: str) -> str:
    """A fully anchored Java regular expression from an RE2 one (these patterns mean the same in both)."""
    return "^(?:" + pattern + ")$"


def spark_clean(df, ds: Dataset, *, references: dict | None = None):
    """``df`` has the text columns, ``__pos`` (input order), ``__not_before`` (the late window's
    bound) and, for clicks, ``__not_after``: the rows that pass every rule, typed, and a flag
    ``__ok`` on every row."""
    from pyspark.sql import functions as F

    ok = F.lit(True)
    typed, texts = [], {}
    for col in ds.columns:
        s = F.nullif(F.trim(F.col(col.name)), F.lit(""))
        if col.normalize == "upper":
            s = F.upper(s)
        elif col.normalize == "lower":
            s = F.lower(s)
        texts[col.name] = s
    for col in ds.columns:
        s = texts[col.name]
        value = s.cast(col.logical_type.athena) if col.type != "string" else s
        for kind, p in _checks(ds, col):
            if kind == "required":
                ok = ok & s.isNotNull()
            elif kind == "control":
                ok = ok & F.coalesce(~s.rlike(p), F.lit(True))
            elif kind == "precision":
                for pattern, codes in p:
                    ok = ok & F.coalesce(~(texts[col.currency_column].isin(codes) & s.rlike(_java(pattern))), F.lit(True))
            elif kind == "late":
                ok = ok & F.coalesce(value >= F.col("__not_before"), F.lit(True))
            elif kind == "max_length":
                ok = ok & F.coalesce(F.length(s) <= p, F.lit(True))
            elif kind == "guard":
                ok = ok & (s.isNull() | (s.rlike(_java(p)) & value.isNotNull()))
            elif kind == "pattern":
                ok = ok & (s.isNull() | s.rlike(_java(p)))
            elif kind == "not_after":
                ok = ok & F.coalesce(value <= F.col("__not_after"), F.lit(True))
            elif kind == "allowed":
                ok = ok & (s.isNull() | s.isin(p))
            elif kind == "min":
                ok = ok & F.coalesce(value >= p, F.lit(True))
        typed.append(value.alias(col.name))
    carried = [c for c in df.columns if c.startswith("__") or c == "ingest_date"]
    df = df.select(*typed, *carried, ok.alias("__ok"))
    for column, keys in (references or {}).items():
        known = keys.select(F.col(keys.columns[0]).alias("__ref")).distinct()
        df = df.join(F.broadcast(known), F.col(column) == F.col("__ref"), "left").withColumn(
            "__ok", F.col("__ok") & (F.col(column).isNull() | F.col("__ref").isNotNull())
        ).drop("__ref")
    return df


def spark_dedup_write(df, ds: Dataset, out: Path) -> dict:
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    df = df.cache()
    first = Window.partitionBy(ds.key).orderBy("__pos")
    clean = df.where("__ok").withColumn("__n", F.row_number().over(first))
    kept = clean.where("__n = 1").withColumn("dt", F.date_format(ds.partition_time_column, "yyyy-MM-dd"))
    names = [n for n, _ in ds.processed_columns if n not in ds.derived_column_names] + list(ds.partition_value_columns) + ["dt"]
    kept.select(*names).repartition(*ds.partition_columns).write.mode("overwrite").partitionBy(*ds.partition_columns).parquet(str(out))
    counts = df.groupBy("__ok").count().collect()
    total = sum(r["count"] for r in counts)
    good = sum(r["count"] for r in counts if r["__ok"])
    written = kept.count()
    df.unpersist()
    return {"rows_in": total, "rows_out": written, "quarantined": total - good, "duplicates": good - written}


def spark_transactions(spark, csv_path: Path, users_snapshot: Path, out: Path, ds: Dataset, ingest_date: str) -> dict:
    from pyspark.sql import functions as F

    schema = ", ".join(f"{c} string" for c in ds.column_names) + ", _corrupt string"
    raw = (
        spark.read.option("header", True).option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", "_corrupt")
        .option("escape", '"').schema(schema).csv(str(csv_path))
    )  # fmt: skip
    raw = raw.withColumn("__pos", F.monotonically_increasing_id()).cache()  # a file's rows in order
    wellformed = raw.where("_corrupt IS NULL").drop("_corrupt")
    users = spark.read.parquet(str(users_snapshot)).select("user_id")
    wellformed = wellformed.withColumn("__not_before", F.lit(not_before(ingest_date)))
    df = spark_clean(wellformed, ds, references={"user_id": users}).withColumn("ingest_date", F.lit(ingest_date).cast("date"))
    counts = spark_dedup_write(df, ds, out)
    malformed = raw.where("_corrupt IS NOT NULL").count()
    raw.unpersist()
    return {**counts, "rows_in": counts["rows_in"] + malformed, "quarantined": counts["quarantined"] + malformed}


def spark_clicks(spark, objects: list[tuple[str, Path]], out: Path, ds: Dataset) -> dict:
    from pyspark.sql import functions as F

    schema = ", ".join(f"{c} string" for c in ds.column_names) + ", _corrupt string"
    paths = {str(p.resolve()): k for k, p in objects}
    raw = spark.read.schema(schema).option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", "_corrupt").json(list(paths))
    key_of = spark.createDataFrame(
        [(f"file://{p}", k, i, arrival_day(k), raw_input.not_after(k), not_before(arrival_day(k)))
         for i, (p, k) in enumerate(sorted(paths.items(), key=lambda x: x[1]))],
        "__path string, __key string, __obj int, ingest_date string, __not_after timestamp, __not_before timestamp",
    )
    raw = raw.withColumn("__path", F.input_file_name()).withColumn("__mono", F.monotonically_increasing_id())
    raw = raw.join(F.broadcast(key_of), "__path").withColumn("__pos", F.struct("__obj", "__mono")).cache()
    wellformed = raw.where("_corrupt IS NULL").drop("_corrupt")
    df = spark_clean(wellformed, ds).withColumn("ingest_date", F.col("ingest_date").cast("date"))
    counts = spark_dedup_write(df, ds, out)
    malformed = raw.where("_corrupt IS NOT NULL").count()
    raw.unpersist()
    return {**counts, "rows_in": counts["rows_in"] + malformed, "quarantined": counts["quarantined"] + malformed}


def local_spark(threads: int | None = None):
    """A plain local SparkSession, as a PySpark user starts one (UTC, Parquet timestamps in micros)."""
    import os
    import sys

    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    cores = threads or os.cpu_count() or 2
    spark = (
        SparkSession.builder.master(f"local[{cores}]").appName("peer")
        .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", os.environ.get("CLICKPIPE_SPARK_DRIVER_MEMORY", "4g"))
        .config("spark.sql.session.timeZone", "UTC").config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.sql.shuffle.partitions", str(2 * cores))
        .config("spark.sql.warehouse.dir", str(Path(__file__).resolve().parent / "out" / "spark-warehouse"))
        .getOrCreate()
    )  # fmt: skip
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def clicks_objects(lake: Path) -> list[tuple[str, Path]]:
    from clickpipe_core.lake_store import LocalStore

    store = LocalStore(lake)
    return [(o.key, store.path(o.key)) for o in store.list("raw/clicks/") if layout.parse_raw_clicks_key(o.key)]


__all__ = [name for name in dir() if re.match(r"(pandas|spark)_|local_spark|clicks_objects", name)]

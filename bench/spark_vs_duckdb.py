"""Glue Jobs 1 and 2: the Spark engine against the DuckDB engine, same input, end to end.

    python -m bench.spark_vs_duckdb [--rows 5000000] [--events 1000000]

Job 1 on transactions: the whole job (read, validate, quarantine, dedup, write, check, publish) on
the same raw file and users snapshot, each engine in its own copy of the lake. The input is
bench.job1_transactions' (generated once, cached under bench/out/).

Job 2's mart build: from the processed zone to the Arrow tables the loader takes, i.e. register
the processed tables as views and build every mart (the daily marts over every dt day of the
input, and the users dimension) with ``DuckDBMartEngine`` or ``SparkMartEngine``. The processed
zone is DuckDB Job 1's output on those transactions and users plus bench.job1_clicks' Firehose
clicks (``--events``), made once and cached under bench/out/. Loading into PostgreSQL is not part
of it: both engines hand their Arrow tables to the same ADBC loader, which bench.load_marts
benchmarks on its own.

Each run is in its own process. A Spark run includes starting its local SparkSession (local[N],
N = cores), which is reported on its own too, and its peak memory includes the JVM's (a child
process). Then both engines' outputs are compared row by row (EXCEPT ALL both ways).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

from bench import job1_clicks
from bench.harness import OUT, measure, report_child, table
from bench.job1_transactions import DAY, paths, prepare

MODULE = "bench.spark_vs_duckdb"
ENGINES = ("duckdb", "spark")


def lake_copy(rows: int, engine: str):
    """A fresh lake for one engine: hard links to the prepared raw file and users snapshot."""
    _, _, lake = paths(rows)
    target = OUT / f"spark-vs-duckdb-{rows}" / engine
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(lake / "raw", target / "raw", copy_function=os.link)
    shutil.copytree(lake / "processed" / "users", target / "processed" / "users", copy_function=os.link)
    return target


def job1(engine: str, rows: int) -> None:
    from clickpipe_core.contracts import TRANSACTIONS
    from clickpipe_core.lake_store import LocalStore
    from glue_scripts.raw_to_processed import engine_module

    store = LocalStore(lake_copy(rows, engine))
    t = time.perf_counter()
    session = start_session(engine)
    r = engine_module(engine).run_partition(store, TRANSACTIONS, DAY)
    seconds = time.perf_counter() - t
    report_child(
        seconds, r.rows_in, rows_out=r.rows_out, quarantined=r.quarantined, duplicates=r.duplicates,
        session_seconds=round(session, 2), checks_passed=all(c["passed"] for c in r.checks),
    )  # fmt: skip


def marts_lake(rows: int, events: int):
    """Job 2's input, made once: the users snapshot, and DuckDB Job 1 on the transactions and clicks."""
    from clickpipe_core.contracts import CLICKS, TRANSACTIONS
    from glue_scripts.duckdb_engine import run_partition
    from clickpipe_core.lake_store import LocalStore

    lake = OUT / f"job2-{rows}-{events}"
    if not (lake / "ready").exists():
        shutil.rmtree(lake, ignore_errors=True)
        tx_lake, clicks_lake = paths(rows)[2], job1_clicks.paths(events)[1]
        for root, sub in ((tx_lake, "raw"), (tx_lake, "processed/users"), (clicks_lake, "raw/clicks")):
            shutil.copytree(root / sub, lake / sub, copy_function=os.link)
        store = LocalStore(lake)
        run_partition(store, TRANSACTIONS, DAY)
        for day in job1_clicks.arrival_days(lake):
            run_partition(store, CLICKS, day)
        (lake / "ready").touch()
    return lake


def job2(engine: str, rows: int, events: int) -> None:
    import pyarrow.parquet as pq

    from clickpipe_core.lake_store import LocalStore
    from clickpipe_core.marts import MARTS
    from glue_scripts.marts_engine import ENGINES as MART_ENGINES

    lake = marts_lake(rows, events)
    t = time.perf_counter()
    session = start_session(engine)  # the engine then takes the session already started
    with MART_ENGINES[engine](LocalStore(lake)) as e:
        e.register(["users", "transactions", "clicks"], days=None)  # every dt day
        # The marts each engine builds itself: the sessionized ones are derived by DuckDB on either
        # engine (``build_days``: the session engine), so they compare nothing here.
        marts = {name: e.build(mart) for name, mart in MARTS.items() if not mart.sessionized}
    seconds = time.perf_counter() - t
    out = OUT / f"spark-vs-duckdb-{rows}" / f"marts-{engine}"
    out.mkdir(parents=True, exist_ok=True)
    for name, arrow in marts.items():
        pq.write_table(arrow, out / f"{name}.parquet")
    rows_in = sum(pq.read_metadata(f).num_rows for f in (lake / "processed").rglob("*.parquet"))
    report_child(
        seconds, rows_in, session_seconds=round(session, 2), mart_rows={n: a.num_rows for n, a in marts.items()},
    )  # fmt: skip


def start_session(engine: str) -> float:
    """Seconds to start Spark's local session (0 for DuckDB); the engines reuse it."""
    if engine != "spark":
        return 0.0
    from clickpipe_core.runtime import Runtime
    from glue_scripts.spark_session import spark_session

    t = time.perf_counter()
    spark_session(Runtime.local("spark"))
    return time.perf_counter() - t


def same_rows(globs: dict[str, str]) -> str:
    """For each name, whether DuckDB's and Spark's Parquet files (``glob`` with ``{engine}`` in it)
    hold the same rows, as multisets (EXCEPT ALL both ways); a differing row is shown."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute("SET TimeZone = 'UTC'")
    parts = []
    for name, glob in globs.items():
        d, s = (f"(SELECT * FROM read_parquet('{glob.format(engine=e)}', hive_partitioning = false))" for e in ENGINES)
        diffs = []
        for who, a, b in (("DuckDB", d, s), ("Spark", s, d)):
            only = f"({a} EXCEPT ALL {b})"
            if n := con.execute(f"SELECT count(*) FROM {only}").fetchone()[0]:
                diffs.append(f"{n:,} only in {who}, e.g. {con.execute(f'SELECT * FROM {only} LIMIT 1').fetchone()}")
        n = con.execute(f"SELECT count(*) FROM {d}").fetchone()[0]
        parts.append(f"{name} {n:,} rows, " + (f"DIFFERENT ({'; '.join(diffs)})" if diffs else "same"))
    return "; ".join(parts)


def ratio(duck: dict, spark: dict) -> str:
    return (
        f"Spark / DuckDB: {spark['seconds'] / duck['seconds']:.1f}x the time "
        f"(Spark session start {spark['session_seconds']:.1f}s of it; without it "
        f"{(spark['seconds'] - spark['session_seconds']) / duck['seconds']:.1f}x)"
    )


def main(argv=None) -> str:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=5_000_000, help="transactions (Jobs 1 and 2)")
    p.add_argument("--events", type=int, default=1_000_000, help="click events (Job 2)")
    args = p.parse_args(argv)
    rows, cores, base = str(args.rows), os.cpu_count(), OUT / f"spark-vs-duckdb-{args.rows}"
    t = time.perf_counter()
    prepare(args.rows)
    print(f"prepared {args.rows:,} transactions in {time.perf_counter() - t:.0f}s (cached under {paths(args.rows)[0]})", file=sys.stderr)
    results = {
        "Job 1, DuckDB engine": measure(MODULE, "job1-duckdb", rows),
        f"Job 1, Spark engine, local[{cores}]": measure(MODULE, "job1-spark", rows),
    }
    duck, spark = results.values()
    identical = same_rows({zone: f"{base}/{{engine}}/{zone}/transactions/*/*.parquet" for zone in ("processed", "quarantine")})
    text = table(f"Job 1, transactions, {args.rows:,} rows, {cores} cores", results, "Job 1, DuckDB engine")
    same = all(duck[k] == spark[k] for k in ("rows", "rows_out", "quarantined", "duplicates"))
    text += (
        f"\n{ratio(duck, spark)}; same counts: {'yes' if same else 'NO'}; "
        f"checks passed: {duck['checks_passed'] and spark['checks_passed']}"
        f"\nidentical output (every processed and quarantine row, EXCEPT ALL both ways): {identical}"
    )

    t = time.perf_counter()
    job1_clicks.prepare(args.events)
    marts_lake(args.rows, args.events)
    print(f"prepared Job 2's processed zone in {time.perf_counter() - t:.0f}s (cached under {OUT})", file=sys.stderr)
    sizes = (rows, str(args.events))
    results = {
        "Job 2 marts, DuckDB engine": measure(MODULE, "job2-duckdb", *sizes),
        f"Job 2 marts, Spark engine, local[{cores}]": measure(MODULE, "job2-spark", *sizes),
    }
    duck, spark = results.values()
    identical = same_rows({name: f"{base}/marts-{{engine}}/{name}.parquet" for name in duck["mart_rows"]})
    text += "\n\n" + table(
        f"Job 2, mart build (register + every mart to Arrow; no load), processed zone of {args.rows:,} transactions "
        f"and {args.events:,} click events ({duck['rows']:,} rows), {cores} cores",
        results, "Job 2 marts, DuckDB engine",
    )  # fmt: skip
    text += (
        f"\n{ratio(duck, spark)}; same mart row counts: {'yes' if duck['mart_rows'] == spark['mart_rows'] else 'NO'}"
        f"\nidentical marts (every row, EXCEPT ALL both ways): {identical}"
    )
    print(text)
    shutil.rmtree(base, ignore_errors=True)
    return text


if __name__ == "__main__":
    if len(sys.argv) >= 3 and not sys.argv[1].startswith("-"):  # a measured step: job1-duckdb 5000000, ...
        job, engine = sys.argv[1].split("-")
        {"job1": job1, "job2": job2}[job](engine, *map(int, sys.argv[2:]))
    else:
        main()

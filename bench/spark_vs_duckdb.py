"""Glue Job 1 on transactions: the Spark engine against the DuckDB engine, same input, end to end.

    python -m bench.spark_vs_duckdb [--rows 5000000]

Both runs are the whole job (read, validate, quarantine, dedup, write, check, publish) on the same
raw file and users snapshot, each in its own process and its own copy of the lake. The Spark run
includes starting its local SparkSession (local[N], N = cores), which is reported on its own too,
and its peak memory includes the JVM's (a child process).
The input is bench.job1_transactions' (generated once, cached under bench/out/).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

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


def step(engine: str, rows: int) -> None:
    from clickpipe_dagster.contracts import TRANSACTIONS
    from glue_scripts.lake_store import LocalStore

    store = LocalStore(lake_copy(rows, engine))
    t = time.perf_counter()
    session = 0.0
    if engine == "spark":
        from glue_scripts import spark_engine as mod

        mod.spark_session()
        session = time.perf_counter() - t
    else:
        from glue_scripts import duckdb_engine as mod
    r = mod.run_partition(store, TRANSACTIONS, DAY)
    seconds = time.perf_counter() - t
    extra = {}
    if engine == "spark":  # the JVM is a child process: count its peak too
        import resource

        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        extra["peak_mib"] = round(own + sum(_peak_mib(pid) for pid in _descendants(os.getpid())), 1)
    report_child(
        seconds, r.rows_in, rows_out=r.rows_out, quarantined=r.quarantined, duplicates=r.duplicates,
        session_seconds=round(session, 2), checks_passed=all(c["passed"] for c in r.checks), **extra,
    )  # fmt: skip


def _descendants(pid: int) -> list[int]:
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], list(children.get(pid, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def _peak_mib(pid: int) -> float:
    """The peak resident memory (VmHWM) of a live process, in MiB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return 0.0


def same_output(rows: int) -> str:
    """Whether both lakes hold the same processed and quarantine rows (as multisets)."""
    import duckdb

    base = OUT / f"spark-vs-duckdb-{rows}"
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    parts = []
    for zone in ("processed", "quarantine"):
        d, s = (f"read_parquet('{base / e / zone}/transactions/*/*.parquet', hive_partitioning = false)" for e in ENGINES)
        n = con.execute(f"SELECT count(*) FROM {d}").fetchone()[0]
        diff = con.execute(
            f"SELECT (SELECT count(*) FROM ({d} EXCEPT ALL {s})), (SELECT count(*) FROM ({s} EXCEPT ALL {d}))".replace(
                "read_parquet", "SELECT * FROM read_parquet"
            )
        ).fetchone()
        parts.append(f"{zone} {n:,} rows, {'same' if diff == (0, 0) else f'DIFFERENT ({diff[0]} only in DuckDB, {diff[1]} only in Spark)'}")
    return "; ".join(parts)


def main(argv=None) -> str:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=5_000_000)
    args = p.parse_args(argv)
    t = time.perf_counter()
    prepare(args.rows)
    print(f"prepared {args.rows:,} transactions in {time.perf_counter() - t:.0f}s (cached under {paths(args.rows)[0]})", file=sys.stderr)
    results = {
        "Job 1, DuckDB engine": measure(MODULE, "duckdb", str(args.rows)),
        f"Job 1, Spark engine, local[{os.cpu_count()}]": measure(MODULE, "spark", str(args.rows)),
    }
    duck, spark = results.values()
    identical = same_output(args.rows)
    text = table(f"Job 1, transactions, {args.rows:,} rows, {os.cpu_count()} cores", results, "Job 1, DuckDB engine")
    same = all(duck[k] == spark[k] for k in ("rows", "rows_out", "quarantined", "duplicates"))
    text += (
        f"\nSpark / DuckDB: {spark['seconds'] / duck['seconds']:.1f}x the time "
        f"(Spark session start {spark['session_seconds']:.1f}s of it; without it "
        f"{(spark['seconds'] - spark['session_seconds']) / duck['seconds']:.1f}x); "
        f"same counts: {'yes' if same else 'NO'}; checks passed: {duck['checks_passed'] and spark['checks_passed']}"
        f"\nidentical output (every processed and quarantine row, EXCEPT ALL both ways): {identical}"
    )
    print(text)
    shutil.rmtree(OUT / f"spark-vs-duckdb-{args.rows}", ignore_errors=True)
    return text


if __name__ == "__main__":
    if len(sys.argv) == 3 and not sys.argv[1].startswith("-"):
        step(sys.argv[1], int(sys.argv[2]))
    else:
        main()

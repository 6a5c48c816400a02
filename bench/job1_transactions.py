"""Glue Job 1 on transactions against the bare DuckDB floor, a pandas peer and a PySpark peer.

    python -m bench.job1_transactions [--rows 5000000]

(a) floor: bare DuckDB, read_csv with the output's types -> COPY ... PARTITION_BY (dt); no rules.
(b) clickpipe Job 1 (DuckDB engine): validation, quarantine, dedup, checks, atomic publish.
(c) pandas and (d) PySpark local: the same validation and dedup, the same processed rows
    (``bench/peers.py``); their rows are compared with clickpipe's, row for row.
Each run is its own process; the runs are interleaved (floor, clickpipe, pandas, PySpark, floor,
...) and the tables show medians. Inputs are generated once and cached under bench/out/.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time

from bench.harness import OUT, Timer, job1_against_peers, peer_names, report_child, usage

DAY = "2026-11-01"
MODULE = "bench.job1_transactions"
STEPS = {"floor": "bare DuckDB typed read_csv -> COPY", "clickpipe": "clickpipe Job 1 (DuckDB engine)",
         "pandas": "pandas, same rules and dedup", "pyspark": "PySpark local, same rules and dedup"}  # fmt: skip


def paths(rows: int):
    base = OUT / f"job1-{rows}"
    return base, base / "sample", base / "lake"


def prepare(rows: int) -> None:
    from clickpipe_core import layout
    from clickpipe_core.contracts import USERS
    from clickpipe_core.generator.batch import generate
    from clickpipe_core.lake_store import LocalStore
    from glue_scripts.duckdb_engine import run_partition

    base, sample_dir, lake = paths(rows)
    if not (sample_dir / "manifest.json").exists():
        shutil.rmtree(base, ignore_errors=True)
        generate(sample_dir, days=1, users=100_000, transactions_per_day=rows, seed=1, dirty_rate=0.01)
    store = LocalStore(lake)
    store.put_file(sample_dir / "users.csv", layout.raw_batch_key("users", DAY, "users.csv"))
    store.put_file(sample_dir / "transactions" / DAY / "transactions.csv", layout.raw_batch_key("transactions", DAY, "transactions.csv"))
    run_partition(store, USERS, DAY)


def floor_sql(src, out) -> str:
    """The typed floor: DuckDB reads the file with the output's types and writes it partitioned."""
    from clickpipe_core.contracts import TRANSACTIONS

    columns = "{" + ", ".join(f"'{c.name}': '{c.logical_type.duckdb}'" for c in TRANSACTIONS.columns) + "}"
    return f"""COPY (SELECT *, DATE '{DAY}' AS ingest_date, CAST(transaction_ts AS DATE) AS dt
                FROM read_csv('{src}', header = true, auto_detect = false, columns = {columns}, ignore_errors = true))
                TO '{out}' (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (dt))"""


def step(name: str, rows: int) -> None:
    from clickpipe_core.contracts import TRANSACTIONS

    base, sample_dir, lake = paths(rows)
    src = sample_dir / "transactions" / DAY / "transactions.csv"
    out = base / f"out-{name}"
    shutil.rmtree(out, ignore_errors=True)
    with Timer() as t:
        if name == "floor":
            import duckdb

            con = duckdb.connect()
            con.execute("SET TimeZone = 'UTC'")
            n = con.execute(floor_sql(src, out)).fetchone()[0]
            counts = {"rows_out": n}
        elif name == "clickpipe":
            from clickpipe_core.lake_store import LocalStore
            from glue_scripts.duckdb_engine import run_partition

            r = run_partition(LocalStore(lake), TRANSACTIONS, DAY)
            counts = {"rows_in": r.rows_in, "rows_out": r.rows_out, "quarantined": r.quarantined, "duplicates": r.duplicates}
        elif name == "pandas":
            from bench.peers import pandas_transactions

            counts = pandas_transactions(src, lake / "processed/users/users.parquet", out, TRANSACTIONS, DAY)
        elif name == "pyspark":
            from bench.peers import local_spark, spark_transactions

            spark = local_spark()
            counts = spark_transactions(spark, src, lake / "processed/users/users.parquet", out, TRANSACTIONS, DAY)
        else:
            raise SystemExit(f"unknown step {name}")
    measured = usage()  # before the JVM stops
    report_child(t.seconds, counts["rows_out"], measured, **counts)


def main(argv=None) -> str:
    from clickpipe_core.contracts import TRANSACTIONS

    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=5_000_000)
    p.add_argument("--peers", default="pandas,pyspark", help="the peers to run, comma-separated (pandas, pyspark)")
    args = p.parse_args(argv)
    t = time.perf_counter()
    prepare(args.rows)
    print(f"prepared {args.rows:,} transactions in {time.perf_counter() - t:.0f}s (cached under {paths(args.rows)[0]})", file=sys.stderr)
    base, _, lake = paths(args.rows)
    columns = [(c.name, c.logical_type.duckdb) for c in TRANSACTIONS.columns] + [("ingest_date", "DATE"), ("dt", "VARCHAR")]
    return job1_against_peers(
        MODULE, f"Job 1, transactions, {args.rows:,} rows", args.rows, STEPS, columns=columns,
        reference=f"{lake}/processed/transactions/*/*.parquet", outputs={n: f"{base}/out-{n}/*/*.parquet" for n in peer_names(args.peers)},
    )  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) == 3 and not sys.argv[1].startswith("-"):
        step(sys.argv[1], int(sys.argv[2]))
    else:
        main()

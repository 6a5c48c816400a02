"""Glue Job 1 on transactions vs the bare DuckDB floor and a pandas implementation.

    python -m bench.job1_transactions [--rows 5000000]

(a) bare DuckDB: read_csv -> COPY ... PARTITION_BY (dt), no validation: the floor.
(b) pandas: read_csv + to_parquet(partition_cols=["dt"]), no validation either.
(c) clickpipe Job 1: validation, quarantine, dedup, checks, atomic publish.
Each runs in its own process (peak RSS is per process); inputs are generated once and cached.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time

from bench.harness import OUT, compare_with_peers, report_child

DAY = "2026-11-01"
MODULE = "bench.job1_transactions"


def paths(rows: int):
    base = OUT / f"job1-{rows}"
    return base, base / "sample", base / "lake"


def prepare(rows: int) -> None:
    from clickpipe_core.contracts import USERS
    from clickpipe_core.generator.batch import generate
    from clickpipe_core import layout
    from glue_scripts.duckdb_engine import run_partition
    from clickpipe_core.lake_store import LocalStore

    base, sample_dir, lake = paths(rows)
    if not (sample_dir / "manifest.json").exists():
        shutil.rmtree(base, ignore_errors=True)
        generate(sample_dir, days=1, users=100_000, transactions_per_day=rows, seed=1, dirty_rate=0.01)
    store = LocalStore(lake)
    store.put_file(sample_dir / "users.csv", layout.raw_batch_key("users", DAY, "users.csv"))
    store.put_file(sample_dir / "transactions" / DAY / "transactions.csv", layout.raw_batch_key("transactions", DAY, "transactions.csv"))
    run_partition(store, USERS, DAY)


def step(name: str, rows: int) -> None:
    base, sample_dir, lake = paths(rows)
    src = sample_dir / "transactions" / DAY / "transactions.csv"
    out = base / f"out-{name}"
    shutil.rmtree(out, ignore_errors=True)
    if name == "duckdb":
        import duckdb

        t = time.perf_counter()
        con = duckdb.connect()
        con.execute("SET TimeZone='UTC'")
        con.execute(
            f"""COPY (SELECT *, CAST(TRY_CAST(transaction_ts AS TIMESTAMPTZ) AS DATE) AS dt
                FROM read_csv('{src}', header=true, all_varchar=true, ignore_errors=true))
                TO '{out}' (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (dt))"""
        )
        n = con.execute(f"SELECT count(*) FROM read_parquet('{out}/*/*.parquet')").fetchone()[0]
        report_child(time.perf_counter() - t, n)
    elif name == "pandas":
        import pandas as pd

        t = time.perf_counter()
        df = pd.read_csv(src, dtype=str, on_bad_lines="skip", keep_default_na=False)
        df["dt"] = pd.to_datetime(df["transaction_ts"], errors="coerce", utc=True).dt.strftime("%Y-%m-%d")
        df.to_parquet(out, partition_cols=["dt"], compression="snappy", index=False)
        report_child(time.perf_counter() - t, len(df))
    elif name == "clickpipe":
        from clickpipe_core.contracts import TRANSACTIONS
        from glue_scripts.duckdb_engine import run_partition
        from clickpipe_core.lake_store import LocalStore

        t = time.perf_counter()
        r = run_partition(LocalStore(lake), TRANSACTIONS, DAY)
        report_child(time.perf_counter() - t, r.rows_in, rows_out=r.rows_out, quarantined=r.quarantined)
    else:
        raise SystemExit(f"unknown step {name}")


def main(argv=None) -> str:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=5_000_000)
    args = p.parse_args(argv)
    t = time.perf_counter()
    prepare(args.rows)
    print(f"prepared {args.rows:,} transactions in {time.perf_counter() - t:.0f}s (cached under {paths(args.rows)[0]})", file=sys.stderr)
    return compare_with_peers(
        MODULE,
        f"Job 1, transactions, {args.rows:,} rows",
        args.rows,
        floor="bare DuckDB read_csv -> COPY",
        ours="clickpipe Job 1 (DuckDB engine)",
        pandas="pandas read_csv -> to_parquet",
        steps={"bare DuckDB read_csv -> COPY": "duckdb", "clickpipe Job 1 (DuckDB engine)": "clickpipe", "pandas read_csv -> to_parquet": "pandas"},
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and not sys.argv[1].startswith("-"):
        step(sys.argv[1], int(sys.argv[2]))
    else:
        main()

"""Glue Job 1 on the click stream vs the bare DuckDB floor and a pandas implementation.

    python -m bench.job1_clicks [--events 5000000]

Input: gzip NDJSON Firehose objects written by `clickpipe simulate` (the project's generator and
local Firehose), generated once and cached under bench/out/.
(a) bare DuckDB: read_json -> COPY ... PARTITION_BY (dt, event_type), no validation: the floor.
(b) pandas: read_json(lines=True) per object + to_parquet(partition_cols=["dt", "event_type"]).
(c) clickpipe Job 1: line-level JSON checks, contract rules, quarantine, dedup, checks, publish.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time

from bench.harness import OUT, compare_with_peers, report_child

MODULE = "bench.job1_clicks"
DAYS = ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05"]


def paths(events: int):
    base = OUT / f"clicks-{events}"
    return base, base / "lake"


def prepare(events: int) -> None:
    from clickpipe_dagster.resources.lake import LocalLakeResource
    from clickpipe_dagster.resources.stream import LocalFirehoseResource
    from clickpipe_dagster.simulate import simulate_clicks

    base, lake = paths(events)
    if (base / "ready").exists():
        return
    shutil.rmtree(base, ignore_errors=True)
    stream = LocalFirehoseResource(lake=LocalLakeResource(root=str(lake)))
    simulate_clicks(DAYS, events_per_day=events // len(DAYS), users=100_000, seed=3, stream=stream, progress=True)
    (base / "ready").touch()


def arrival_days(lake) -> list[str]:
    from clickpipe_core.lake_store import LocalStore
    from clickpipe_core.layout import parse_raw_clicks_key

    return sorted({d for o in LocalStore(lake).list("raw/clicks/") if (d := parse_raw_clicks_key(o.key))})


def step(name: str, events: int) -> None:
    base, lake = paths(events)
    out = base / f"out-{name}"
    shutil.rmtree(out, ignore_errors=True)
    if name == "duckdb":
        import duckdb

        t = time.perf_counter()
        con = duckdb.connect()
        con.execute("SET TimeZone='UTC'")
        con.execute(
            f"""COPY (SELECT *, CAST(TRY_CAST(ts AS TIMESTAMPTZ) AS DATE) AS dt
                FROM read_json('{lake}/raw/clicks/*/*/*/*/*.gz', format='newline_delimited', ignore_errors=true))
                TO '{out}' (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (dt, event_type))"""
        )
        n = con.execute(f"SELECT count(*) FROM read_parquet('{out}/*/*/*.parquet')").fetchone()[0]
        report_child(time.perf_counter() - t, n)
    elif name == "pandas":
        import glob

        import pandas as pd

        t = time.perf_counter()
        frames = [pd.read_json(f, lines=True, dtype=False, compression="gzip") for f in sorted(glob.glob(f"{lake}/raw/clicks/*/*/*/*/*.gz"))]
        df = pd.concat(frames, ignore_index=True)
        df["properties"] = df["properties"].astype(str)
        df["dt"] = pd.to_datetime(df["ts"], errors="coerce", utc=True).dt.strftime("%Y-%m-%d")
        df.to_parquet(out, partition_cols=["dt", "event_type"], compression="snappy", index=False)
        report_child(time.perf_counter() - t, len(df))
    elif name == "clickpipe":
        from clickpipe_core.contracts import CLICKS
        from glue_scripts.duckdb_engine import run_partition
        from clickpipe_core.lake_store import LocalStore

        store = LocalStore(lake)
        for o in list(store.list("processed/")) + list(store.list("quarantine/")):
            store.delete(o.key)
        t = time.perf_counter()
        results = [run_partition(store, CLICKS, day) for day in arrival_days(lake)]
        report_child(time.perf_counter() - t, sum(r.rows_in for r in results), rows_out=sum(r.rows_out for r in results))
    else:
        raise SystemExit(f"unknown step {name}")


def main(argv=None) -> str:
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=5_000_000)
    args = p.parse_args(argv)
    t = time.perf_counter()
    prepare(args.events)
    print(f"prepared {args.events:,} click events in {time.perf_counter() - t:.0f}s (cached under {paths(args.events)[0]})", file=sys.stderr)
    return compare_with_peers(
        MODULE,
        f"Job 1, clicks (gzip NDJSON), {args.events:,} events",
        args.events,
        floor="bare DuckDB read_json -> COPY",
        ours="clickpipe Job 1 (DuckDB engine)",
        pandas="pandas read_json -> to_parquet",
        steps={"bare DuckDB read_json -> COPY": "duckdb", "clickpipe Job 1 (DuckDB engine)": "clickpipe", "pandas read_json -> to_parquet": "pandas"},
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and not sys.argv[1].startswith("-"):
        step(sys.argv[1], int(sys.argv[2]))
    else:
        main()

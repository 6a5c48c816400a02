"""Glue Job 1 on the click stream against the bare DuckDB floor, a pandas peer and a PySpark peer.

    python -m bench.job1_clicks [--events 5000000]

Input: gzip NDJSON Firehose objects written by `clickpipe simulate` (the project's generator and
local Firehose; about 1,500 objects for 5M events over 6 arrival days), generated once and cached
under bench/out/.
(a) floor: bare DuckDB, read_json with the output's types -> COPY ... PARTITION_BY (dt, event_type).
(b) clickpipe Job 1 (DuckDB engine), one run per arrival day in order (dedup across days included):
    line-level JSON checks, contract rules, quarantine, dedup, checks, publish.
(c) pandas and (d) PySpark local: the same rules and dedup over every object (``bench/peers.py``);
    their rows are compared with clickpipe's, row for row.
Each run is its own process, runs interleaved, medians shown.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time

from bench.harness import OUT, Timer, job1_against_peers, peer_names, report_child, usage

MODULE = "bench.job1_clicks"
DAYS = ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05"]
STEPS = {"floor": "bare DuckDB typed read_json -> COPY", "clickpipe": "clickpipe Job 1 (DuckDB engine)",
         "pandas": "pandas, same rules and dedup", "pyspark": "PySpark local, same rules and dedup"}  # fmt: skip


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


def floor_sql(lake, out) -> str:
    """The typed floor: DuckDB reads every object with the output's types and writes them partitioned."""
    from clickpipe_core.contracts import CLICKS

    columns = "{" + ", ".join(f"'{c.name}': '{'JSON' if c.json_object else c.logical_type.duckdb}'" for c in CLICKS.columns) + "}"
    return f"""COPY (SELECT * EXCLUDE (event_type, properties), CAST(properties AS VARCHAR) AS properties,
                       DATE '{DAYS[0]}' AS ingest_date, CAST(ts AS DATE) AS dt, event_type
                FROM read_json('{lake}/raw/clicks/*/*/*/*/*.gz', format = 'newline_delimited', columns = {columns}, ignore_errors = true))
                TO '{out}' (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (dt, event_type))"""


def step(name: str, events: int) -> None:
    from clickpipe_core.contracts import CLICKS

    base, lake = paths(events)
    out = base / f"out-{name}"
    shutil.rmtree(out, ignore_errors=True)
    with Timer() as t:
        if name == "floor":
            import duckdb

            con = duckdb.connect()
            con.execute("SET TimeZone = 'UTC'")
            counts = {"rows_out": con.execute(floor_sql(lake, out)).fetchone()[0]}
        elif name == "clickpipe":
            from clickpipe_core import layout
            from clickpipe_core.lake_store import LocalStore
            from glue_scripts.duckdb_engine import run_partition

            store = LocalStore(lake)
            # every run from the same start: no output and no dedup state of an earlier run
            for o in [o for zone in (layout.PROCESSED, layout.QUARANTINE, layout.DEDUP) for o in store.list(f"{zone}/")]:
                store.delete(o.key)
            results = [run_partition(store, CLICKS, day) for day in arrival_days(lake)]
            counts = {k: sum(getattr(r, a) for r in results) for k, a in
                      (("rows_in", "rows_in"), ("rows_out", "rows_out"), ("quarantined", "quarantined"), ("duplicates", "duplicates"))}  # fmt: skip
        elif name == "pandas":
            from bench.peers import clicks_objects, pandas_clicks

            counts = pandas_clicks(clicks_objects(lake), out, CLICKS)
        elif name == "pyspark":
            from bench.peers import clicks_objects, local_spark, spark_clicks

            counts = spark_clicks(local_spark(), clicks_objects(lake), out, CLICKS)
        else:
            raise SystemExit(f"unknown step {name}")
    measured = usage()  # before the JVM stops
    report_child(t.seconds, counts["rows_out"], measured, **counts)


def main(argv=None) -> str:
    from clickpipe_core.contracts import CLICKS, LOGICAL_TYPES

    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=5_000_000)
    p.add_argument("--peers", default="pandas,pyspark", help="the peers to run, comma-separated (pandas, pyspark)")
    args = p.parse_args(argv)
    t = time.perf_counter()
    prepare(args.events)
    print(f"prepared {args.events:,} click events in {time.perf_counter() - t:.0f}s (cached under {paths(args.events)[0]})", file=sys.stderr)
    base, lake = paths(args.events)
    # The peers apply the contract's rules, not Job 1's enrichment: rows are compared on the rest.
    columns = [(n, LOGICAL_TYPES[t].duckdb) for n, t in CLICKS.processed_columns if n not in CLICKS.derived_column_names]
    columns += [("dt", "VARCHAR"), ("event_type", "VARCHAR")]
    return job1_against_peers(
        MODULE, f"Job 1, clicks (gzip NDJSON), {args.events:,} events", args.events, STEPS, columns=columns,
        reference=f"{lake}/processed/clicks/*/*/*.parquet", outputs={n: f"{base}/out-{n}/*/*/*.parquet" for n in peer_names(args.peers)},
    )  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) == 3 and not sys.argv[1].startswith("-"):
        step(sys.argv[1], int(sys.argv[2]))
    else:
        main()

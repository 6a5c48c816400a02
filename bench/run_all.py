"""``make bench``: every benchmark, one after the other, results printed and saved in bench/out/."""

from __future__ import annotations

import importlib
from datetime import datetime, timezone

from bench.harness import OUT

BENCHMARKS = ["bench.job1_transactions", "bench.job1_clicks", "bench.simulate", "bench.load_marts", "bench.spark_vs_duckdb", "bench.history_growth"]


def main() -> None:
    OUT.mkdir(exist_ok=True)
    reports = []
    for name in BENCHMARKS:
        print(f"== {name}", flush=True)
        report = importlib.import_module(name).main([])
        reports.append(report if isinstance(report, str) else f"{name}: see its output above")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    (OUT / f"results-{stamp}.txt").write_text("\n\n".join(reports) + "\n")


if __name__ == "__main__":
    main()

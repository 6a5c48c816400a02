"""``make bench``: every benchmark, one after the other, results printed and saved in bench/out/."""

from __future__ import annotations

import importlib
import sys
from datetime import datetime, timezone

from bench.harness import OUT

BENCHMARKS = ["bench.job1_transactions", "bench.spark_vs_duckdb"]


def main() -> None:
    OUT.mkdir(exist_ok=True)
    reports = []
    for name in BENCHMARKS:
        print(f"== {name}", flush=True)
        reports.append(importlib.import_module(name).main(sys.argv[1:] and None))
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    (OUT / f"results-{stamp}.txt").write_text("\n\n".join(reports) + "\n")


if __name__ == "__main__":
    main()

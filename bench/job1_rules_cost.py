"""What a change to Job 1's rules costs: CPU time of Glue Job 1 (DuckDB, one thread) on the same
clean transactions, this code tree against another one (the peer: e.g. main as it was).

    git archive main | tar -x -C /tmp/peer
    python -m bench.job1_rules_cost --peer /tmp/peer [--rows-per-day 500000] [--repeats 5]

Each run is a fresh interpreter with PYTHONPATH set to its tree; runs alternate peer, this, peer,
this...; the sample comes from this tree's generator (both trees accept it). Prints the median CPU
seconds (user + system) of each and the ratio. Not part of ``make bench``: it needs a peer tree.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

THIS = Path(__file__).resolve().parents[1]

CHILD = r"""
import resource, shutil, sys
from pathlib import Path
from clickpipe_core import layout
from clickpipe_core.contracts import TRANSACTIONS, USERS
from clickpipe_core.lake_store import LocalStore
from glue_scripts.duckdb_engine import run_partition

src, lake = Path(sys.argv[1]), Path(sys.argv[2])
shutil.rmtree(lake, ignore_errors=True)
store = LocalStore(lake)
store.put_file(src / "users.csv", layout.raw_batch_key("users", "2026-11-01", "users.csv"))
run_partition(store, USERS, "2026-11-01")
days = sorted(p.name for p in (src / "transactions").iterdir())
for day in days:
    store.put_file(src / "transactions" / day / "transactions.csv", layout.raw_batch_key("transactions", day, "t.csv"))
before = resource.getrusage(resource.RUSAGE_SELF)
rows = sum(run_partition(store, TRANSACTIONS, day, threads=1).rows_in for day in days)
after = resource.getrusage(resource.RUSAGE_SELF)
import clickpipe_core
print(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, rows, clickpipe_core.__file__)
"""


def run(tree: Path, sample: Path, lake: Path) -> tuple[float, int]:
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONWARNINGS": "ignore"}
    # cwd: not a code tree (``python -c`` puts the working directory first on sys.path)
    out = subprocess.run([sys.executable, "-c", CHILD, str(sample), str(lake)], capture_output=True, text=True, env=env,
                         check=True, cwd=lake.parent)  # fmt: skip
    cpu, rows, module = out.stdout.split()
    if not Path(module).resolve().is_relative_to(tree):
        raise SystemExit(f"measured {module}, not the tree {tree}")
    return float(cpu), int(rows)


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--peer", type=Path, required=True, help="the other code tree (a directory with clickpipe_core/)")
    p.add_argument("--rows-per-day", type=int, default=500_000)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-rules-"))
    try:
        sample = work / "sample"
        generate = "import sys; from clickpipe_core.generator.batch import generate; " \
                   "generate(sys.argv[1], days=2, users=20000, transactions_per_day=int(sys.argv[2]), seed=9, dirty_rate=0.0)"  # fmt: skip
        subprocess.run([sys.executable, "-c", generate, str(sample), str(args.rows_per_day)], check=True,
                       capture_output=True, env={**os.environ, "PYTHONPATH": str(THIS)})  # fmt: skip
        cpu: dict[str, list[float]] = {"peer": [], "this": []}
        for _ in range(args.repeats):
            for name, tree in (("peer", args.peer.resolve()), ("this", THIS)):
                seconds, rows = run(tree, sample, work / "lake")
                cpu[name].append(seconds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in cpu.items()}
    report = "\n".join(
        [f"Job 1 (DuckDB, 1 thread) on {rows:,} clean transactions, CPU seconds, median of {args.repeats}"]
        + [f"  {name:<5} {med[name]:6.2f}  {' '.join(f'{x:.2f}' for x in cpu[name])}" for name in cpu]
        + [f"  this / peer: {med['this'] / med['peer']:.3f}"]
    )
    print(report)
    return report


if __name__ == "__main__":
    main()

"""Run benchmark steps in fresh subprocesses, interleaved, and measure wall time, CPU time and peak
memory (RSS), each including the step's child processes (Spark's JVM).

A step is ``python -m <module> <step> <args...>``; it does its work and calls ``report_child``,
which prints one JSON line with its own measurements. ``interleaved`` runs every step once per
round (A B C A B C ...) so that a noisy machine hurts each alike; the tables show medians.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

# Inputs (generated once, cached) and outputs; CLICKPIPE_BENCH_OUT puts them elsewhere (the tests do).
OUT = Path(os.environ.get("CLICKPIPE_BENCH_OUT") or Path(__file__).resolve().parent / "out")
ROUNDS = int(os.environ.get("CLICKPIPE_BENCH_ROUNDS", "3"))


def measure(module: str, step: str, *args: str) -> dict:
    """Runs ``python -m module step args...``; the child prints one JSON line with its own timing."""
    done = subprocess.run(
        [sys.executable, "-m", module, step, *args], capture_output=True, text=True,
        cwd=Path(__file__).resolve().parents[1], env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"{module} {step} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def interleaved(module: str, steps: dict[str, list[str]], rounds: int = ROUNDS) -> dict[str, dict]:
    """Each step (name -> [step, args...]) ``rounds`` times, round-robin; per name the medians of
    seconds and CPU seconds, the largest peak, and the last run's other fields."""
    runs: dict[str, list[dict]] = {name: [] for name in steps}
    for r in range(rounds):
        for name, argv in steps.items():
            print(f"  round {r + 1}/{rounds}: {name}", file=sys.stderr, flush=True)
            runs[name].append(measure(module, *argv))
    out = {}
    for name, rs in runs.items():
        out[name] = {
            **rs[-1],
            "seconds": statistics.median(x["seconds"] for x in rs),
            "cpu_seconds": statistics.median(x["cpu_seconds"] for x in rs),
            "peak_mib": max(x["peak_mib"] for x in rs),
            "runs": len(rs),
        }
    return out


# -- in the measured child ----------------------------------------------------------------------------
def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
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


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (and of its children it has waited for)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return sum(int(fields[i]) for i in (11, 12, 13, 14)) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def _peak_mib(pid: int) -> float:
    """The peak resident memory (VmHWM) of a live process, in MiB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return 0.0


def usage() -> dict:
    """CPU seconds and peak MiB of this process, its finished children and its live descendants
    (call it before stopping a JVM, so that the JVM is still there to be asked)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    live = _descendants(os.getpid())
    return {
        "cpu_seconds": round(own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime + sum(map(_cpu_seconds, live)), 2),
        "peak_mib": round(own.ru_maxrss / 1024 + sum(map(_peak_mib, live)), 1),
    }


def report_child(seconds: float, rows: int, measured: dict | None = None, **extra) -> None:
    print(json.dumps({"seconds": round(seconds, 3), "rows": rows, **(measured or usage()), **extra}))


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


# -- reporting --------------------------------------------------------------------------------------
def table(title: str, results: dict[str, dict], base: str) -> str:
    """A table of implementations with wall and CPU time, peak memory and rows, each ratio against ``base``."""
    lines = [title, f"{'implementation':<40}{'wall s':>8}{'CPU s':>8}{'peak MiB':>10}{'rows out':>12}{'wall x':>8}{'CPU x':>8}"]
    b = results[base]
    for name, r in results.items():
        lines.append(
            f"{name:<40}{r['seconds']:>8.2f}{r['cpu_seconds']:>8.2f}{r['peak_mib']:>10,.0f}{r.get('rows_out', r['rows']):>12,}"
            f"{r['seconds'] / b['seconds']:>8.2f}{r['cpu_seconds'] / b['cpu_seconds']:>8.2f}"
        )
    return "\n".join(lines)


def same_rows(reference: str, others: dict[str, str], columns: list[tuple[str, str]]) -> dict[str, str]:
    """For each other output (a glob of hive-partitioned Parquet files), whether it holds the same
    rows as ``reference``, as multisets (EXCEPT ALL both ways), after casting every column to its
    logical type; a differing row is shown."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")  # the comparison's bars would bury the report
    select = ", ".join(f"CAST({n} AS {t}) AS {n}" for n, t in columns)

    def rel(glob: str) -> str:
        return f"(SELECT {select} FROM read_parquet('{glob}', hive_partitioning = true, union_by_name = true))"

    ref = rel(reference)
    n_ref = con.execute(f"SELECT count(*) FROM {ref}").fetchone()[0]
    verdicts = {}
    for name, glob in others.items():
        other = rel(glob)
        diffs = []
        for who, a, b in (("clickpipe", ref, other), (name, other, ref)):
            only = f"({a} EXCEPT ALL {b})"
            if n := con.execute(f"SELECT count(*) FROM {only}").fetchone()[0]:
                diffs.append(f"{n:,} only in {who}, e.g. {con.execute(f'SELECT * FROM {only} LIMIT 1').fetchone()}")
        verdicts[name] = f"{n_ref:,} rows compared: " + ("DIFFERENT (" + "; ".join(diffs) + ")" if diffs else "the same rows")
    return verdicts


def peer_names(spec: str) -> list[str]:
    """The peers a Job 1 benchmark runs (``--peers pandas,pyspark``)."""
    peers = [p for p in spec.split(",") if p]
    if unknown := set(peers) - {"pandas", "pyspark"}:
        raise SystemExit(f"unknown peer(s) {sorted(unknown)}: choose from pandas, pyspark")
    return peers


def job1_against_peers(module: str, title: str, size: int, steps: dict[str, str], *, reference: str, outputs: dict[str, str], columns) -> str:
    """Job 1 and its peers (``steps``: floor, clickpipe, pandas, pyspark -> label), interleaved;
    the peers' outputs (step -> glob) compared with clickpipe's (``reference``, a glob); the report.
    Peers without an output glob are left out (``--peers``)."""
    steps = {name: label for name, label in steps.items() if name in ("floor", "clickpipe") or name in outputs}
    results = interleaved(module, {label: [name, str(size)] for name, label in steps.items()})
    verdicts = same_rows(reference, {steps[n]: glob for n, glob in outputs.items()}, columns)
    return job1_report(
        title, results, ours=steps["clickpipe"], floor=steps["floor"], peers=[steps[n] for n in outputs], verdicts=verdicts
    )


def job1_report(title: str, results: dict[str, dict], *, ours: str, floor: str, peers: list[str], verdicts: dict[str, str]) -> str:
    """The table and the ratios Issue 14 asks for: CPU against the floor (target <= 1.5x), wall
    time against each peer (target >= 5x faster), the rows compared, peak memory."""
    text = table(title, results, ours)
    mine = results[ours]
    text += f"\nclickpipe CPU / {floor}: {mine['cpu_seconds'] / results[floor]['cpu_seconds']:.2f}x (target <= 1.5x)"
    for peer in peers:
        r = results[peer]
        counts = ", ".join(f"{k} {r[k]:,} vs {mine[k]:,}" for k in ("rows_in", "rows_out", "quarantined", "duplicates") if k in r and k in mine)
        text += (
            f"\n{peer}: clickpipe is {r['seconds'] / mine['seconds']:.1f}x faster in wall time (target >= 5x), "
            f"{r['cpu_seconds'] / mine['cpu_seconds']:.1f}x in CPU; counts {counts}; output: {verdicts.get(peer, 'not compared')}"
        )
    text += f"\n(medians of {mine['runs']} interleaved runs; peak MiB includes child processes such as Spark's JVM)"
    print(text)
    return text

"""Run a benchmark step in a fresh subprocess and measure wall time and peak memory (RSS)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def measure(module: str, step: str, *args: str) -> dict:
    """Runs ``python -m module step args...``; the child prints one JSON line with its own timing."""
    done = subprocess.run(
        [sys.executable, "-m", module, step, *args], capture_output=True, text=True,
        cwd=Path(__file__).resolve().parents[1], env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"{module} {step} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report_child(seconds: float, rows: int, **extra) -> None:
    import resource

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rows": rows, "peak_mib": round(peak_mib, 1), **extra}))


def table(title: str, results: dict[str, dict], floor: str) -> str:
    ratio = f"x {floor}"
    width = max(12, len(ratio) + 2)
    lines = [title, f"{'implementation':<36}{'seconds':>9}{'rows/s':>14}{'peak MiB':>10}{ratio:>{width}}"]
    base = results[floor]["seconds"]
    for name, r in results.items():
        lines.append(
            f"{name:<36}{r['seconds']:>9.2f}{r['rows'] / r['seconds']:>14,.0f}{r['peak_mib']:>10,.0f}{r['seconds'] / base:>{width}.2f}"
        )
    return "\n".join(lines)


def compare_with_peers(module: str, title: str, size: int, *, floor: str, ours: str, pandas: str, steps: dict[str, str]) -> str:
    """Run each implementation (name -> step of ``module``) in its own process on the same input;
    print and return the table with the ratios the issues ask for (<= 1.5x the floor, >= 5x pandas)."""
    results = {name: measure(module, step, str(size)) for name, step in steps.items()}
    text = table(title, results, floor)
    mine, theirs = results[ours]["seconds"], results[pandas]["seconds"]
    text += f"\nclickpipe is {theirs / mine:.1f}x faster than pandas (target >= 5x); "
    text += f"{mine / results[floor]['seconds']:.2f}x the bare DuckDB time (target <= 1.5x)"
    print(text)
    return text

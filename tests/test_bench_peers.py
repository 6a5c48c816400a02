"""The benchmarks' pandas peers apply Job 1's rules and dedup: on a small input, ``python -m bench.job1_*``
reports the same counts and the same rows, row for row, for the pandas peer as for clickpipe.

No timing is asserted (the ratios are ``make bench``'s business); this keeps the benchmarks runnable
and their peers honest. The PySpark peer is left out here (``--peers pandas``): a JVM for a few
thousand rows would double the test's cost; it shares the rules' spelling (``bench/peers.py``'s checks)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PEER = "pandas, same rules and dedup"
pytestmark = pytest.mark.slow


def _bench(tmp_path: Path, module: str, *args: str) -> str:
    env = {**os.environ, "CLICKPIPE_BENCH_OUT": str(tmp_path / "bench"), "CLICKPIPE_BENCH_ROUNDS": "1", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, "-m", module, *args, "--peers", "pandas"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _peer_line(report: str) -> str:
    (line,) = [x for x in report.splitlines() if x.startswith(f"{PEER}:")]
    return line


@pytest.mark.parametrize(
    "module, size",
    [("bench.job1_transactions", ["--rows", "4000"]), ("bench.job1_clicks", ["--events", "5000"])],
    ids=["transactions", "clicks"],
)
def test_the_pandas_peer_writes_what_clickpipe_writes(tmp_path, module, size):
    report = _bench(tmp_path, module, *size)
    line = _peer_line(report)
    pairs = re.findall(r"(rows_in|rows_out|quarantined|duplicates) ([\d,]*\d) vs ([\d,]*\d)", line)
    assert {name for name, _, _ in pairs} == {"rows_in", "rows_out", "quarantined", "duplicates"}, line
    assert all(peer == ours for _, peer, ours in pairs), line
    assert re.search(r"output: [\d,]+ rows compared: the same rows$", line), line
    counts = {name: int(ours.replace(",", "")) for name, _, ours in pairs}
    assert counts["rows_out"] > 0 and counts["duplicates"] > 0, line
    if module == "bench.job1_transactions":  # the generator's dirty rows: the rules are exercised
        assert counts["quarantined"] > 0, line
    assert "PySpark" not in report  # --peers pandas: the floor, clickpipe and pandas only

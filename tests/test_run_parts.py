"""``make test``'s runner (tests/run_parts.py): every part runs to its end whatever the others do,
each log comes out whole, and the exit status and the closing lines name each part's result."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from run_parts import CPUACCT

RUNNER = Path(__file__).with_name("run_parts.py")


def run(tmp_path, *parts: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(RUNNER), "--logs", str(tmp_path / "logs"), *parts],
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_a_failing_part_does_not_stop_the_others_and_fails_the_run(tmp_path):
    done = run(
        tmp_path,
        "first=echo '==== 1 failed, 2 passed in 0.50s ===='; exit 1",
        "slow=sleep 1; echo line one; echo line two; echo '==== 3 passed, 1 skipped in 1.00s (0:00:01) ===='",
        "plain=touch " + str(tmp_path / "ran"),
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert (tmp_path / "ran").exists()  # started although another part failed
    out = done.stdout
    assert "line one\nline two\n" in out  # a part's log comes out in one piece
    assert (tmp_path / "logs" / "slow.log").read_text().startswith("line one")
    table = out[out.index("\npart ") + 1:]
    assert [line.split()[:2] for line in table.splitlines()[1:4]] == [["first", "FAILED"], ["slow", "passed"], ["plain", "passed"]]
    assert "FAILED: first" in table
    assert out.rstrip().splitlines()[-1] == "tests: 5 passed, 1 failed, 1 skipped"
    Path(re.search(r"temporary files are kept in (\S+)", out).group(1)).rmdir()


def test_every_part_passing_exits_zero(tmp_path):
    done = run(tmp_path, "a=echo '== 4 passed, 2 deselected in 0.10s =='", "b=true")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "every part passed" in done.stdout
    assert done.stdout.rstrip().splitlines()[-1] == "tests: 4 passed, 0 failed"


def test_a_part_that_is_not_name_equals_command_is_refused(tmp_path):
    done = run(tmp_path, "no command here")
    assert done.returncode == 2 and "is not NAME=COMMAND" in done.stderr


def test_the_summary_says_how_busy_the_machine_was(tmp_path):
    spin = tmp_path / "spin.py"
    spin.write_text("import time\nt = time.process_time()\nwhile time.process_time() - t < 1.0:\n    pass\n")
    done = run(tmp_path, f"busy=bash -c '{sys.executable} {spin}'")
    assert done.returncode == 0, done.stdout + done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("machine CPU busy"))
    busy, available = (float(n) for n in re.match(r"machine CPU busy (\d+) s of (\d+) s", line).groups())
    assert 1 <= busy <= available, line  # the part's own second of CPU at least


def test_a_part_is_charged_for_the_cpu_of_what_it_left_running(tmp_path):
    """A detached process (as a server started with pg_ctl is) is not waited for by the part, yet its CPU is
    the part's: each part runs in its own cgroup where the runner may make one (root, as CI runs)."""
    if not os.access(CPUACCT, os.W_OK):
        pytest.skip(f"cannot make cgroups under {CPUACCT} (not root): the table has no CPU column here")
    spin, done_flag = tmp_path / "spin.py", tmp_path / "spun"
    spin.write_text("import sys, time\nt = time.process_time()\nwhile time.process_time() - t < 1.0:\n    pass\n"
                    "open(sys.argv[1], 'w').close()\n")  # fmt: skip
    done = run(tmp_path, f"detached=( setsid {sys.executable} {spin} {done_flag} & ); "
                         f"while [ ! -e {done_flag} ]; do sleep 0.05; done", "idle=true")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    table = done.stdout[done.stdout.index("\npart ") + 1:].splitlines()
    assert table[0].split()[:4] == ["part", "result", "wall", "s"] and "CPU" in table[0]
    cpu = {line.split()[0]: float(line.split()[3]) for line in table[1:3]}
    assert cpu["detached"] >= 1 and cpu["idle"] < 1, table
    assert not list(CPUACCT.glob("clickpipe-test-*-detached"))  # groups removed


def test_each_part_gets_a_pytest_basetemp_of_its_own_removed_when_all_passed(tmp_path):
    """Parts sharing pytest's default /tmp/pytest-of-USER break each other's embedded PostgreSQL."""
    done = run(tmp_path, 'a=echo "opts: $PYTEST_ADDOPTS"', 'b=echo "opts: $PYTEST_ADDOPTS"')
    assert done.returncode == 0, done.stdout + done.stderr
    temps = re.findall(r"^opts: .*--basetemp=(\S+)$", done.stdout, re.M)
    assert len(temps) == 2 and len(set(temps)) == 2, done.stdout
    roots = {Path(t).parent for t in temps}
    assert len(roots) == 1 and {Path(t).name for t in temps} == {"a", "b"}
    assert not roots.pop().exists()  # every part passed: nothing kept
    failed = run(tmp_path, "bad=exit 3")
    kept = re.search(r"temporary files are kept in (\S+)", failed.stdout)
    assert failed.returncode == 1 and kept and Path(kept.group(1)).is_dir()
    Path(kept.group(1)).rmdir()

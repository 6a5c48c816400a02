"""Run the parts of ``make test`` side by side and report each one.

``python tests/run_parts.py --logs DIR NAME=COMMAND ...`` starts every COMMAND at once (``bash -c``,
each in its own process group, its output in ``DIR/NAME.log``). The daemon scenario mostly waits
on the Dagster daemon's cadences and the rehearsal on its emulators and Glue runs, so their waits
overlap with the other parts' work instead of following it. As each part ends, its whole log is printed in one piece (never
interleaved with another's) with its result; at the end a table gives every part's result and
wall time, a line says how busy the machine's CPUs were meanwhile (``/proc/stat``: every process
counts, servers the parts started and anything else the machine ran), and the last line adds up the
test counts of the pytest summaries. Where this process may make cgroups (root on a cgroup v1
``cpuacct`` hierarchy, as CI runs), each part runs in its own cgroup and the table also gives the
CPU seconds of everything the part started, daemons (PostgreSQL) and JVMs included. Every part
runs to its end whatever the others do; the exit status is 1 if any part failed.

Each part's pytest gets a temporary directory of its own (``--basetemp`` added to ``PYTEST_ADDOPTS``,
under one directory per run, removed when every part passed, else kept and named). Sharing pytest's
default ``/tmp/pytest-of-USER`` is not safe: each pytest session that starts makes it private again
(mode 0700), and an embedded PostgreSQL, which runs as its own system user when tests run as root,
then cannot reach its data directory under another part's temporary directory.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

# pytest's closing line, e.g. "==== 2 failed, 340 passed, 13 deselected in 312.40s (0:05:12) ===="
PYTEST_SUMMARY = re.compile(r"^=+ (.+) in [\d.]+s( \([\d:]+\))? =+$")
COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)")


@dataclass
class Part:
    name: str
    command: str
    log: Path
    proc: subprocess.Popen | None = None
    started: float = 0.0
    wall: float = 0.0
    cpu: float | None = None
    cgroup: Path | None = None
    basetemp: Path | None = None
    status: int | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == 0


def pytest_counts(text: str) -> dict[str, int]:
    """Test counts from every pytest closing line in ``text`` (a part may run pytest more than once)."""
    counts: dict[str, int] = {}
    for line in text.splitlines():
        m = PYTEST_SUMMARY.match(line.strip())
        if m:
            for n, kind in COUNT.findall(m.group(1)):
                kind = "error" if kind.startswith("error") else kind
                counts[kind] = counts.get(kind, 0) + int(n)
    return counts


def busy_cpu_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (``/proc/stat``: all but idle and
    I/O wait), or None where there is no ``/proc/stat``."""
    try:
        with open("/proc/stat") as f:
            user, nice, system, idle, iowait, *rest = (int(v) for v in f.readline().split()[1:])
    except (OSError, ValueError):
        return None
    return (user + nice + system + sum(rest[:3])) / os.sysconf("SC_CLK_TCK")  # + irq, softirq, steal


CPUACCT = Path("/sys/fs/cgroup/cpuacct")


def make_cgroup(name: str) -> Path | None:
    """A fresh cpuacct cgroup for one part, or None where cgroups cannot be made (not root, cgroup v2)."""
    group = CPUACCT / f"clickpipe-test-{os.getpid()}-{name}"
    try:
        group.mkdir()
    except OSError:
        return None
    return group


def cgroup_cpu_seconds(group: Path) -> float | None:
    try:
        return int((group / "cpuacct.usage").read_text()) / 1e9
    except (OSError, ValueError):
        return None


def remove_cgroup(group: Path) -> None:
    """Move what the part left running (a server it did not stop) to the root group, then remove the group."""
    try:
        for pid in (group / "cgroup.procs").read_text().split():
            (CPUACCT / "cgroup.procs").write_text(pid)
        group.rmdir()
    except OSError:
        pass


def start(part: Part) -> None:
    part.log.parent.mkdir(parents=True, exist_ok=True)
    part.cgroup = make_cgroup(part.name)
    procs = part.cgroup / "cgroup.procs" if part.cgroup else None

    def join_cgroup() -> None:  # in the child, before bash starts: all it starts inherits the group
        if procs is not None:
            procs.write_text(str(os.getpid()))

    env = dict(os.environ)
    if part.basetemp is not None:
        env["PYTEST_ADDOPTS"] = f"{env.get('PYTEST_ADDOPTS', '')} --basetemp={part.basetemp}".strip()
    with open(part.log, "wb") as out:
        part.proc = subprocess.Popen(["bash", "-c", part.command], stdout=out, stderr=subprocess.STDOUT, env=env,
                                     stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=join_cgroup)  # fmt: skip
    part.started = time.monotonic()


def finish(part: Part, status: int) -> None:
    part.wall = time.monotonic() - part.started
    part.status = os.waitstatus_to_exitcode(status)
    if part.cgroup is not None:
        part.cpu = cgroup_cpu_seconds(part.cgroup)
        remove_cgroup(part.cgroup)
    text = part.log.read_text(errors="replace")
    part.counts = pytest_counts(text)
    bar = "#" * 100
    print(f"\n{bar}\n# {part.name}: {part.command}\n{bar}", flush=True)
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    print(f"# {part.name}: {'passed' if part.ok else f'FAILED (exit {part.status})'} in {part.wall:.0f} s (log: {part.log})", flush=True)


def stop_all(parts: list[Part], sig: int) -> None:
    for p in parts:
        if p.proc is not None and p.status is None:
            try:
                os.killpg(p.proc.pid, sig)
            except ProcessLookupError:
                pass


def run(parts: list[Part]) -> int:
    t0, busy0 = time.monotonic(), busy_cpu_seconds()
    temp_root = Path(tempfile.mkdtemp(prefix="clickpipe-test-"))
    for p in parts:
        p.basetemp = temp_root / p.name
        start(p)
        print(f"started {p.name}: {p.command}  (log: {p.log})", flush=True)
    by_pid = {p.proc.pid: p for p in parts}

    def interrupted(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupted)
    try:
        while any(p.status is None for p in parts):
            pid, status = os.wait()
            if pid in by_pid:
                finish(by_pid[pid], status)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping every part", file=sys.stderr, flush=True)
        stop_all(parts, signal.SIGINT)
        time.sleep(5)
        stop_all(parts, signal.SIGKILL)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        for p in parts:
            if p.cgroup is not None and p.status is None:
                remove_cgroup(p.cgroup)

    total: dict[str, int] = {}
    with_cpu = any(p.cpu is not None for p in parts)
    print(f"\n{'part':<12}{'result':<10}{'wall s':>8}" + (f"{'CPU s':>8}" if with_cpu else "") + "  tests")
    for p in parts:
        for k, v in p.counts.items():
            total[k] = total.get(k, 0) + v
        tests = ", ".join(f"{v} {k}" for k, v in p.counts.items()) or "-"
        cpu = (f"{p.cpu:>8.0f}" if p.cpu is not None else f"{'-':>8}") if with_cpu else ""
        print(f"{p.name:<12}{'passed' if p.ok else 'FAILED':<10}{p.wall:>8.0f}{cpu}  {tests}")
    wall, busy1 = time.monotonic() - t0, busy_cpu_seconds()
    if busy0 is not None and busy1 is not None:
        cores = os.cpu_count() or 1
        busy = busy1 - busy0
        # Busy near 100%: the parts were CPU-bound, and only less work makes them faster here.
        print(f"machine CPU busy {busy:.0f} s of {wall * cores:.0f} s on {cores} cores ({100 * busy / (wall * cores):.0f}%): "
              f"the same work needs at least {busy / cores:.0f} s of wall on this machine")
    failed_parts = [p.name for p in parts if not p.ok]
    if failed_parts:
        print(f"the parts' temporary files are kept in {temp_root}")
    else:
        shutil.rmtree(temp_root, ignore_errors=True)
    print(f"all parts in {wall:.0f} s wall; "
          + (f"FAILED: {', '.join(failed_parts)}" if failed_parts else "every part passed"))  # fmt: skip
    failed = total.get("failed", 0) + total.get("error", 0)
    print(f"tests: {total.get('passed', 0)} passed, {failed} failed" + (f", {total['skipped']} skipped" if total.get("skipped") else ""))
    return 1 if failed_parts else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--logs", required=True, type=Path, help="directory for one NAME.log per part")
    ap.add_argument("parts", nargs="+", metavar="NAME=COMMAND")
    args = ap.parse_args(argv)
    parts = []
    for spec in args.parts:
        name, sep, command = spec.partition("=")
        if not sep or not name.isidentifier() or not command.strip():
            ap.error(f"{spec!r} is not NAME=COMMAND")
        parts.append(Part(name, command, args.logs / f"{name}.log"))
    return run(parts)


if __name__ == "__main__":
    sys.exit(main())

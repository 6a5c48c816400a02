"""Faults of the environment: a read-only lake, processed zone, DAGSTER_HOME or PostgreSQL data
directory, a full disk. Each is one line that names the path and what to do (exit 2 for a job run
by hand, 1 for the CLI), never a traceback; and nothing is half-published.

The faults are real: the command runs in a private mount namespace where the path is bind-mounted
read-only, or is a tmpfs filled to the brim. Where this machine allows no mount namespace, the
path loses its write permission and the command runs without the power to ignore that (root
without CAP_DAC_OVERRIDE: EACCES), under a file size limit for the full disk (EFBIG): the same
classes of fault, through the same code.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from clickpipe_core import layout

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
JOB1, JOB2 = ROOT / "glue_scripts" / "raw_to_processed.py", ROOT / "glue_scripts" / "processed_to_rds.py"
CLI = Path(sys.executable).parent / "clickpipe"
DAY = "2026-11-01"
USERS_CSV = "user_id,full_name,country,signup_date\n" + "".join(f"U{i:07d},Name {i},US,2025-01-01\n" for i in range(3000))


def _mount_namespaces() -> bool:
    if os.environ.get("CLICKPIPE_TEST_FAULTS") == "permissions":  # try the fallback where mounts work too
        return False
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"], capture_output=True)
    return probe.returncode == 0


MOUNTS = _mount_namespaces()
# What a read-only path and a full disk look like from the job, by the way they are made here.
READ_ONLY = "is on a read-only file system" if MOUNTS else "is not writable by this user (permission denied)"
FULL = "has no space left on its device" if MOUNTS else "cannot grow: a file size limit was reached"


@pytest.fixture
def world():
    """A directory for the paths under test (not under pytest's own tmp_path: mounts name it)."""
    base = Path(tempfile.mkdtemp(prefix="clickpipe-faults-"))
    yield base
    subprocess.run(["chmod", "-R", "u+rwX", str(base)], capture_output=True)
    shutil.rmtree(base, ignore_errors=True)


def confined(cmd: list[str], *, read_only: tuple[Path, ...] = (), full: tuple[Path, ...] = (), env=None, sockets=False):
    """Run ``cmd`` where ``read_only`` paths cannot be written and the disk under ``full`` paths has
    no room; returns the completed process. ``sockets``: it must reach the test PostgreSQL (whose
    socket only its owner may use: root keeps its powers in the fallback then)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    env.pop("DAGSTER_PIPES_CONTEXT", None)
    if MOUNTS:
        script = ["set -e"]
        for p in read_only:
            script.append(f"mount --bind -o ro '{p}' '{p}'")
        for p in full:
            script += [
                f"keep=$(mktemp -d); cp -a '{p}/.' \"$keep/\"; mount -t tmpfs -o size=1m tmpfs '{p}'; cp -a \"$keep/.\" '{p}/'",
                f"head -c 2m /dev/zero > '{p}/.filler' 2>/dev/null || true",
            ]
        script.append('exec "$@"')
        full_cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", "\n".join(script), "sh", *cmd]
        return subprocess.run(full_cmd, capture_output=True, text=True, env=env, timeout=600)

    # No mount namespace: the path loses its write permission, and root its power to ignore that
    # (setpriv drops CAP_DAC_OVERRIDE); the disk is "full" at a file size limit.
    for p in read_only:
        subprocess.run(["chmod", "-R", "a-w", str(p)], check=True)
    if os.geteuid() == 0 and not sockets:
        caps = "-dac_override,-dac_read_search"
        cmd = ["setpriv", "--bounding-set", caps, "--inh-caps", caps, "--", *cmd]

    def limits():
        if full:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, 16 * 1024))

    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, preexec_fn=limits)


def one_clear_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    if os.environ.get("CLICKPIPE_TEST_FAULTS_SHOW"):
        print(lines, file=sys.__stderr__)
    assert len(lines) == 1, err
    assert "Traceback" not in err and "Errno" not in err, err
    return lines[0]


def lake_with_users(world: Path) -> Path:
    lake = world / "lake"
    (lake / layout.raw_partition_prefix("users", DAY)).mkdir(parents=True)
    (lake / layout.raw_batch_key("users", DAY, "users.csv")).write_text(USERS_CSV)
    return lake


def job1(lake: Path) -> list[str]:
    return [sys.executable, str(JOB1), "--dataset", "users", "--lake", str(lake), "--partition", DAY]


def test_job1_on_a_read_only_lake(world):
    lake = lake_with_users(world)
    run = confined(job1(lake), read_only=(lake,))
    assert run.returncode == 2
    line = one_clear_line(run.stderr)
    assert line.startswith(f"clickpipe: users {DAY}: {lake}") and READ_ONLY in line and "--lake" in line
    assert not (lake / "processed").exists()


def test_job1_on_a_read_only_processed_zone(world):
    """The rename from the lake's staging area into a read-only mount fails as a cross-device
    rename (EXDEV) first: the message says what is really wrong, and names the directory."""
    lake = lake_with_users(world)
    (lake / "processed" / "users").mkdir(parents=True)
    run = confined(job1(lake), read_only=(lake / "processed",))
    assert run.returncode == 2
    line = one_clear_line(run.stderr)
    assert f"{lake / 'processed'}" in line and READ_ONLY in line
    assert list((lake / "processed" / "users").iterdir()) == []
    assert [p.name for p in (lake / "_tmp").iterdir()] == []  # its staging is cleaned up on the way out


def test_job1_on_a_full_disk(world):
    lake = lake_with_users(world)
    run = confined(job1(lake), full=(lake,))
    assert run.returncode == 2
    line = one_clear_line(run.stderr)
    assert line.startswith(f"clickpipe: users {DAY}: ") and FULL in line
    assert not (lake / "processed" / "users" / "users.parquet").exists()


def test_job2_reads_a_read_only_lake(world, local_store, pg_url):
    """Job 2 only reads the lake: a read-only one is fine."""
    from glue_scripts.duckdb_engine import run_partition
    from clickpipe_core.contracts import USERS
    from clickpipe_core.lake_store import LocalStore

    lake = lake_with_users(world)
    run_partition(LocalStore(lake), USERS, DAY)
    before = sorted((str(p), p.stat().st_mtime_ns) for p in lake.rglob("*"))
    run = confined([sys.executable, str(JOB2), "--marts", "users", "--lake", str(lake)], read_only=(lake,),
                   env={"CLICKPIPE_JOB_PG_URL": pg_url}, sockets=True)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert sorted((str(p), p.stat().st_mtime_ns) for p in lake.rglob("*")) == before


def test_upload_into_a_read_only_lake(world):
    home = world / "home"
    (home / "lake").mkdir(parents=True)
    source = world / "users.csv"
    source.write_text(USERS_CSV)
    run = confined([str(CLI), "upload", str(source), "--dataset", "users", "--date", DAY], read_only=(home / "lake",),
                   env={"CLICKPIPE_HOME": str(home)})  # fmt: skip
    assert run.returncode == 1
    line = one_clear_line(run.stderr)
    assert line.startswith(f"Error: {home / 'lake'}") and READ_ONLY in line and "CLICKPIPE_HOME" in line


def test_demo_with_a_read_only_dagster_home(world):
    home, dagster_home = world / "home", world / "dagster"
    home.mkdir()
    dagster_home.mkdir()
    run = confined([str(CLI), "demo", "--days", "1", "--users", "50", "--transactions-per-day", "10"],
                   read_only=(dagster_home,), env={"CLICKPIPE_HOME": str(home), "DAGSTER_HOME": str(dagster_home)},)  # fmt: skip
    assert run.returncode == 1
    line = one_clear_line(run.stderr)
    assert line.startswith(f"Error: {dagster_home}") and READ_ONLY in line and "DAGSTER_HOME" in line


def test_query_with_a_read_only_postgres_data_directory(world):
    home = world / "home"
    (home / "pg").mkdir(parents=True)
    run = confined([str(CLI), "query", "--on", "rds", "SELECT 1"], read_only=(home / "pg",),
                   env={"CLICKPIPE_HOME": str(home)})  # fmt: skip
    assert run.returncode == 1
    line = one_clear_line(run.stderr)
    assert line.startswith(f"Error: could not start the embedded PostgreSQL: {home / 'pg'}") and READ_ONLY in line

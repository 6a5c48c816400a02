"""Crash hygiene: kill -9 inside Glue Job 1 and Job 2 at chosen points (tests/kill_points.py freezes
the real run there, then the test kills it: no timing), then the ledger: every record once, no
staging left behind, no embedded PostgreSQL left running, no stale pid, no traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import psycopg
import pytest

import nasty_corpus as corpus
from click_fixtures import at
from clickpipe_core import layout
from clickpipe_core.contracts import CLICKS, TRANSACTIONS, USERS
from clickpipe_core.lake_store import LocalStore, is_stale, owned_name
from glue_scripts.duckdb_engine import run_partition

pytestmark = pytest.mark.slow  # whole programs end to end: `make test` runs them, `make test-fast` does not

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
JOB1, JOB2 = ROOT / "glue_scripts" / "raw_to_processed.py", ROOT / "glue_scripts" / "processed_to_rds.py"
DAY, DAY2, DAY3 = "2026-11-01", "2026-11-02", "2026-11-03"
WAIT = 120  # seconds: a generous bound for a frozen process or the reaper to act; never a measurement


def wait_for(condition, what: str):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


def frozen_run(tmp_path: Path, point: str, script: Path, *args: str, embedded_pg: Path | None = None, env=None):
    """Start ``script`` under kill_points, frozen at ``point``; returns the process once it is there."""
    marker = tmp_path / f"frozen-{time.monotonic_ns()}"
    extra = ["--embedded-pg", str(embedded_pg)] if embedded_pg else []
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "kill_points.py"), str(marker), point, *extra, "--", str(script), *args],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{HERE}", **(env or {})},
    )  # fmt: skip
    wait_for(lambda: marker.exists() or proc.poll() is not None, f"{script.name} to reach {point}")
    assert proc.poll() is None, f"{script.name} ended before {point}: {proc.communicate()}"
    return proc


def kill9(proc) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL


def staging(store: LocalStore) -> list[str]:
    tmp = store.root / LocalStore.TMP
    return sorted(p.name for p in tmp.iterdir()) if tmp.exists() else []


def fill_corpus(store: LocalStore) -> dict:
    """Users, transactions (control characters, amounts per currency) and clicks of the corpus."""
    users, user_fates = corpus.users_with_control_characters()
    users = users.replace(b"\n", b"\nU1,Ann Lee,,US,2025-01-01,free\n", 1)
    user_fates = [("processed", "U1"), *user_fates]
    files = {"users": {layout.raw_batch_key("users", DAY, "users.csv"): (users, user_fates)}}
    controls, control_fates = corpus.transactions_with_control_characters()
    amounts, amount_fates, _ = corpus.amounts_by_currency(DAY)
    files["transactions"] = {
        layout.raw_batch_key("transactions", DAY, "amounts.csv"): (amounts, amount_fates),
        layout.raw_batch_key("transactions", DAY, "controls.csv"): (controls, control_fates),
    }
    clicks, click_fates = corpus.clicks_with_control_characters(DAY)
    files["clicks"] = {layout.raw_clicks_key("clickpipe-clicks", at(DAY), "nasty"): (clicks, click_fates)}
    for per_dataset in files.values():
        for key, (data, _) in per_dataset.items():
            store.put_bytes(data, key)
    return files


# -- staging -------------------------------------------------------------------------------------------


def _entry_of_a_killed_process(store: LocalStore) -> list[str]:
    """A process that stages (a directory and a half-written file) and is killed: what it left."""
    code = (
        "import os, signal, sys; from clickpipe_core.lake_store import LocalStore, owned_name; s = LocalStore(sys.argv[1]); "
        "d = s.staging_dir(); (d / 'half.parquet').write_bytes(b'PAR1'); (d.parent / owned_name('.part')).write_bytes(b'x'); "
        "os.kill(os.getpid(), signal.SIGKILL)"
    )
    before = set(staging(store))
    subprocess.run([sys.executable, "-c", code, str(store.root)], env={**os.environ, "PYTHONPATH": str(ROOT)})
    return sorted(set(staging(store)) - before)


def test_staging_of_killed_runs_is_swept_and_a_live_runs_is_kept_however_old(local_store, tmp_path):
    # A live run, frozen right after it created its staging directory (two days ago, say).
    local_store.put_bytes(b"user_id,full_name,country,signup_date\nU1,Ann,US,2025-01-01\n", layout.raw_batch_key("users", DAY, "u.csv"))
    live = frozen_run(tmp_path, "clickpipe_core.lake_store:LocalStore.staging_dir:1:after", JOB1,
                      "--dataset", "users", "--lake", str(local_store.root), "--partition", DAY)  # fmt: skip
    (live_entry,) = [n for n in staging(local_store) if f"~{live.pid}~" in n]
    dead = _entry_of_a_killed_process(local_store)  # its own staging_dir() swept nothing: the live run's stays
    assert len(dead) == 2 and all(is_stale(local_store.root / "_tmp" / n) for n in dead)
    assert live_entry in staging(local_store)
    old = time.time() - 2 * 24 * 3600
    os.utime(local_store.root / "_tmp" / live_entry, (old, old))
    # Entries whose owner cannot be checked (another host, an older release): by age only.
    foreign_old, foreign_new = local_store.root / "_tmp" / "abc~otherhost~1~1.00", local_store.root / "_tmp" / "0123.part"
    foreign_old.mkdir()
    foreign_new.write_bytes(b"x")
    os.utime(foreign_old, (old, old))
    try:
        removed = local_store.sweep_staging()
        assert sorted(removed) == sorted([*dead, foreign_old.name])
        assert staging(local_store) == sorted([live_entry, foreign_new.name])
    finally:
        kill9(live)
    assert local_store.sweep_staging() == [live_entry]  # now that its owner is gone


def test_a_recycled_pid_does_not_keep_a_dead_runs_staging(local_store):
    """An entry names its owner's pid and start time: another process under the same pid is not it."""
    name = owned_name()
    host, pid, start = name.split("~")[1:]
    assert int(pid) == os.getpid()
    recycled = local_store.root / "_tmp" / f"x~{host}~{pid}~{float(start) - 100:.2f}"
    mine = local_store.root / "_tmp" / name
    recycled.mkdir(parents=True)
    mine.mkdir()
    assert is_stale(recycled) and not is_stale(mine)


# -- kill -9 inside Job 1 ---------------------------------------------------------------------------------

JOB1_POINTS = {
    "staged": "clickpipe_core.lake_store:LocalStore.staging_dir:1:after",  # staging made, nothing written
    "mid-publish": "os:replace:2:before",  # the first file published, the others not
}


@pytest.mark.parametrize("point", JOB1_POINTS)
@pytest.mark.parametrize("dataset", ["users", "transactions", "clicks"])
def test_kill_9_inside_job1_then_a_rerun_accounts_for_every_record_and_leaves_no_staging(local_store, tmp_path, point, dataset):
    files = fill_corpus(local_store)
    if dataset != "users":
        run_partition(local_store, USERS, DAY)  # the reference snapshot transactions need
    args = ["--dataset", dataset, "--lake", str(local_store.root), "--partition", DAY]
    kill9(frozen_run(tmp_path, JOB1_POINTS[point], JOB1, *args))
    assert staging(local_store), "the killed run left its staging behind"
    for o in local_store.list("processed/"):  # whatever was published is whole
        with local_store.local_copy(o.key) as p:
            import pyarrow.parquet as pq

            pq.read_table(p)

    ds = {"users": USERS, "transactions": TRANSACTIONS, "clicks": CLICKS}[dataset]
    result = run_partition(local_store, ds, DAY)
    assert staging(local_store) == []
    expected = {k: fates for k, (_, fates) in files[dataset].items()}
    corpus.assert_ledger(result, corpus.ledger(local_store, ds, DAY), expected)


# -- the embedded PostgreSQL ---------------------------------------------------------------------------


CLIENT = (
    "import sys; from clickpipe_dagster.resources.warehouse import LocalWarehouseResource; "
    "w = LocalWarehouseResource(pg_dir=sys.argv[1]); w.check_connection(); print(w.server().get_pid(), flush=True); "
    "sys.stdin.readline()"
)


def client(pg_dir: Path):
    """A process that uses the embedded server (as the CLI or a Dagster run does) until told to exit."""
    proc = subprocess.Popen([sys.executable, "-c", CLIENT, str(pg_dir)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    line = proc.stdout.readline()
    if not line.strip():
        raise AssertionError(f"the client did not start: {proc.communicate()}")
    return proc, int(line)


def handles(pg_dir: Path) -> list[int]:
    return json.loads((pg_dir / ".handle_pids.json").read_text())


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def reapers(pg_dir: Path) -> list[int]:
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        if p.info["status"] != psutil.STATUS_ZOMBIE and p.info["cmdline"] and p.info["cmdline"][-2:] == ["--reap", str(pg_dir)]:
            found.append(p.pid)
    return found


def assert_all_gone(pg_dir: Path, postmaster: int) -> None:
    wait_for(lambda: not running(postmaster), "the embedded server to stop")
    wait_for(lambda: not reapers(pg_dir), "the reaper to exit")
    assert handles(pg_dir) == [] and not (pg_dir / "postmaster.pid").exists()


def test_a_killed_client_leaves_no_stale_pid_and_the_last_one_stops_the_server(tmp_path):
    pg_dir = tmp_path / "pg"
    a, postmaster = client(pg_dir)
    b, same = client(pg_dir)
    assert same == postmaster and sorted(handles(pg_dir)) == sorted([a.pid, b.pid])
    kill9(a)
    wait_for(lambda: handles(pg_dir) == [b.pid], "the killed client's pid to be dropped")
    assert running(postmaster)  # b still uses it
    out, err = b.communicate("\n")
    assert b.returncode == 0 and err == ""
    assert_all_gone(pg_dir, postmaster)


def test_the_server_stops_when_its_last_client_is_killed(tmp_path):
    pg_dir = tmp_path / "pg"
    a, postmaster = client(pg_dir)
    kill9(a)
    assert_all_gone(pg_dir, postmaster)


def test_a_postmaster_killed_under_its_client_ends_cleanly_and_the_next_client_starts_a_new_one(tmp_path):
    pg_dir = tmp_path / "pg"
    a, postmaster = client(pg_dir)
    os.kill(postmaster, signal.SIGKILL)
    wait_for(lambda: not running(postmaster), "the postmaster to die")
    out, err = a.communicate("\n")
    assert a.returncode == 0 and err == ""  # no psutil.NoSuchProcess traceback at exit
    b, fresh = client(pg_dir)
    assert fresh != postmaster and running(fresh)
    b.communicate("\n")
    assert b.returncode == 0
    assert_all_gone(pg_dir, fresh)


# -- kill -9 inside Job 2 -----------------------------------------------------------------------------------


def test_kill_9_inside_job2_keeps_the_day_whole_and_leaves_no_server(tmp_path, local_store):
    """Job 2 run by a process that is the embedded server's only client, killed inside the second
    day's transaction: the first day is loaded, the second keeps its previous rows, nothing stays
    running; a re-run loads every day and the marts count every processed click once."""
    from click_fixtures import event, put_object

    pg_dir = tmp_path / "pg"
    days = [DAY, DAY2, DAY3]
    for i, day in enumerate(days):
        put_object(local_store, [event(i * 10 + k, ts=f"{day}T10:00:0{k}Z", page=f"/p{k}") for k in range(3)], at(day))
        run_partition(local_store, CLICKS, day)
    args = ["--marts", "daily", "--lake", str(local_store.root), *(a for d in days for a in ("--partition", d))]
    env = {"DAGSTER_PIPES_CONTEXT": ""}
    # A first load of the three days (by a client of the embedded server that exits normally) ...
    run = subprocess.run([sys.executable, str(HERE / "kill_points.py"), str(tmp_path / "unused"), "-",
                          "--embedded-pg", str(pg_dir), "--", str(JOB2), *args],
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{HERE}", **env})  # fmt: skip
    assert run.returncode == 0, run.stderr
    # ... then a new click on each day, and a Job 2 killed inside day 2's transaction.
    for i, day in enumerate(days):
        put_object(local_store, [event(100 + i, ts=f"{day}T11:00:00Z", page="/new")], at(day, 13))
        run_partition(local_store, CLICKS, day)
    # _record is called once per table and day (the 4 daily marts and the 3 user activity tables of
    # the users dimension): the 9th call is day 2's second table, inside its transaction.
    job2 = frozen_run(tmp_path, "clickpipe_core.pg_load:_record:9:after", JOB2, *args, embedded_pg=pg_dir, env=env)
    postmaster = int((pg_dir / "postmaster.pid").read_text().splitlines()[0])
    kill9(job2)
    assert_all_gone(pg_dir, postmaster)

    from clickpipe_dagster.resources.warehouse import LocalWarehouseResource

    warehouse = LocalWarehouseResource(pg_dir=str(pg_dir))
    try:
        with psycopg.connect(warehouse.url()) as con:
            events = dict(con.execute("SELECT dt::text, sum(events) FROM marts.daily_events GROUP BY dt").fetchall())
            assert events == {DAY: 4, DAY2: 3, DAY3: 3}  # day 1 committed; day 2 rolled back; day 3 not reached
        rerun = subprocess.run([sys.executable, str(JOB2), *args], capture_output=True, text=True,
                               env={**os.environ, "CLICKPIPE_JOB_PG_URL": warehouse.url()})  # fmt: skip
        assert rerun.returncode == 0, rerun.stderr
        with psycopg.connect(warehouse.url()) as con:
            events = dict(con.execute("SELECT dt::text, sum(events) FROM marts.daily_events GROUP BY dt").fetchall())
        processed = {d: sum(len(corpus._read(local_store, o.key)) for o in local_store.list(f"processed/clicks/dt={d}/")) for d in days}
        assert events == processed == {DAY: 4, DAY2: 4, DAY3: 4}
    finally:
        warehouse.stop()
    wait_for(lambda: (pg_dir / "postmaster.pid").exists() is False, "the server to stop with its last client")


def test_a_demo_stopped_with_sigterm_stops_the_dagster_daemon_it_started(tmp_path):
    """``kill``/``timeout`` send SIGTERM: the demo's daemon runs in its own process group, so it must
    be stopped by the demo on the way out rather than left polling the instance."""
    env = {**os.environ, "CLICKPIPE_HOME": str(tmp_path / "home")}
    env.pop("DAGSTER_HOME", None)
    env.pop("CLICKPIPE_PG_URL", None)
    clickpipe = str(Path(sys.executable).with_name("clickpipe"))
    demo = subprocess.Popen([clickpipe, "demo", "--days", "1", "--users", "20", "--transactions-per-day", "20", "--clicks-per-day", "50"],
                            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        lines = iter(demo.stdout.readline, "")
        wait_for(lambda: any(line.startswith("2. started the Dagster daemon") for line in lines), "the demo's daemon")
        daemons = [p for p in psutil.process_iter(["cmdline"])
                   if "dagster-daemon" in " ".join(p.info["cmdline"] or []) and str(tmp_path) in " ".join(p.info["cmdline"] or [])]  # fmt: skip
        assert daemons, "the demo started no daemon under its home"
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(WAIT) == 128 + signal.SIGTERM
        # A SIGTERM may land while Dagster builds a resource; Python then reports that object's
        # destructor at shutdown ("Exception ignored in ..."). Any other traceback is a failure.
        stderr = demo.stderr.read()
        assert stderr.count("Traceback (most recent call last)") == stderr.count("Exception ignored in"), stderr
        gone, alive = psutil.wait_procs(daemons, timeout=WAIT)
        assert not alive, [p.pid for p in alive]
    finally:
        if demo.poll() is None:
            demo.kill()

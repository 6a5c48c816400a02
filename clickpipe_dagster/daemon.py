"""Dagster's own processes on the local instance: the daemon (sensors, automation, the run queue,
backfills) and the webserver, started and stopped cleanly, and a way to tell when the automation
has nothing left to do. ``clickpipe demo`` runs the pipeline through the daemon, so its runs are
the code location's runs and the sensors' cursors know every file it processed; the automation
test drives ``dagster dev`` the same way.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from clickpipe_dagster.settings import Settings

LOCATION = "clickpipe"
# The same code location as the repository's workspace.yaml (what `make dev` loads): sensor cursors
# and runs belong to a location by name, so the demo's are the ones `make dev` finds.
WORKSPACE = f"""load_from:
  - python_module:
      module_name: clickpipe_dagster.definitions
      location_name: {LOCATION}
"""
RAW_SENSORS = ("raw_batch_files_sensor", "raw_clicks_sensor")
RAW_ASSETS = [dg.AssetKey(["raw", d]) for d in ("users", "transactions", "clicks")]
AUTOMATION_SENSOR = "automation_sensor"
BUSY = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def workspace_file(settings: Settings) -> Path:
    path = settings.dagster_home / "workspace.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != WORKSPACE:
        path.write_text(WORKSPACE)
    return path


def _default_signals():  # runs in the child: a parent that ignores SIGINT/SIGTERM must not pass that on
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextmanager
def dagster_process(argv: list[str], env: dict[str, str], log: Path):
    """Start a Dagster command in its own process group; on exit interrupt it like Ctrl-C and wait
    for it (and the code server and runs it started) to stop. A SIGTERM to this process (``kill``,
    ``timeout``) exits through the same path: its own process group would otherwise outlive it."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_default_signals)  # fmt: skip
    restore_sigterm = _exit_on_sigterm()
    try:
        yield proc
    finally:
        stop(proc)
        restore_sigterm()


def _exit_on_sigterm():
    """Turn SIGTERM into SystemExit (so ``finally`` blocks run); returns what puts the previous
    handler back. Outside the main thread signals cannot be set, and nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def _exit(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, _exit)
    # None: the previous handler was not set from Python; the default is the closest to it.
    return lambda: signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def stop(proc: subprocess.Popen, grace: float = 30.0) -> None:
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue
    try:  # anything left in the group (a code server) goes too
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def process_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {**os.environ, "CLICKPIPE_HOME": str(settings.home), "DAGSTER_HOME": str(settings.dagster_home), **extra}
    env.setdefault("DAGSTER_TELEMETRY_ENABLED", "false")
    return env


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def daemon(settings: Settings, **extra_env: str):
    """``dagster-daemon run`` on the workspace of this code location."""
    argv = [_bin("dagster-daemon"), "run", "-w", str(workspace_file(settings))]
    return dagster_process(argv, process_env(settings, **extra_env), settings.home / "logs" / "dagster-daemon.log")


def dev(settings: Settings, port: int, **extra_env: str):
    """``dagster dev`` (webserver and daemon) on 127.0.0.1:port."""
    argv = [_bin("dagster"), "dev", "-w", str(workspace_file(settings)), "-h", "127.0.0.1", "-p", str(port)]
    return dagster_process(argv, process_env(settings, **extra_env), settings.home / "logs" / "dagster-dev.log")


# -- is the automation done? -------------------------------------------------------------------------


@dataclass
class Tick:
    timestamp: float  # when it started
    ended: float | None
    status: str
    run_ids: list[str]


def latest_ticks(instance: dg.DagsterInstance, sensor: str, limit: int) -> list[Tick]:
    """The sensor's newest ``limit`` ticks, newest first."""
    from dagster._core.definitions.run_request import InstigatorType

    for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
        if state.instigator_name == sensor:
            ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=limit)
            return [
                Tick(t.timestamp, t.end_timestamp, t.status.value, list(t.run_ids) + [str(r) for r in t.tick_data.run_requests or []])
                for t in ticks
            ]
    return []


def latest_tick(instance: dg.DagsterInstance, sensor: str) -> Tick | None:
    ticks = latest_ticks(instance, sensor, 1)
    return ticks[0] if ticks else None


def busy(instance: dg.DagsterInstance) -> bool:
    from dagster._core.execution.backfill import BulkActionStatus

    if instance.get_runs_count(dg.RunsFilter(statuses=BUSY)):
        return True
    return bool(instance.get_backfills(status=BulkActionStatus.REQUESTED, limit=1))


def last_run_end(instance: dg.DagsterInstance) -> float:
    records = instance.get_run_records(limit=1, order_by="end_time", ascending=False)
    return (records[0].end_time or 0.0) if records else 0.0


def last_backfill_end(instance: dg.DagsterInstance) -> float:
    """When the newest backfill ended. The automation runs a range of partitions as a single-run
    backfill, which the daemon's backfill loop marks complete up to 30 s after its run ended; until
    then downstream conditions wait for it, so a tick before that proves nothing."""
    ends = [b.backfill_end_timestamp or 0.0 for b in instance.get_backfills(limit=20)]
    return max(ends, default=0.0)


def last_raw_report(instance: dg.DagsterInstance) -> float:
    """When the raw sensors last reported an object (the newest raw materialization)."""
    latest = 0.0
    for key in RAW_ASSETS:
        records = instance.fetch_materializations(key, limit=1).records
        if records:
            latest = max(latest, records[0].timestamp)
    return latest


def settled(instance: dg.DagsterInstance, data_landed: float) -> bool:
    """The raw sensors have looked since the data landed, nothing runs, and the automation has
    looked twice since the last run and backfill ended and the last raw report, and asked for nothing
    more. Twice: on the first tick after a run, what that run materialized is "newly updated", and an
    asset that waits while its upstream is about to run (``automation._quiet_upstream``) waits through
    that tick and is requested on the next."""
    for name in RAW_SENSORS:
        tick = latest_tick(instance, name)
        if tick is None or tick.timestamp <= data_landed or tick.status == "STARTED":
            return False
    if busy(instance):
        return False
    after = max(last_run_end(instance), last_backfill_end(instance), last_raw_report(instance))
    ticks = latest_ticks(instance, AUTOMATION_SENSOR, 2)
    return len(ticks) == 2 and all(t.status in ("SKIPPED", "SUCCESS") and not t.run_ids and t.timestamp > after for t in ticks)


def wait_for_first_ticks(instance: dg.DagsterInstance, after: float, timeout: float = 120.0) -> bool:
    """Wait until the raw sensors and the automation have each completed a tick started after
    ``after``. The automation's first evaluation takes stock of what exists and starts nothing, so
    data dropped before it would wait for the next change."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ticks = [latest_tick(instance, name) for name in (*RAW_SENSORS, AUTOMATION_SENSOR)]
        if all(t is not None and t.timestamp > after and t.status != "STARTED" for t in ticks):
            return True
        time.sleep(0.5)
    return False


def wait_until_settled(instance: dg.DagsterInstance, data_landed: float, timeout: float, progress=None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if settled(instance, data_landed):
            return True
        if progress:
            progress()
        time.sleep(1.0)
    return False

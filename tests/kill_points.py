"""Run a job script and freeze it at a chosen point, so that a test can kill -9 it exactly there.

    python tests/kill_points.py MARKER POINT [--embedded-pg PGDIR] -- SCRIPT ARGS...

POINT is ``module:attribute:N:before|after|hold|note``: the N-th call of that function (``os:replace:2:before``,
``clickpipe_core.lake_store:LocalStore.staging_dir:1:after``), or ``-`` to run to the end. At that point the process writes
MARKER and sleeps; the test waits for MARKER, then kills the process: no timing involved. ``hold``
writes MARKER before the call and waits until the file MARKER.go exists, then goes on (a test
releases it: a slowed step, e.g. the rename that publishes the users snapshot); ``note`` writes
MARKER before the call and goes on at once (a test learns that a process got there). With
``--embedded-pg`` the process first joins the embedded PostgreSQL in PGDIR as its client (as a
Dagster run does) and hands its URL to the job like the warehouse resource does.

This injects a pause into a real run of the real script; nothing it calls is replaced.
"""

from __future__ import annotations

import functools
import importlib
import os
import runpy
import sys
import time
from pathlib import Path


def pause_at(point: str, marker: str) -> None:
    module_name, attribute, nth, when = point.split(":")
    owner = importlib.import_module(module_name)
    *path, name = attribute.split(".")
    for part in path:
        owner = getattr(owner, part)
    original = getattr(owner, name)
    calls = {"n": 0}

    def freeze():
        Path(marker).write_text(str(os.getpid()))
        while True:
            time.sleep(60)

    def hold():
        Path(marker).write_text(str(os.getpid()))
        while not Path(marker + ".go").exists():
            time.sleep(0.05)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        calls["n"] += 1
        hit = calls["n"] == int(nth)
        if hit and when == "before":
            freeze()
        if hit and when == "hold":
            hold()
        if hit and when == "note":
            Path(marker).write_text(str(os.getpid()))
        result = original(*args, **kwargs)
        if hit and when == "after":
            freeze()
        return result

    setattr(owner, name, wrapper)


def main(argv: list[str]) -> None:
    split = argv.index("--")
    options, (script, *args) = argv[:split], argv[split + 1 :]
    marker, point = options[0], options[1]
    if "--embedded-pg" in options:
        from clickpipe_core.pg_load import URL_ENV
        from clickpipe_dagster.resources.warehouse import LocalWarehouseResource

        warehouse = LocalWarehouseResource(pg_dir=options[options.index("--embedded-pg") + 1])
        os.environ[URL_ENV] = warehouse.url()
    if point != "-":
        pause_at(point, marker)
    sys.argv = [script, *args]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])

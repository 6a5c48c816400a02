"""Where local state lives and which deployment is active; read from the environment only.

``CLICKPIPE_HOME`` (default ``.clickpipe/`` in the current directory) holds everything a local run
makes: ``lake/``, ``dagster/`` (the Dagster instance), later ``pg/`` and ``dashboard/``. Deleting it
resets everything. ``CLICKPIPE_ENV`` is ``local`` (default) or ``aws``; ``CLICKPIPE_GLUE_ENGINE``
(local only) is ``duckdb`` (default) or ``spark``.
"""

from __future__ import annotations

import os
from pathlib import Path

ENVIRONMENTS = ("local", "aws")
GLUE_ENGINES = ("duckdb", "spark")


def clickpipe_home() -> Path:
    return Path(os.environ.get("CLICKPIPE_HOME") or Path.cwd() / ".clickpipe").resolve()


def lake_dir() -> Path:
    return clickpipe_home() / "lake"


def dagster_home() -> Path:
    return clickpipe_home() / "dagster"


def environment() -> str:
    env = os.environ.get("CLICKPIPE_ENV", "local").strip().lower() or "local"
    if env not in ENVIRONMENTS:
        raise ValueError(f"CLICKPIPE_ENV={env!r} is not one of {', '.join(ENVIRONMENTS)}")
    return env


def glue_engine() -> str:
    """The engine local Glue job runs use: ``CLICKPIPE_GLUE_ENGINE`` = duckdb (default) or spark."""
    engine = os.environ.get("CLICKPIPE_GLUE_ENGINE", "duckdb").strip().lower() or "duckdb"
    if engine not in GLUE_ENGINES:
        raise ValueError(f"CLICKPIPE_GLUE_ENGINE={engine!r} is not one of {', '.join(GLUE_ENGINES)}")
    return engine


def use_local_dagster_home() -> Path:
    """Point DAGSTER_HOME at ``$CLICKPIPE_HOME/dagster`` unless the user chose one."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(dagster_home())))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():  # default storage in this directory; no telemetry from an offline laptop
        config.write_text("telemetry:\n  enabled: false\n")
    return home

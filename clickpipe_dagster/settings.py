"""Where local state lives and which deployment is active; read from the environment only.

``CLICKPIPE_HOME`` (default ``.clickpipe/`` in the current directory) holds everything a local run
makes: ``lake/``, ``dagster/`` (the Dagster instance), ``pg/`` (embedded PostgreSQL),
``athena.duckdb`` (the Athena tables as DuckDB views), ``dashboard/`` (the local dashboard page). Deleting it
resets everything. ``CLICKPIPE_ENV`` is ``local`` (default) or ``aws``; ``CLICKPIPE_GLUE_ENGINE``
(local only) is ``duckdb`` (default) or ``spark``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ENVIRONMENTS = ("local", "aws")
GLUE_ENGINES = ("duckdb", "spark")


def clickpipe_home() -> Path:
    return Path(os.environ.get("CLICKPIPE_HOME") or Path.cwd() / ".clickpipe").resolve()


def lake_dir() -> Path:
    return clickpipe_home() / "lake"


def dagster_home() -> Path:
    return clickpipe_home() / "dagster"


def pg_dir() -> Path:
    """Data directory of the embedded PostgreSQL (used unless CLICKPIPE_PG_URL names a server)."""
    return clickpipe_home() / "pg"


def athena_duckdb_path() -> Path:
    """The local stand-in for the Athena tables: DuckDB views over the processed Parquet."""
    return clickpipe_home() / "athena.duckdb"


def dashboard_dir() -> Path:
    """The local dashboard: ``index.html``, a self-contained page (``clickpipe dashboard`` serves it)."""
    return clickpipe_home() / "dashboard"


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
    """Point DAGSTER_HOME at ``$CLICKPIPE_HOME/dagster`` unless the user chose one. Dagster keeps
    its run storage there (SQLite): a directory it cannot write is one clear error here, not a
    database traceback later."""
    from clickpipe_core.errors import environment_fault

    home = Path(os.environ.setdefault("DAGSTER_HOME", str(dagster_home())))
    try:
        home.mkdir(parents=True, exist_ok=True)
        config = home / "dagster.yaml"
        if not config.exists():  # default storage in this directory; no telemetry from an offline laptop
            config.write_text("telemetry:\n  enabled: false\n")
        with tempfile.TemporaryFile(dir=home):  # writable, for the run storage to come
            pass
    except OSError as e:
        raise environment_fault(e, home, setting="DAGSTER_HOME (or CLICKPIPE_HOME)") from None
    return home

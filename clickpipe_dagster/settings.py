"""The runtime settings: where local state lives and which deployment is active.

Built once from the environment at each entry point (the code location's load, a CLI command,
the demo) with ``Settings.from_env()`` and consulted everywhere else; nothing reads the
environment at import. What a deployment must provide (bucket and job names, ARNs, the
PostgreSQL URL) is not read here at all: resources take those as ``dg.EnvVar``, resolved when a
run or a command uses them (``clickpipe_dagster/environments.py``).

``CLICKPIPE_HOME`` (default ``.clickpipe/`` in the current directory) holds everything a local run
makes: ``lake/``, ``dagster/`` (the Dagster instance), ``pg/`` (embedded PostgreSQL),
``athena.duckdb`` (the Athena tables as DuckDB views), ``dashboard/`` (the local dashboard page).
Deleting it resets everything. ``CLICKPIPE_ENV`` is ``local`` (default) or ``aws``;
``CLICKPIPE_GLUE_ENGINE`` (local only) is ``duckdb`` (default) or ``spark``;
``CLICKPIPE_SENSOR_SECONDS`` (default 30) is how often the sensors and the automation look.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ENVIRONMENTS = ("local", "aws")
GLUE_ENGINES = ("duckdb", "spark")
DEFAULT_SENSOR_SECONDS = 30


def _choice(environ: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = environ.get(name, default).strip().lower() or default
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(choices)}")
    return value


# The local Dagster instance: default storage in its directory, no telemetry from an offline laptop,
# queued runs started within a second (the default looks every 5 s).
LOCAL_INSTANCE = """telemetry:
  enabled: false
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1
"""


@dataclass(frozen=True)
class Settings:
    env: str = "local"
    home: Path = Path(".clickpipe").resolve()
    glue_engine: str = "duckdb"
    sensor_seconds: int = DEFAULT_SENSOR_SECONDS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        environ = os.environ if environ is None else environ
        seconds = environ.get("CLICKPIPE_SENSOR_SECONDS", "").strip()
        if seconds and not (seconds.isdigit() and int(seconds) >= 1):
            raise ValueError(f"CLICKPIPE_SENSOR_SECONDS={seconds!r} is not a whole number of seconds (1 or more)")
        return cls(
            env=_choice(environ, "CLICKPIPE_ENV", ENVIRONMENTS, "local"),
            home=Path(environ.get("CLICKPIPE_HOME") or Path.cwd() / ".clickpipe").resolve(),
            glue_engine=_choice(environ, "CLICKPIPE_GLUE_ENGINE", GLUE_ENGINES, "duckdb"),
            sensor_seconds=int(seconds) if seconds else DEFAULT_SENSOR_SECONDS,
        )

    @classmethod
    def of(cls, value: "Settings | str | None") -> "Settings":
        """``value`` itself, the current environment's settings (None), or those with another
        ``CLICKPIPE_ENV`` (``"local"``/``"aws"``)."""
        if isinstance(value, Settings):
            return value
        current = cls.from_env()
        return current if value is None else dataclasses.replace(current, env=_choice({"v": value}, "v", ENVIRONMENTS, "local"))

    @property
    def lake_dir(self) -> Path:
        return self.home / "lake"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def pg_dir(self) -> Path:
        """Data directory of the embedded PostgreSQL (used unless CLICKPIPE_PG_URL names a server)."""
        return self.home / "pg"

    @property
    def athena_duckdb_path(self) -> Path:
        """The local stand-in for the Athena tables: DuckDB views over the processed Parquet."""
        return self.home / "athena.duckdb"

    @property
    def dashboard_dir(self) -> Path:
        """The local dashboard: ``index.html``, a self-contained page (``clickpipe dashboard`` serves it)."""
        return self.home / "dashboard"

    def use_local_dagster_home(self) -> Path:
        """Point DAGSTER_HOME at ``$CLICKPIPE_HOME/dagster`` unless the user chose one. Dagster keeps
        its run storage there (SQLite): a directory it cannot write is one clear error here, not a
        database traceback later."""
        from clickpipe_core.errors import environment_fault

        home = Path(os.environ.setdefault("DAGSTER_HOME", str(self.dagster_home)))
        try:
            home.mkdir(parents=True, exist_ok=True)
            config = home / "dagster.yaml"
            if not config.exists():
                config.write_text(LOCAL_INSTANCE)
            with tempfile.TemporaryFile(dir=home):  # writable, for the run storage to come
                pass
        except OSError as e:
            raise environment_fault(e, home, setting="DAGSTER_HOME (or CLICKPIPE_HOME)") from None
        return home

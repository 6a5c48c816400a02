"""Where a Glue job runs, decided once at its entry point and consulted everywhere else.

A job script (``glue_scripts/raw_to_processed.py``, ``processed_to_rds.py``) builds one ``Runtime``
from its arguments and environment and hands it to the Pipes session and the engines; nothing
else looks at ``sys.argv``, the environment or the ``awsglue`` module to find out.

* **launcher**: ``glue`` when Glue started the script (it passes ``--JOB_NAME``; PipesGlueClient
  adds ``--dagster-pipes-context``), ``subprocess`` when PipesSubprocessClient did (it sets
  ``DAGSTER_PIPES_CONTEXT``), ``shell`` when a person did.
* **on_glue**: Glue's own libraries are importable (a Glue worker: GlueContext, Job bookmarks).
* **engine**: ``spark`` or ``duckdb``; an explicit ``--engine`` wins, else Spark when Glue
  launched the job and DuckDB anywhere else.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

ENGINES = ("duckdb", "spark")
PIPES_CONTEXT_ARG = "--dagster-pipes-context"  # PipesGlueClient's job argument
PIPES_CONTEXT_ENV = "DAGSTER_PIPES_CONTEXT"  # PipesSubprocessClient's environment variable


@dataclass(frozen=True)
class Runtime:
    launcher: str  # "glue" | "subprocess" | "shell"
    on_glue: bool
    engine: str
    argv: tuple[str, ...] = ()

    @classmethod
    def detect(
        cls, argv: Sequence[str], *, engine: str | None = None, environ: Mapping[str, str] | None = None, on_glue: bool | None = None
    ) -> Runtime:
        environ = os.environ if environ is None else environ
        if any(a == "--JOB_NAME" or a.startswith("--JOB_NAME=") or a == PIPES_CONTEXT_ARG for a in argv):
            launcher = "glue"
        elif environ.get(PIPES_CONTEXT_ENV):
            launcher = "subprocess"
        else:
            launcher = "shell"
        if on_glue is None:
            on_glue = importlib.util.find_spec("awsglue") is not None
        if engine is not None and engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")
        return cls(launcher, on_glue, engine or ("spark" if launcher == "glue" else "duckdb"), tuple(argv))

    @classmethod
    def local(cls, engine: str = "duckdb") -> Runtime:
        """A run started from Python (tests, benchmarks): a shell launch off Glue."""
        return cls("shell", False, engine)

    @property
    def pipes(self) -> str | None:
        """How Dagster Pipes reaches the job: ``glue`` (context in S3, params in arguments),
        ``env`` (PipesSubprocessClient's environment variables), or None (no Dagster)."""
        if PIPES_CONTEXT_ARG in self.argv:
            return "glue"
        return "env" if self.launcher == "subprocess" else None

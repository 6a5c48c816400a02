"""SQL on Athena: the AWS query engine of the processed zone (``athena.QueryEngineResource``).

A module of its own so that the local code location never imports dagster-aws (about a second of
import in every process that loads the definitions, each run's among them).
"""

from __future__ import annotations

import datetime as _dt
import time
from decimal import Decimal

from dagster_aws.athena import AthenaClientResource

from clickpipe_core import catalog
from clickpipe_dagster.resources.athena import QueryEngineResource
from clickpipe_dagster.resources.tabular import QueryError, QueryResult


def athena_literal(value) -> str:
    """An Athena execution parameter: Athena substitutes each as SQL literal text."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float, Decimal)):
        return str(value)
    if isinstance(value, _dt.datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, _dt.date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def _athena_value(text: str | None, type_name: str):
    if text is None:
        return None
    t = type_name.lower()
    try:
        if t in ("tinyint", "smallint", "integer", "int", "bigint"):
            return int(text)
        if t in ("double", "float", "real"):
            return float(text)
        if t.startswith("decimal"):
            return Decimal(text)
        if t == "boolean":
            return text.lower() == "true"
        if t == "date":
            return _dt.date.fromisoformat(text)
        if t.startswith("timestamp"):
            return _dt.datetime.fromisoformat(text.replace(" UTC", "+00:00"))
    except ValueError:
        return text
    return text


class AthenaQueryResource(QueryEngineResource):
    """Athena in a workgroup, with result reuse; bytes scanned come back with every result."""

    athena: AthenaClientResource
    database: str = catalog.GLUE_DATABASE
    output_location: str | None = None  # None: the workgroup's configured result location
    result_reuse_max_age_minutes: int = 60  # 0 turns result reuse off

    def query(self, sql, params=None):
        client = self.athena.get_client().client
        request = {
            "QueryString": sql,
            "WorkGroup": self.athena.workgroup,
            "QueryExecutionContext": {"Database": self.database, "Catalog": "AwsDataCatalog"},
        }
        if self.output_location:
            request["ResultConfiguration"] = {"OutputLocation": self.output_location}
        if self.result_reuse_max_age_minutes > 0:
            request["ResultReuseConfiguration"] = {
                "ResultReuseByAgeConfiguration": {"Enabled": True, "MaxAgeInMinutes": self.result_reuse_max_age_minutes}
            }
        if params:
            request["ExecutionParameters"] = [athena_literal(p) for p in params]
        query_id = client.start_query_execution(**request)["QueryExecutionId"]
        execution = self._wait(client, query_id)
        stats = execution.get("Statistics", {})
        columns, rows = self._results(client, query_id, execution.get("StatementType"))
        return QueryResult(
            columns,
            rows,
            engine="athena",
            bytes_scanned=int(stats.get("DataScannedInBytes", 0)),
            reused=bool(stats.get("ResultReuseInformation", {}).get("ReusedPreviousResult", False)),
            query_id=query_id,
            extra={"workgroup": self.athena.workgroup},
        )

    def _wait(self, client, query_id: str) -> dict:
        deadline = time.monotonic() + max(1, self.athena.polling_interval) * self.athena.max_polls
        delay = 0.2
        while True:
            execution = client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
            state = execution["Status"]["State"]
            if state == "SUCCEEDED":
                return execution
            if state in ("FAILED", "CANCELLED"):
                reason = execution["Status"].get("StateChangeReason", state)
                raise QueryError(f"Athena query {query_id} {state.lower()} in workgroup {self.athena.workgroup}: {reason}")
            if time.monotonic() > deadline:
                client.stop_query_execution(QueryExecutionId=query_id)
                raise QueryError(f"Athena query {query_id} did not finish in time; stopped it")
            time.sleep(delay)
            delay = min(delay * 2, max(0.2, float(self.athena.polling_interval)))

    @staticmethod
    def _results(client, query_id: str, statement_type: str | None) -> tuple[list[str], list[tuple]]:
        columns: list[str] = []
        types: list[str] = []
        rows: list[tuple] = []
        first = True
        for page in client.get_paginator("get_query_results").paginate(QueryExecutionId=query_id):
            result = page.get("ResultSet", {})
            if not columns:
                info = result.get("ResultSetMetadata", {}).get("ColumnInfo", [])
                columns = [c["Name"] for c in info]
                types = [c.get("Type", "varchar") for c in info]
            for i, row in enumerate(result.get("Rows", [])):
                texts = [d.get("VarCharValue") for d in row.get("Data", [])]
                if first and i == 0 and statement_type in (None, "DML") and texts == columns:
                    continue  # Athena repeats the column names as the first row of a SELECT
                rows.append(tuple(_athena_value(v, t) for v, t in zip(texts, types)))
            first = False
        return columns, rows

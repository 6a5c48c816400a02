"""Stand-in for Athena query execution (moto records queries but runs no SQL).

A query runs the way Athena runs it, with the *caller's* credentials: the tables come from the Glue
Data Catalog (``GetTables`` on the query's database), their data from the S3 locations the tables
name (listed and read from the emulated bucket, so the caller needs ``s3:ListBucket`` with the
prefix and ``s3:GetObject``), and the result is written as CSV to the workgroup's enforced output
location (``s3:PutObject``). The SQL runs on DuckDB (DuckDB's httpfs is not available offline:
objects are read by download) with ``?`` execution parameters substituted as Athena substitutes
them (as SQL text). Result reuse is honoured per request (``ResultReuseConfiguration``: an identical
query in the same workgroup within the max age returns the earlier result, ``ReusedPreviousResult``);
the workgroup's ``BytesScannedCutoffPerQuery`` fails a query that would scan more.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HIVE_TO_DUCKDB = {"string": "VARCHAR", "bigint": "BIGINT", "int": "INTEGER", "double": "DOUBLE", "boolean": "BOOLEAN",
                  "timestamp": "TIMESTAMP WITH TIME ZONE", "date": "DATE", "float": "FLOAT"}  # fmt: skip


def _duck_type(hive: str) -> str:
    if hive.startswith("decimal"):
        return hive.upper()
    return HIVE_TO_DUCKDB.get(hive.lower(), "VARCHAR")


def _athena_type(duck: str) -> str:
    d = duck.upper()
    for prefix, name in (("DECIMAL", "decimal"), ("TIMESTAMP", "timestamp"), ("VARCHAR", "varchar"), ("BIGINT", "bigint"),
                         ("INTEGER", "integer"), ("DOUBLE", "double"), ("BOOLEAN", "boolean"), ("DATE", "date"),
                         ("HUGEINT", "bigint"), ("SMALLINT", "smallint"), ("FLOAT", "float")):  # fmt: skip
        if d.startswith(prefix):
            return name
    return "varchar"


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "tzinfo") and hasattr(value, "hour"):  # timestamps: Athena's text form, in UTC
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return str(value)


def tables_named(sql: str, con=None) -> set[str]:
    """The tables a query reads, by DuckDB's parser: not a CTE's name, nothing inside a comment or a
    string literal; a qualified name by its last part (the query's database is the context's)."""
    import duckdb

    return (con or duckdb.connect()).get_table_names(sql)


def substitute(sql: str, params: list[str]) -> str:
    """Replace each ``?`` outside quotes with the next parameter's SQL text."""
    out, it, quote = [], iter(params), None
    for ch in sql:
        if quote:
            quote = None if ch == quote else quote
            out.append(ch)
        elif ch in "'\"":
            quote = ch
            out.append(ch)
        elif ch == "?":
            try:
                out.append(next(it))
            except StopIteration:
                raise ValueError("more ? placeholders than ExecutionParameters") from None
        else:
            out.append(ch)
    return "".join(out)


@dataclass
class Query:
    id: str
    workgroup: str
    sql: str
    state: str = "QUEUED"
    reason: str = ""
    columns: list[tuple[str, str]] = field(default_factory=list)
    rows: list[list[str | None]] = field(default_factory=list)
    bytes_scanned: int = 0
    reused: bool = False
    output: str = ""
    statement_type: str = "DML"
    submitted: float = field(default_factory=time.time)
    completed: float = 0.0


class AthenaEngine:
    def __init__(self, *, endpoint: str, region: str, workgroups: dict[str, dict], workdir: Path, log=print):
        self.endpoint, self.region, self.workgroups = endpoint, region, workgroups
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.queries: dict[str, Query] = {}
        self._lock = threading.Lock()
        self.log = log

    def workgroup_of(self, query_id: str) -> str:
        q = self.queries.get(query_id)
        return q.workgroup if q else "primary"

    def run(self, query_id: str, request: dict, creds: dict) -> Query:
        """Execute a StartQueryExecution request (already accepted by the emulator) as the caller."""
        wg = request.get("WorkGroup", "primary")
        config = self.workgroups.get(wg, {})
        params = request.get("ExecutionParameters") or []
        q = Query(query_id, wg, request["QueryString"])
        self.queries[query_id] = q
        q.statement_type = "DML" if re.match(r"\s*(SELECT|WITH)\b", q.sql, re.I) else "DDL"
        reuse = (request.get("ResultReuseConfiguration") or {}).get("ResultReuseByAgeConfiguration") or {}
        try:
            text = substitute(q.sql, params)
            if reuse.get("Enabled"):
                max_age = 60 * int(reuse.get("MaxAgeInMinutes", 60))
                earlier = [e for e in self.queries.values() if e is not q and e.state == "SUCCEEDED" and e.workgroup == wg
                           and getattr(e, "text", None) == text and time.time() - e.completed <= max_age]  # fmt: skip
                if earlier:
                    e = earlier[-1]
                    q.columns, q.rows, q.output, q.reused, q.bytes_scanned = e.columns, e.rows, e.output, True, 0
                    q.text, q.state, q.completed = text, "SUCCEEDED", time.time()
                    return q
            q.text = text
            database = (request.get("QueryExecutionContext") or {}).get("Database", "default")
            cfg = config.get("ResultConfiguration") or {}
            enforce = config.get("EnforceWorkGroupConfiguration")
            output = (cfg.get("OutputLocation") if enforce else (request.get("ResultConfiguration") or {}).get("OutputLocation")) or cfg.get("OutputLocation")
            if not output:
                raise RuntimeError("no output location: the workgroup sets none and the query gives none")
            self._execute(q, database, creds, int(config.get("BytesScannedCutoffPerQuery") or 0))
            q.output = f"{output.rstrip('/')}/{query_id}.csv"
            self._write_result(q, creds)
            q.state = "SUCCEEDED"
        except Exception as e:
            q.state, q.reason = "FAILED", f"{type(e).__name__}: {e}"
            self.log(f"[athena] {query_id} FAILED: {q.reason}")
        q.completed = time.time()
        return q

    def _clients(self, creds: dict):
        import boto3

        kw = dict(region_name=self.region, endpoint_url=self.endpoint, **creds)
        return boto3.client("glue", **kw), boto3.client("s3", **kw)

    def _execute(self, q: Query, database: str, creds: dict, cutoff: int) -> None:
        import duckdb

        glue, s3 = self._clients(creds)
        # Athena reads the definition of each table the query names (glue:GetTable as the caller).
        con = duckdb.connect()
        tables = []
        for name in sorted(tables_named(q.text, con)):
            try:
                tables.append(glue.get_table(DatabaseName=database, Name=name)["Table"])
            except glue.exceptions.EntityNotFoundException:
                continue
        con.execute("SET TimeZone = 'UTC'")
        scanned = 0
        with tempfile.TemporaryDirectory(dir=self.workdir) as tmp:
            for t in tables:
                name = t["Name"]
                sd = t["StorageDescriptor"]
                bucket, _, prefix = sd["Location"].removeprefix("s3://").partition("/")
                local = Path(tmp) / name
                files = 0
                for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                    for o in page.get("Contents", []):
                        if not o["Key"].endswith(".parquet"):
                            continue
                        target = local / o["Key"][len(prefix):]
                        target.parent.mkdir(parents=True, exist_ok=True)
                        s3.download_file(bucket, o["Key"], str(target))
                        scanned += o["Size"]
                        files += 1
                cols = [(c["Name"], _duck_type(c["Type"])) for c in sd["Columns"]]
                parts = [(c["Name"], "VARCHAR") for c in t.get("PartitionKeys", [])]
                select = ", ".join(f'CAST("{n}" AS {ty}) AS "{n}"' for n, ty in cols + parts)
                if files:
                    src = f"read_parquet('{local.as_posix()}/**/*.parquet', hive_partitioning = {'true' if parts else 'false'}, hive_types_autocast = false, union_by_name = true)"
                    con.execute(f'CREATE VIEW "{name}" AS SELECT {select} FROM {src}')
                else:
                    empty = ", ".join(f'CAST(NULL AS {ty}) AS "{n}"' for n, ty in cols + parts)
                    con.execute(f'CREATE VIEW "{name}" AS SELECT {empty} WHERE false')
            if cutoff and scanned > cutoff:
                raise RuntimeError(f"Query exhausted resources: it would scan {scanned} bytes, over the workgroup's cutoff of {cutoff}")
            cur = con.execute(q.text)
            q.columns = [(d[0], _athena_type(str(d[1]))) for d in cur.description] if cur.description else []
            q.rows = [[_text(v) for v in row] for row in cur.fetchall()] if cur.description else []
        q.bytes_scanned = scanned
        con.close()

    def _write_result(self, q: Query, creds: dict) -> None:
        _, s3 = self._clients(creds)
        buf = io.StringIO()
        w = csv.writer(buf, quoting=csv.QUOTE_ALL)
        w.writerow([c for c, _ in q.columns])
        w.writerows(q.rows)
        bucket, _, key = q.output.removeprefix("s3://").partition("/")
        s3.put_object(Bucket=bucket, Key=key, Body=buf.getvalue().encode())

    # -- API responses -----------------------------------------------------------------------------

    def execution(self, query_id: str) -> dict | None:
        q = self.queries.get(query_id)
        if q is None:
            return None
        status = {"State": q.state, "SubmissionDateTime": q.submitted, "CompletionDateTime": q.completed or q.submitted}
        if q.reason:
            status["StateChangeReason"] = q.reason
        return {
            "QueryExecutionId": q.id,
            "Query": q.sql,
            "StatementType": q.statement_type,
            "WorkGroup": q.workgroup,
            "ResultConfiguration": {"OutputLocation": q.output},
            "Status": status,
            "Statistics": {
                "DataScannedInBytes": q.bytes_scanned,
                "EngineExecutionTimeInMillis": int(1000 * max(0.0, (q.completed or q.submitted) - q.submitted)),
                "ResultReuseInformation": {"ReusedPreviousResult": q.reused},
            },
        }

    def results(self, query_id: str, next_token: str | None, max_results: int | None) -> dict | None:
        q = self.queries.get(query_id)
        if q is None:
            return None
        if q.state != "SUCCEEDED":
            raise RuntimeError(f"query {query_id} is {q.state}")
        rows = ([[c for c, _ in q.columns]] if q.statement_type == "DML" else []) + q.rows
        start = int(next_token or 0)
        size = max_results or 1000
        page = rows[start : start + size]
        out = {
            "ResultSet": {
                "Rows": [{"Data": [{"VarCharValue": v} if v is not None else {} for v in r]} for r in page],
                "ResultSetMetadata": {"ColumnInfo": [{"Name": c, "Label": c, "Type": t, "CatalogName": "hive", "SchemaName": "",
                                                      "TableName": "", "Nullable": "UNKNOWN", "CaseSensitive": t == "varchar",
                                                      "Precision": 0, "Scale": 0} for c, t in q.columns]},  # fmt: skip
            },
            "UpdateCount": 0,
        }
        if start + size < len(rows):
            out["NextToken"] = str(start + size)
        return out

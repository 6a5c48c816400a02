"""A query's answer, the same shape from DuckDB, Athena and PostgreSQL, and its text rendering;
and the local query engine itself (DuckDB over the lake), which needs no Dagster: ``clickpipe
query`` runs it without loading the code location."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


class QueryError(Exception):
    """A query failed; the message says why (engine's own words) and where."""


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple]
    engine: str  # duckdb | athena | postgres
    bytes_scanned: int | None = None
    reused: bool | None = None  # Athena result reuse
    query_id: str | None = None
    extra: dict = field(default_factory=dict)

    def as_dicts(self) -> list[dict]:
        return [dict(zip(self.columns, r)) for r in self.rows]

    def scalar(self):
        return self.rows[0][0] if self.rows else None


def _cell(v) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, Decimal):
        return f"{v:f}"
    return str(v)


def format_table(result: QueryResult, *, max_rows: int = 200) -> str:
    """A plain-text table with a header, right-aligned numbers and a row count line."""
    cells = [[_cell(v) for v in row] for row in result.rows[:max_rows]]
    widths = [len(c) for c in result.columns]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]
    numeric = [
        all(isinstance(r[i], (int, float, Decimal)) and not isinstance(r[i], bool) for r in result.rows if r[i] is not None)
        and any(r[i] is not None for r in result.rows)
        for i in range(len(result.columns))
    ]

    def line(values):
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    out = [line(result.columns), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells]
    more = f", showing {max_rows}" if len(result.rows) > max_rows else ""
    footer = f"({len(result.rows)} row{'s' if len(result.rows) != 1 else ''}{more}; {result.engine}"
    if result.bytes_scanned is not None:
        footer += f", {result.bytes_scanned:,} bytes scanned"
    if result.reused:
        footer += ", reused result"
    out.append(footer + ")")
    return "\n".join(out)


def duckdb_query(lake_root: str, sql: str, params: list | tuple | None = None, *, threads: int | None = None) -> QueryResult:
    """SQL on an in-memory DuckDB with the Athena tables as views over the local lake."""
    import duckdb

    from clickpipe_core import catalog

    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        catalog.create_duckdb_views(con, lake_root)
        try:
            cur = con.execute(sql, list(params or []))
        except duckdb.Error as e:
            raise QueryError(f"DuckDB: {e}") from None
        columns = [d[0] for d in cur.description] if cur.description else []
        rows = cur.fetchall() if cur.description else []
    finally:
        con.close()
    return QueryResult(columns, rows, engine="duckdb")

"""The few SQL spellings that differ between DuckDB 2.0 and Spark SQL 3.5, and the one SQL-literal helper.

Everything the kernel writes in SQL (Job 1's rules in ``cleaning.py``, the table definitions in
``catalog.py``) goes through a ``Dialect`` for these spellings; the rest is SQL both engines run
alike. Spark runs with ANSI mode off and the session time zone UTC, DuckDB with TimeZone UTC.
"""

from __future__ import annotations

from dataclasses import dataclass

from clickpipe_core.contracts import LOGICAL_TYPES

ISO_UTC_SPARK = "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'"


@dataclass(frozen=True)
class Dialect:
    name: str  # "duckdb" | "spark"

    @property
    def spark(self) -> bool:
        return self.name == "spark"

    def type(self, logical_type: str) -> str:
        t = LOGICAL_TYPES[logical_type]
        return t.athena if self.spark else t.duckdb

    def literal(self, value) -> str:
        """A string literal. Spark SQL reads backslash escapes in literals (and '' is not a quote)."""
        if self.spark:
            return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"
        return "'" + str(value).replace("'", "''") + "'"

    def full_match(self, expr: str, pattern: str) -> str:
        if not self.spark:  # RE2; '.' stops at \n only
            return f"regexp_full_match({expr}, {self.literal(pattern)})"
        # Java regex with find(): anchored at both ends (\z, because '$' also matches before a
        # final newline) and UNIX_LINES (?d), so that '.' stops at \n only, as in RE2.
        return f"({expr} RLIKE {self.literal('(?d)^(?:' + pattern + ')' + chr(92) + 'z')})"

    def contains_match(self, expr: str, pattern: str) -> str:
        """``expr`` has a match of ``pattern`` anywhere (no anchors)."""
        if not self.spark:
            return f"regexp_matches({expr}, {self.literal(pattern)})"
        return f"({expr} RLIKE {self.literal(pattern)})"

    def char_code(self, expr: str) -> str:
        """The code point of the first character of ``expr``."""
        return f"ascii({expr})" if self.spark else f"unicode({expr})"

    def try_cast(self, expr: str, logical_type: str) -> str:
        # With ANSI mode off Spark's CAST gives NULL too; TRY_CAST says what we mean in both.
        return f"TRY_CAST({expr} AS {self.type(logical_type)})"

    def cast(self, expr: str, logical_type: str) -> str:
        return f"CAST({expr} AS {self.type(logical_type)})"

    def utc_date(self, expr: str) -> str:
        return f"CAST({expr} AS DATE)"  # the session time zone is UTC in both engines

    def text(self, expr: str, logical_type: str) -> str:
        """A typed value as text, spelled alike by both engines (timestamps: ISO-8601 in UTC)."""
        if logical_type == "timestamp":
            if self.spark:
                return f"date_format({expr}, {self.literal(ISO_UTC_SPARK)})"
            return f"strftime({expr}, '%Y-%m-%dT%H:%M:%S.%fZ')"
        return expr if logical_type == "string" else self.cast(expr, "string")

    def not_in_keys(self, expr: str, table: str, column: str = "key") -> str:
        """``expr`` (never NULL here) is not among ``column`` of ``table``.

        Spark plans NOT IN as a null-aware nested-loop join (rows x keys); NOT EXISTS with an
        equality is a hash join. DuckDB plans NOT IN as a hash join already.
        """
        if self.spark:
            return f"NOT EXISTS (SELECT 1 FROM {table} WHERE {table}.{column} = {expr})"
        return f"{expr} NOT IN (SELECT {column} FROM {table})"

    def trim(self, expr: str) -> str:
        """Leading and trailing spaces (U+0020) removed, as Spark's TRIM does. DuckDB's TRIM also
        removes other Unicode space separators and is slow, so it trims only values that start or
        end with a space, and only spaces."""
        if self.spark:
            return f"TRIM({expr})"
        return f"CASE WHEN {expr} LIKE ' %' OR {expr} LIKE '% ' THEN trim({expr}, ' ') ELSE {expr} END"

    def json_object(self, pairs: list[tuple[str, str]]) -> str:
        """A JSON object from (name, text expression) pairs; NULL values are written as null."""
        if not self.spark:
            return "CAST(to_json(struct_pack(" + ", ".join(f"{n} := {e}" for n, e in pairs) + ")) AS VARCHAR)"
        inner = ", ".join(f"{self.literal(n)}, {e}" for n, e in pairs)
        return f"to_json(named_struct({inner}), map('ignoreNullFields', 'false'))"

    def key_hash(self, expr: str) -> str:
        """A 64-bit hash of a text value: grouping by it is cheaper than by the text."""
        return f"xxhash64({expr})" if self.spark else f"hash({expr})"

    def shift_left(self, expr: str, bits: int) -> str:
        return f"shiftleft(CAST({expr} AS BIGINT), {bits})" if self.spark else f"(CAST({expr} AS BIGINT) << {bits})"


DUCKDB = Dialect("duckdb")
SPARK = Dialect("spark")
DIALECTS = {d.name: d for d in (DUCKDB, SPARK)}

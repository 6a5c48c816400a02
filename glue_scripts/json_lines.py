"""The JSON facts of click-stream lines in plain Python, as the Spark engine reads them.

The kernel's JSON rules (``cleaning.json_rules``) read, per line, the JSON type of the line and of
each field, and each field's text. The DuckDB engine gets these facts from DuckDB's JSON functions
(``duckdb_engine.json_facts_sql``); this module gives the same facts: DuckDB's type names
(``UBIGINT`` for a non-negative integer, ``BIGINT`` for a negative one, ``DOUBLE``, ``VARCHAR``,
``BOOLEAN``, ``NULL``, ``ARRAY``, ``OBJECT``) and the same texts. Spark's own JSON functions
cannot tell ``"42"`` from ``42``, hence Python. (Where exotic JSON makes the two differ is listed
with the engines' other differences, in ``spark_engine``'s docstring.)
"""

from __future__ import annotations

import json
import re

from clickpipe_core.contracts import Dataset

_SURROGATE = re.compile("[\ud800-\udfff]")
_LOWER_HEX = re.compile(r"\\u00([0-9a-f]{2})")


class _Invalid(ValueError):
    pass


def _first_wins(pairs):
    out = {}
    for k, v in pairs:
        out.setdefault(k, v)
    return out


def json_type(v) -> str:
    if isinstance(v, dict):
        return "OBJECT"
    if isinstance(v, list):
        return "ARRAY"
    if isinstance(v, str):
        return "VARCHAR"
    if isinstance(v, bool):
        return "BOOLEAN"
    if v is None:
        return "NULL"
    if isinstance(v, int):
        if 0 <= v < 2**64:
            return "UBIGINT"
        if -(2**63) <= v < 0:
            return "BIGINT"
    return "DOUBLE"


def _no_lone_surrogates(v) -> None:
    if isinstance(v, str):
        if _SURROGATE.search(v):
            raise _Invalid
    elif isinstance(v, dict):
        for k, x in v.items():
            _no_lone_surrogates(k)
            _no_lone_surrogates(x)
    elif isinstance(v, list):
        for x in v:
            _no_lone_surrogates(x)


def parse(line: str | None):
    """The JSON value of a line, or raise _Invalid (also for lone surrogate escapes, as DuckDB)."""
    if line is None:
        raise _Invalid
    try:
        v = json.loads(line, object_pairs_hook=_first_wins)
    except (ValueError, RecursionError):
        raise _Invalid from None
    if "\\u" in line and ("\\ud" in line.lower()):
        _no_lone_surrogates(v)
    return v


def dump_object(v: dict) -> str:
    text = json.dumps(v, separators=(",", ":"), ensure_ascii=False)
    return _LOWER_HEX.sub(lambda m: "\\u00" + m.group(1).upper(), text) if "\\u00" in text else text


def facts(ds: Dataset, line: str | None) -> tuple[str | None, list[str | None], list[str | None]]:
    """(JSON type of the line or None when it is not JSON, JSON type of each contract field or None
    when absent, text of each field) for one line."""
    n = len(ds.columns)
    try:
        doc = parse(line)
    except _Invalid:
        return None, [None] * n, [None] * n
    if not isinstance(doc, dict):
        return json_type(doc), [None] * n, [None] * n
    kinds, values = [], []
    for c in ds.columns:
        kind = json_type(doc[c.name]) if c.name in doc else None
        v = doc.get(c.name)
        kinds.append(kind)
        if c.json_object:
            values.append(dump_object(v) if kind == "OBJECT" else None)
        elif kind == "VARCHAR":
            values.append(v)
        elif kind in (None, "NULL"):
            values.append(None)
        else:  # what DuckDB's ->> gives for a non-string (the JSON rules reject the record anyway)
            values.append(dump_object(v) if kind in ("OBJECT", "ARRAY") else json.dumps(v))
    return "OBJECT", kinds, values

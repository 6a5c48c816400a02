"""JSON-level checks of click-stream lines in plain Python, as the Spark engine runs them.

The DuckDB engine does the same in SQL (``ndjson_reader.fields_sql``, DuckDB's JSON functions);
this module gives the same answers: the same ``__pre_reason``/``__pre_detail`` and field texts, and
the same JSON type names (DuckDB's, lower-cased: ``ubigint`` for a non-negative integer, ``bigint``
for a negative one, ``double``, ``varchar``, ``boolean``, ``null``, ``array``, ``object``).
Spark's own JSON functions cannot tell ``"42"`` from ``42``, hence Python.

Known differences (exotic JSON only): numbers inside ``properties`` are re-serialized by Python
(``1e20`` -> ``1e+20``); integers beyond 64 bits stay exact here where DuckDB makes them doubles.
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
        return "object"
    if isinstance(v, list):
        return "array"
    if isinstance(v, str):
        return "varchar"
    if isinstance(v, bool):
        return "boolean"
    if v is None:
        return "null"
    if isinstance(v, int):
        if 0 <= v < 2**64:
            return "ubigint"
        if -(2**63) <= v < 0:
            return "bigint"
    return "double"


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


def check_line(ds: Dataset, line: str | None) -> tuple[str | None, str | None, list[str | None]]:
    """(pre_reason, pre_detail, field texts) for one line."""
    names, json_cols = ds.column_names, set(ds.json_object_columns)
    try:
        doc = parse(line)
    except _Invalid:
        return "malformed_json", "not a JSON document", [None] * len(names)
    if not isinstance(doc, dict):
        return "not_an_object", f"a JSON {json_type(doc)} instead of an object", [None] * len(names)
    reason = detail = None
    values: list[str | None] = []
    for name in names:
        present = name in doc
        v = doc.get(name)
        kind = json_type(v) if present else None
        is_obj_col = name in json_cols
        allowed = ("object", "null") if is_obj_col else ("varchar", "null")
        if kind is not None and kind not in allowed and reason is None:
            reason = f"wrong_type_{name}"
            detail = f"{name} must be a JSON {'object' if is_obj_col else 'string'}, got {kind}"
        if is_obj_col:
            values.append(dump_object(v) if kind == "object" else None)
        elif kind == "varchar":
            values.append(v)
        elif kind in (None, "null"):
            values.append(None)
        else:  # what DuckDB's json_extract_string gives for a non-string (the check fails anyway)
            values.append(dump_object(v) if kind in ("object", "array") else json.dumps(v))
    return reason, detail, values

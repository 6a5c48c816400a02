"""Check a QuickSight dashboard ``Definition`` against its data sets' columns: what QuickSight checks
when it builds a dashboard version and botocore's request validation does not.

:func:`field_problems` returns one line per field the Definition names that its data set does not
have, or of a type its use does not accept (a measure on a numeric column, a date dimension on a date,
a category on a string; an aggregated calculated field is a measure and is never aggregated again),
and per calculated field naming a column its data set lacks, aggregating a non-numeric column, or
naming an undeclared parameter. The tests run it on the dashboard's Definition with the mart
contract's columns; the rehearsal's QuickSight stand-in runs it with the columns of the data sets
created on the emulator, and fails the dashboard version as QuickSight would.
"""

from __future__ import annotations

import re

NUMERIC = {"INTEGER", "DECIMAL"}
# The column types (QuickSight's InputColumn types) each kind of field accepts.
ACCEPTS = {
    "NumericalMeasureField": NUMERIC,
    "NumericalDimensionField": NUMERIC,
    "CategoricalMeasureField": {"STRING"},
    "CategoricalDimensionField": {"STRING"},
    "DateMeasureField": {"DATETIME"},
    "DateDimensionField": {"DATETIME"},
    "TimeRangeFilter": {"DATETIME"},
    "CategoryFilter": {"STRING"},
}
AGGREGATIONS = r"(?:sum|sumIf|max|min|avg|count|distinct_count)"
PARAMETER_PROBLEM = "parameter"  # a word every line about an undeclared parameter holds


def walk(node, key=None):
    """Every (key, value) pair of a nested dict/list structure, depth first."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield k, v
            yield from walk(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v, key)


def field_problems(definition: dict, columns: dict[str, dict[str, str]]) -> list[str]:
    """Problems of ``definition`` given each declared data set identifier's columns (name -> type)."""
    out: list[str] = []
    declared = {x["Identifier"] for x in definition.get("DataSetIdentifierDeclarations", [])}
    parameters = {next(iter(p.values()))["Name"] for p in definition.get("ParameterDeclarations", [])}
    calculated: dict[tuple[str, str], str] = {}
    for c in definition.get("CalculatedFields", []):
        ds, expr = c["DataSetIdentifier"], c["Expression"]
        calculated[(ds, c["Name"])] = expr
        types = columns.get(ds, {})
        for name in re.findall(r"(?<!\$)\{(\w+)\}", expr):
            if name not in types:
                out.append(f"calculated field {c['Name']}: {{{name}}} is not a column of {ds}")
        for name in re.findall(AGGREGATIONS + r"\(\{(\w+)\}", expr):
            if types.get(name, "DECIMAL") not in NUMERIC:
                out.append(f"calculated field {c['Name']}: aggregates {name}, a {types[name]} column")
        for name in re.findall(r"\$\{(\w+)\}", expr):
            if name not in parameters:
                out.append(f"calculated field {c['Name']}: {PARAMETER_PROBLEM} {name} is not declared")

    def column_type(col: dict) -> str | None:
        ds, name = col.get("DataSetIdentifier"), col["ColumnName"]
        if ds not in declared:
            out.append(f"{name}: data set {ds} is not declared")
            return None
        if (ds, name) in calculated:
            return "AGGREGATED" if re.search(AGGREGATIONS + r"\(", calculated[(ds, name)]) else "CALCULATED"
        types = columns.get(ds, {})
        if name not in types:
            out.append(f"{ds}.{name} is not a column of the data set")
        return types.get(name)

    for kind, node in walk(definition):
        if kind in ACCEPTS and isinstance(node, dict) and "Column" in node:
            t = column_type(node["Column"])
            where = f"{kind} {node.get('FieldId') or node.get('FilterId')} on {node['Column']['ColumnName']}"
            if t == "AGGREGATED":
                if kind != "NumericalMeasureField":
                    out.append(f"{where}: an aggregated calculated field is a measure only")
                elif "AggregationFunction" in node:
                    out.append(f"{where}: aggregates an aggregated calculated field again")
            elif t is not None and t not in ACCEPTS[kind] and t != "CALCULATED":
                out.append(f"{where}: a {t} column, {kind} takes {sorted(ACCEPTS[kind])}")
        elif kind == "ColumnSort":
            t = column_type(node["SortBy"])
            numeric = "NumericalAggregationFunction" in (node.get("AggregationFunction") or {})
            if t is not None and numeric and t not in NUMERIC:
                out.append(f"ColumnSort on {node['SortBy']['ColumnName']}: a numerical aggregation of a {t} column")
        elif kind == "LinkToDataSetColumn":
            t = column_type(node)
            if t is not None and t != "STRING":
                out.append(f"a string parameter's values linked to {node['ColumnName']}, a {t} column")
    return out

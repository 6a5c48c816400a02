"""Check request parameters against an AWS service model *including* what botocore leaves out.

botocore validates types and required members client-side but not a string's ``pattern``, the
``min``/``max`` of strings, lists, maps and numbers, nor ``enum`` values; the services do, and a
request that breaks one fails only on the real deploy (e.g. QuickSight's ``PhysicalTableMap`` keys
must match ``[0-9a-zA-Z-]*``). :func:`problems` walks the operation's input shape and returns one
line per violation; :func:`install` makes every boto3 call in this process run it first.
"""

from __future__ import annotations

import functools
import re

from botocore.model import Shape

_SKIPPED_PATTERNS: set[str] = set()  # service patterns Python's re cannot compile (e.g. \p{...})


@functools.lru_cache(maxsize=4096)
def _regex(pattern: str):
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        _SKIPPED_PATTERNS.add(pattern)
        return None


def _count(kind: str, n: int, meta: dict, where: str) -> list[str]:
    out = []
    if "min" in meta and n < meta["min"]:
        out.append(f"{where}: {kind} {n} is below the model's min {meta['min']}")
    if "max" in meta and n > meta["max"]:
        out.append(f"{where}: {kind} {n} is above the model's max {meta['max']}")
    return out


def problems(shape: Shape | None, value, where: str = "") -> list[str]:
    """Every way ``value`` breaks ``shape``'s patterns, lengths, ranges and enums."""
    if shape is None or value is None:
        return []
    meta = shape.metadata
    t = shape.type_name
    out: list[str] = []
    if t == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                out += problems(member, value[name], f"{where}.{name}" if where else name)
    elif t == "list" and isinstance(value, (list, tuple)):
        out += _count("length", len(value), meta, where)
        for i, item in enumerate(value):
            out += problems(shape.member, item, f"{where}[{i}]")
    elif t == "map" and isinstance(value, dict):
        out += _count("entries", len(value), meta, where)
        for k, v in value.items():
            out += problems(shape.key, k, f"{where} key {k!r}")
            out += problems(shape.value, v, f"{where}[{k!r}]")
    elif t == "string" and isinstance(value, str):
        out += _count("length", len(value), meta, where)
        pattern = meta.get("pattern")
        regex = _regex(pattern) if pattern else None
        if regex is not None and not regex.fullmatch(value):
            out.append(f"{where}: {value[:80]!r} does not match the model's pattern {pattern}")
        if shape.enum and value not in shape.enum:
            out.append(f"{where}: {value!r} is not one of {shape.enum}")
    elif t in ("integer", "long", "float", "double") and isinstance(value, (int, float)) and not isinstance(value, bool):
        out += _count("value", value, meta, where)
    return out


def operation_problems(service_model, operation_name: str, params: dict) -> list[str]:
    op = service_model.operation_model(operation_name)
    return [f"{service_model.service_name}.{operation_name} {p}" for p in problems(op.input_shape, params)]


def install() -> None:
    """Make every botocore client in this process check its requests first (idempotent); a
    violation raises botocore's ``ParamValidationError`` before anything is sent."""
    from botocore.client import BaseClient
    from botocore.exceptions import ParamValidationError

    if getattr(BaseClient._make_api_call, "_clickpipe_model_check", False):
        return
    original = BaseClient._make_api_call

    def checked(self, operation_name, api_params):
        found = operation_problems(self.meta.service_model, operation_name, api_params)
        if found:
            raise ParamValidationError(report="\n".join(found))
        return original(self, operation_name, api_params)

    checked._clickpipe_model_check = True
    BaseClient._make_api_call = checked

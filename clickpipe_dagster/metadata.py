"""Metadata as people read it in the Dagster UI: markdown tables instead of JSON, numbers with
thousands separators, sizes in bytes units, previews of rows, links that open."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path

import dagster as dg

PREVIEW_ROWS = 5
MAX_CELL = 60


def size(n: int | None) -> str:
    """1536 -> '1.5 KiB'."""
    if n is None:
        return ""
    value = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value):,} {unit}" if unit == "bytes" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{n:,} bytes"


def number(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.4g}"
    if isinstance(v, Decimal):
        return f"{v:,f}"
    return str(v)


def share(part: int, whole: int) -> str:
    return f"{part / whole:.2%}" if whole else "0.00%"


def _cell(v) -> str:
    if isinstance(v, (_dt.datetime, _dt.date)):
        text = v.isoformat(sep=" ") if isinstance(v, _dt.datetime) else v.isoformat()
    else:
        text = number(v)
    text = text.replace("|", "\\|").replace("\r", " ").replace("\n", " ")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def table(headers: Sequence[str], rows: Iterable[Sequence]) -> dg.MetadataValue:
    """A markdown table (the UI renders it); cells are formatted, escaped and shortened."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return dg.MetadataValue.md("\n".join(lines))


def counts(mapping: Mapping[str, int], key: str, value: str = "rows") -> dg.MetadataValue:
    """A two-column table, largest count first."""
    return table([key, value], sorted(mapping.items(), key=lambda kv: (-kv[1], kv[0])))


def preview(arrow_table, columns: Sequence[str] | None = None, rows: int = PREVIEW_ROWS) -> dg.MetadataValue:
    """The first rows of an Arrow table as a markdown table."""
    names = [c for c in (columns or arrow_table.column_names) if c in arrow_table.column_names]
    head = arrow_table.select(names).slice(0, rows).to_pylist()
    return table(names, ([r[c] for c in names] for r in head))


def path_url(path: str | Path, folder: bool = False) -> str:
    """A file:// link as written (no percent-encoding: ``ingest_date=…`` stays readable)."""
    text = str(path)
    return "file://" + text + ("/" if folder and not text.endswith("/") else "")


def bulleted(lines: Iterable[str]) -> dg.MetadataValue:
    return dg.MetadataValue.md("\n".join(f"- {line}" for line in lines) or "none")

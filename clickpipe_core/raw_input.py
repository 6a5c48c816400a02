"""What every Job 1 reader shares about raw input: line-level quarantine wording, the CSV header
check, physical lines, damaged gzip objects, and the arrival bound of a Firehose object.

Engine-neutral on purpose (no DuckDB, no Spark import). Each engine reads raw objects its own
way (``glue_scripts/duckdb_engine.py``, ``glue_scripts/spark_engine.py``), but a line that never
became a record gets the same quarantine row from either, in these words.
"""

from __future__ import annotations

import csv
import re
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from clickpipe_core import layout
from clickpipe_core.contracts import Dataset

MAX_LINE_BYTES = 8 * 1024 * 1024  # a longer line is quarantined, not a crash
HEAD_BYTES = 64 * 1024
MAX_RECORD_CHARS = 65536  # the raw text kept for a line that never became a record
# Event times up to this much after the end of their arrival hour are clock skew, not the future.
CLOCK_SKEW = timedelta(minutes=5)
LINE_END = re.compile(rb"\r\n|\r|\n")

# What a file's note says when it holds no records at all (else the note is the header problem).
EMPTY_FILE = "empty"
CORRUPT_OBJECT = "corrupt_object"
# A raw object whose name starts with '.' or '_' (hidden or temporary by convention, and skipped by
# Spark's and Hadoop's readers): not read, every record line quarantined with this reason.
HIDDEN_FILE_NAME = "hidden_file_name"


# -- lines that never became records -------------------------------------------------------------
# Each engine's reader says why in its own words; the quarantine row says it in these, so both
# engines write the same rows (a shared rule: the readers' own messages differ).
def reject_detail(reason: str, *, expected: int | None = None, found: int | None = None) -> str:
    if reason in ("too_many_columns", "too_few_columns"):
        return f"expected {expected} fields, found {found}"
    return {
        "invalid_encoding": "the line is not valid UTF-8 text",
        "line_too_long": f"the line is longer than {MAX_LINE_BYTES} bytes",
        "malformed_csv": "a quoted value is not closed, or text follows its closing quote",
        "malformed_json": "not a JSON document",
    }[reason]


def reject_detail_sql(d, reason: str, *, expected: str = "NULL", found: str = "NULL") -> str:
    """``reject_detail`` as a SQL expression of the ``expected`` and ``found`` expressions, for an
    engine that words its rejects in SQL (the same words)."""
    text = reject_detail(reason, expected="\0expected\0", found="\0found\0")
    parts = [p for p in re.split("\0", text) if p]
    exprs = {"expected": expected, "found": found}
    return "concat(" + ", ".join(f"CAST({exprs[p]} AS STRING)" if p in exprs else d.literal(p) for p in parts) + ")"


def reject_record(raw: bytes | str | None) -> str:
    """The raw text of a rejected line as quarantined: UTF-8 with U+FFFD for bad bytes, no line
    terminator, at most MAX_RECORD_CHARS characters."""
    if raw is None:
        return ""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return text.rstrip("\r\n")[:MAX_RECORD_CHARS]


@dataclass(frozen=True)
class LineReject:
    """A line that never became a record: quarantined by its line number with a stable reason."""

    reason: str
    detail: str
    fidx: int  # the object's index in the run's input
    line: int  # 1-based physical line number in the object
    record: str


def open_maybe_gzip(path: Path):
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        import gzip

        return gzip.open(path, "rb")
    return open(path, "rb")


def physical_lines(path: Path, wanted: set[int] | None = None, *, gunzip: bool = False) -> dict[int, bytes]:
    """Lines of a file by 1-based number, split on CR, LF or CRLF like the readers do.

    Only the ``wanted`` line numbers are kept (all when None). One streaming pass; with
    ``gunzip`` a gzip file is decompressed first.
    """
    out: dict[int, bytes] = {}
    n = 0
    with open_maybe_gzip(path) if gunzip else open(path, "rb") as f:
        for raw in f:  # splits after each LF
            body = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1] if raw.endswith(b"\n") else raw
            for part in LINE_END.split(body) if b"\r" in body else (body,):
                n += 1
                if wanted is None or n in wanted:
                    out[n] = part
            if wanted is not None and n >= max(wanted, default=0):
                break
    return out


# -- CSV files ---------------------------------------------------------------------------------------
def read_head(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(HEAD_BYTES)


def header_problem(ds: Dataset, head: bytes) -> tuple[list[str], str | None]:
    """The normalized header names and, when the header cannot be used, why."""
    first = LINE_END.split(head, maxsplit=1)[0]
    if first.startswith(b"\xef\xbb\xbf"):
        first = first[3:]
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError:
        return [], "the header line is not UTF-8 text"
    names = [n.strip().lower() for n in next(csv.reader([text]), [])]
    expected = ds.column_names
    missing = [c for c in ds.required_columns if c not in names]
    unknown = [n for n in names if n not in expected]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if missing or unknown or dupes:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing))
        if unknown:
            parts.append("unexpected " + ", ".join(repr(u) for u in unknown))
        if dupes:
            parts.append("repeated " + ", ".join(dupes))
        return names, f"header does not match the {ds.name} contract ({'; '.join(parts)}); expected {','.join(expected)}"
    return names, None


def is_empty_head(head: bytes) -> bool:
    return not head.strip(b"\xef\xbb\xbf\r\n \t")


def is_blank_line(raw: bytes) -> bool:
    """A line of a file with an unusable header that holds no record (Python's bytes.strip())."""
    return not raw.strip()


def wrong_header_rejects(path: Path, fidx: int, problem: str) -> list[LineReject]:
    """Every record line of a file whose header cannot be used, quarantined raw with one reason."""
    return whole_file_rejects(path, fidx, "wrong_header", problem)


def whole_file_rejects(path: Path, fidx: int, reason: str, problem: str, *, header: bool = True, gunzip: bool = False) -> list[LineReject]:
    """Every record line of a file rejected whole (after its header line, when it has one; blank
    lines hold no record), quarantined raw with one reason."""
    return [
        LineReject(reason, problem, fidx, n, reject_record(raw))
        for n, raw in physical_lines(path, gunzip=gunzip).items()
        if (n > 1 or not header) and not is_blank_line(raw)
    ]


def hidden_name_problem(key: str) -> str | None:
    """Why a raw object is not read for its name (it starts with '.' or '_'), or None."""
    name = key.rsplit("/", 1)[-1]
    if not name.startswith((".", "_")):
        return None
    return (
        f"the file name starts with {name[0]!r} (hidden or temporary by convention), so its records were not read; "
        f"rename it without the leading {name[0]!r} and run the partition again"
    )


# -- line ends -----------------------------------------------------------------------------------------
def _chunks_ending_clean(path: Path):
    """The file in chunks that never end between a CR and the LF after it."""
    carry = b""
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            data, carry = carry + chunk, b""
            if data.endswith(b"\r"):
                data, carry = data[:-1], b"\r"
            yield data
    if carry:
        yield carry


def mixed_line_ends(path: Path) -> bool:
    """Does the file end its lines in more than one way (CRLF, LF, CR)? DuckDB's CSV reader stops
    at such a file; Spark's text reader splits on all three."""
    crlf = lf = cr = 0
    for data in _chunks_ending_clean(path):
        n = data.count(b"\r\n")
        crlf, lf, cr = crlf + n, lf + data.count(b"\n") - n, cr + data.count(b"\r") - n
    return sum(1 for n in (crlf, lf, cr) if n) > 1


def normalize_line_ends(path: Path, target: Path) -> Path:
    """A copy of the file with every line end (CRLF, LF, CR) an LF: the same lines, the same line
    numbers. (A line end inside a quoted value becomes an LF too.)"""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        for data in _chunks_ending_clean(path):
            out.write(data.replace(b"\r\n", b"\n").replace(b"\r", b"\n"))
    return target


# -- Firehose objects --------------------------------------------------------------------------------
def not_after(key: str) -> datetime:
    """The latest event time a Firehose object can hold: the end of its arrival hour, plus skew."""
    return layout.parse_raw_clicks_arrival(key) + timedelta(hours=1) + CLOCK_SKEW


def salvage_gzip(path: Path) -> tuple[bytes, str | None]:
    """The decompressed bytes up to the damage, and what the damage was (None if the object is fine)."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = []
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            try:
                out.append(d.decompress(chunk))
            except zlib.error as e:
                return b"".join(out), f"corrupt gzip data ({e})"
            if d.eof and d.unused_data:
                # a second gzip member (concatenated objects are valid gzip): continue with it
                rest = d.unused_data + f.read()
                d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                try:
                    out.append(d.decompress(rest))
                except zlib.error as e:
                    return b"".join(out), f"corrupt gzip data ({e})"
    if not d.eof:
        return b"".join(out), "gzip stream ends early (truncated object)"
    return b"".join(out), None


def split_lines(data: bytes) -> list[bytes]:
    """Lines as the readers split them (CR, LF or CRLF); a final line end ends the last line."""
    for end in (b"\r\n", b"\n", b"\r"):
        if data.endswith(end):
            data = data[: -len(end)]
            break
    return LINE_END.split(data)


@dataclass(frozen=True)
class Salvaged:
    """A gzip object a reader could not read, as far as it can be read: its complete lines (split
    on CR, LF or CRLF) and, when the object is damaged, the quarantine row for the rest."""

    lines: list[bytes]
    corrupt: LineReject | None


def salvage(path: Path, fidx: int) -> Salvaged:
    data, problem = salvage_gzip(path)
    if problem is None:
        # A sound object a reader could not split (e.g. DuckDB's stops at mixed CRLF and LF line ends).
        return Salvaged(split_lines(data) if data else [], None)
    complete, _, partial = data.rpartition(b"\n")
    kept = complete.count(b"\n") + 1 if complete else 0
    corrupt = LineReject(
        CORRUPT_OBJECT,
        f"{problem}; the {kept} complete line(s) before the damage were kept",
        fidx,
        kept + 1,
        partial.decode("utf-8", "replace")[:MAX_RECORD_CHARS],
    )
    return Salvaged(split_lines(complete) if complete else [], corrupt)

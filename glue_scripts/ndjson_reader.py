"""Reading Firehose objects (gzip NDJSON) into the text columns the cleaning rules expect.

Each line is read as text, so a malformed line becomes a quarantine row rather than an error
for the whole object. JSON-level problems (not JSON, not an object, a field of the wrong JSON
type) become ``__pre_reason``; the contract's own rules run afterwards, like for CSV. A broken
gzip object is salvaged in Python: the complete lines before the damage are kept and the rest is
quarantined as one record that says what happened.
"""

from __future__ import annotations

import zlib
from datetime import timedelta
from pathlib import Path

import duckdb

from clickpipe_core.contracts import Dataset
from clickpipe_core.dialect import DUCKDB
from clickpipe_core.job1 import LINE_END, MAX_LINE_BYTES, MAX_RECORD_CHARS, physical_lines, reject_detail, reject_record

# Event times up to this much after the end of their arrival hour are clock skew, not the future.
CLOCK_SKEW = timedelta(minutes=5)


def _line_reader(paths: list[str], *, compressed: bool) -> str:
    files = "[" + ", ".join(DUCKDB.literal(p) for p in paths) + "]"
    # \x01 never appears unescaped in valid JSON: every line is one value.
    return (
        f"read_csv({files}, columns = {{'line': 'VARCHAR'}}, header = false, delim = '\\x01', quote = '', "
        f"escape = '', auto_detect = false, filename = true, max_line_size = {MAX_LINE_BYTES}, "
        f"compression = '{'gzip' if compressed else 'none'}', store_rejects = true, "
        "rejects_table = 'json_rejects', rejects_scan = 'json_scans')"
    )


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


def load_lines(con: duckdb.DuckDBPyConnection, files: list[tuple[str, Path]], bad_rows: list, workdir: Path) -> None:
    """Fill ``lines(__file, line)`` from the objects, in input order; unreadable parts go to bad_rows."""
    con.execute("CREATE OR REPLACE TABLE lines (__file VARCHAR, line VARCHAR)")
    con.execute("CREATE OR REPLACE TABLE file_paths (path VARCHAR, __file VARCHAR)")
    con.executemany("INSERT INTO file_paths VALUES (?, ?)", [(str(p), k) for k, p in files])

    def insert(key: str, path: str, compressed: bool) -> None:
        # One object per statement, no join: the rowids of ``lines`` are then the input order
        # (objects in key order, lines in file order). A multi-file read or a join on the file
        # name interleaves objects, and dedup takes the first occurrence by this order.
        con.execute(f"INSERT INTO lines SELECT ?, line FROM {_line_reader([path], compressed=compressed)}", [key])

    for n, (key, path) in enumerate(files):
        try:
            insert(key, str(path), True)
            continue
        except (duckdb.IOException, duckdb.InvalidInputException):
            pass  # a damaged object: salvage what can be read
            data, problem = salvage_gzip(path)
            if problem is None:
                # A sound object the reader cannot split (it stops at mixed CRLF and LF line ends):
                # split it here, on CR, LF or CRLF like the Spark engine's reader.
                complete, partial = data, b""
            else:
                complete, _, partial = data.rpartition(b"\n")
            if complete:
                plain = workdir / f"salvaged-{n}.ndjson"
                plain.write_bytes(b"\n".join(split_lines(complete)) + b"\n")
                con.execute("INSERT INTO file_paths VALUES (?, ?)", [str(plain), key])
                insert(key, str(plain), False)
            if problem is None:
                continue
            kept = complete.count(b"\n") + 1 if complete else 0
            bad_rows.append(
                (
                    "corrupt_object",
                    f"{problem}; the {kept} complete line(s) before the damage were kept",
                    key,
                    f"line {kept + 1}",
                    partial.decode("utf-8", "replace")[:MAX_RECORD_CHARS],
                )
            )
    rejects = con.execute(
        """SELECT fp.__file, fp.path, line, arg_min(error_type, byte_position), arg_min(csv_line, byte_position)
           FROM json_rejects r JOIN json_scans s USING (scan_id, file_id) JOIN file_paths fp ON fp.path = s.file_path
           GROUP BY ALL ORDER BY 1, 3"""
    ).fetchall()
    # The reader's own text of a rejected line is shortened or mangled: read it from the object.
    wanted: dict[str, set[int]] = {}
    for _, path, line, _, _ in rejects:
        wanted.setdefault(path, set()).add(line)
    raw_lines = {path: physical_lines(Path(path), lines, gunzip=True) for path, lines in wanted.items()}
    for key, path, line, etype, _ in rejects:
        reason = "line_too_long" if "MAXIMUM" in etype else "invalid_encoding" if "ENCOD" in etype or "UNICODE" in etype else "malformed_json"
        bad_rows.append((reason, reject_detail(reason), key, f"line {line}", reject_record(raw_lines[path].get(line))))
    con.execute("DROP TABLE IF EXISTS json_rejects; DROP TABLE IF EXISTS json_scans")


def fields_sql(ds: Dataset, source: str) -> str:
    """From ``source(__lrow, __file, __not_after, line)`` to the contract's text columns plus ``__pre_reason``.

    Each line is parsed once, into a struct of JSON values (one per contract field); the type
    checks and the text values then work on those small values.
    """
    json_cols = set(ds.json_object_columns)
    shape = DUCKDB.literal("{" + ", ".join(f'"{c}": "JSON"' for c in ds.column_names) + "}")
    type_checks = []
    for c in ds.columns:
        allowed = "('OBJECT', 'NULL')" if c.name in json_cols else "('VARCHAR', 'NULL')"
        kind = "object" if c.name in json_cols else "string"
        type_checks.append(
            (
                f"json_type(obj.{c.name}) NOT IN {allowed}",
                f"wrong_type_{c.name}",
                f"concat({DUCKDB.literal(f'{c.name} must be a JSON {kind}, got ')}, lower(json_type(obj.{c.name})))",
            )
        )
    whens = [
        ("jt IS NULL", "malformed_json", "'not a JSON document'"),
        ("jt <> 'OBJECT'", "not_an_object", "concat('a JSON ', lower(jt), ' instead of an object')"),
        *type_checks,
    ]
    pre_reason = "CASE " + " ".join(f"WHEN {w} THEN {DUCKDB.literal(r)}" for w, r, _ in whens) + " END"
    pre_detail = "CASE " + " ".join(f"WHEN {w} THEN {d}" for w, _, d in whens) + " END"
    values = ", ".join(
        (
            f"CASE WHEN json_type(obj.{c.name}) = 'OBJECT' THEN CAST(obj.{c.name} AS VARCHAR) END"
            if c.name in json_cols
            else f"obj.{c.name} ->> '$'"
        )
        + f" AS {c.name}"
        for c in ds.columns
    )
    return f"""
SELECT __lrow, __file, __not_after, line AS __record, {pre_reason} AS __pre_reason, {pre_detail} AS __pre_detail, {values}
FROM (
  SELECT *, CASE WHEN jt = 'OBJECT' THEN try(from_json(line, {shape})) END AS obj
  FROM (SELECT *, try(json_type(line)) AS jt FROM {source})
)
"""

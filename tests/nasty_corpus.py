"""A corpus of nasty inputs with the outcome every record must have, and the ledger that checks it.

Each builder returns the raw bytes of one file and the expected fate of each of its records:
``("processed", key)`` or ``("quarantine", reason)``, in record order. ``ledger`` reads what Job 1
published for a partition and ``assert_ledger`` compares it record by record: every raw record ends
exactly once, where the corpus says.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections import Counter
from decimal import Decimal

import pyarrow.parquet as pq

from clickpipe_core import layout
from clickpipe_core.contracts import CLICKS, CURRENCIES, TRANSACTIONS, USERS, minor_units

# Control characters no text field may hold (U+0000 is the one PostgreSQL cannot store at all) and
# characters that are fine: tab, a line feed inside a quoted CSV field, DEL, a C1 control (NEL).
FORBIDDEN = {"nul": "\x00", "soh": "\x01", "backspace": "\x08", "vt": "\x0b", "ff": "\x0c", "esc": "\x1b", "us": "\x1f"}
ALLOWED = {"tab": "\t", "del": "\x7f", "nel": "\x85"}

USER = {"user_id": "U1", "full_name": "Ann Lee", "email": "ann@example.com", "country": "US",
        "signup_date": "2025-01-01", "plan": "free"}  # fmt: skip
TRANSACTION = {"transaction_id": "T0", "user_id": "U1", "amount": "10.00", "currency": "USD", "status": "completed",
               "payment_method": "card", "transaction_ts": "2026-11-01T10:00:00Z"}  # fmt: skip


def _csv(columns: list[str], rows: list[dict]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([r.get(c, "") for c in columns])
    return buf.getvalue().encode()


def _inject(value: str, char: str) -> str:
    return value[:1] + char + value[1:]


def _typed_reason(ds, column: str) -> str:
    """The reason a control character gives in a column: its own rule for text, else the type's."""
    return f"control_character_{column}" if ds.column(column).type == "string" else f"invalid_{column}"


def _every_field_with_every_control_character(ds, base: dict, prefix: str) -> tuple[list[dict], list[tuple[str, str]]]:
    rows, fates = [], []
    for column in ds.column_names:
        for char in FORBIDDEN.values():
            row = dict(base, **{ds.key: f"{prefix}{len(rows) + 1:04d}"})
            row[column] = _inject(row[column], char)
            rows.append(row)
            fates.append(("quarantine", _typed_reason(ds, column)))
    return rows, fates


def users_with_control_characters(*, quoted_line_feed: bool = True) -> tuple[bytes, list[tuple[str, str]]]:
    """Every users field with every forbidden control character, and text with allowed ones (with
    ``quoted_line_feed``, also a line feed inside a quoted field, which the Spark engine's line
    reader does not join into one record)."""
    rows, fates = _every_field_with_every_control_character(USERS, USER, "U")
    for char in [*ALLOWED.values(), *(["\n"] if quoted_line_feed else [])]:
        uid = f"U{len(rows) + 1:04d}"
        rows.append(dict(USER, user_id=uid, full_name=_inject("Ann Lee", char)))
        fates.append(("processed", uid))
    return _csv(USERS.column_names, rows), fates


# Line ends of a CSV file's lines (header first), mixed in the ways extracts mix them.
MIXED_LINE_ENDS = {
    "one_crlf_line_in_lf": ["\n", "\n", "\r\n", "\n"],
    "only_the_last_line_crlf": ["\n", "\n", "\n", "\r\n"],
    "one_lf_line_in_crlf": ["\r\n", "\r\n", "\n", "\r\n"],
    "a_cr_line_end_in_lf": ["\n", "\r", "\n", "\n"],
}


def users_with_line_ends(ends: list[str], first: int = 2) -> tuple[bytes, list[tuple[str, str]]]:
    """Three users records (ids from U<first>; the second holds a control character) with the given
    line ends (header first)."""
    rows = [dict(USER, user_id=f"U{first + i}") for i in range(3)]
    rows[1]["full_name"] = _inject("Ann Lee", "\x01")
    lines = [",".join(USERS.column_names)] + [",".join(r[c] for c in USERS.column_names) for r in rows]
    data = "".join(line + end for line, end in zip(lines, ends, strict=True)).encode()
    return data, [("processed", rows[0]["user_id"]), ("quarantine", "control_character_full_name"), ("processed", rows[2]["user_id"])]


def hidden_users_file(first: int) -> tuple[bytes, dict[str, str]]:
    """A users file with two records and a blank line, and the quarantine spot of each record line."""
    rows = [dict(USER, user_id=f"U{first + i}") for i in range(2)]
    lines = [",".join(USERS.column_names), ",".join(rows[0].values()), "", ",".join(rows[1].values())]
    return ("\n".join(lines) + "\n").encode(), {"line 2": "hidden_file_name", "line 4": "hidden_file_name"}


def transactions_with_control_characters() -> tuple[bytes, list[tuple[str, str]]]:
    """Every transactions field with every forbidden control character (user U1 must exist)."""
    rows, fates = _every_field_with_every_control_character(TRANSACTIONS, TRANSACTION, "C")
    tid = f"C{len(rows) + 1:04d}"
    rows.append(dict(TRANSACTION, transaction_id=tid))
    fates.append(("processed", tid))
    return _csv(TRANSACTIONS.column_names, rows), fates


def amounts_by_currency(day: str = "2026-11-01") -> tuple[bytes, list[tuple[str, str]], list[dict]]:
    """For every allowed currency: exact amounts, trailing zeros, one decimal too many, the largest
    amount the contract allows (twice, on one day: their sum needs more than 18 digits) and one
    digit too many. Returns the file, the fates, and the rows that must be processed (typed)."""
    rows, fates, clean = [], [], []

    def add(currency: str, amount: str, fate: str | None, status: str = "completed") -> None:
        tid = f"A{len(rows) + 1:04d}"
        rows.append(dict(TRANSACTION, transaction_id=tid, amount=amount, currency=currency, status=status,
                         transaction_ts=f"{day}T12:00:00Z"))  # fmt: skip
        fates.append(("processed", tid) if fate is None else ("quarantine", fate))
        if fate is None:
            clean.append({"transaction_id": tid, "currency": currency, "amount": Decimal(amount), "status": status})

    for currency in CURRENCIES:
        k = minor_units(currency)
        frac = lambda digits: ("." + digits) if digits else ""  # noqa: E731
        add(currency, "1" + frac("1" * k), None)
        add(currency, "7" + frac("0" * (k + 3)), None)  # trailing zeros are not precision
        add(currency, "1" + frac("0" * k + "1") if k else "1.5", "too_precise_amount")
        add(currency, "0." + "0" * k + "5", "too_precise_amount")
        largest = "9" * 16 + frac("9" * k)
        add(currency, largest, None)
        add(currency, largest, None)
        add(currency, largest, None, status="refunded")
        add(currency, "9" * 16 + "." + "9" * (k + 1), "too_precise_amount")
        add(currency, "1" + "0" * 16, "invalid_amount")  # 17 integer digits
    return _csv(TRANSACTIONS.column_names, rows), fates, clean


def click(n: int, day: str = "2026-11-02", **overrides) -> dict:
    e = {
        "event_id": f"00000000-0000-4000-8000-{n:012d}",
        "user_id": "U1",
        "session_id": f"S{n}",
        "event_type": "page_view",
        "page": "/home",
        "referrer": "https://example.com/",
        "device": "mobile",
        "user_agent": "Mozilla/5.0",
        "country": "US",
        "ts": f"{day}T10:00:00Z",
        "properties": {"product_id": "P1"},
    }
    e.update(overrides)
    return e


def clicks_with_control_characters(day: str = "2026-11-02") -> tuple[bytes, list[tuple[str, str]]]:
    """Every clicks text field with every forbidden control character as a JSON escape (the record
    is valid JSON; the value is not valid text), raw control characters inside a JSON string (not
    JSON at all), and escaped control characters inside ``properties`` (kept: the processed text is
    JSON, where they stay escaped)."""
    lines, fates = [], []
    n = 0
    for column in CLICKS.column_names:
        if column == "properties":
            continue
        for char in FORBIDDEN.values():
            n += 1
            e = click(n, day)
            e[column] = _inject(e[column], char)
            lines.append(json.dumps(e))
            fates.append(("quarantine", _typed_reason(CLICKS, column)))
    for char in FORBIDDEN.values():
        n += 1
        lines.append(json.dumps(click(n, day, properties={"note": _inject("ab", char)})))
        fates.append(("processed", click(n)["event_id"]))
        n += 1
        raw = json.dumps(click(n, day, page="/p")).replace('"/p"', '"/' + char + 'p"')
        lines.append(raw)
        fates.append(("quarantine", "malformed_json"))
    n += 1
    lines.append(json.dumps(click(n, day, page="/tab\there")))
    fates.append(("processed", click(n)["event_id"]))
    return gzip.compress(("\n".join(lines) + "\n").encode()), fates


# -- the ledger --------------------------------------------------------------------------------------
def _read(store, key: str):
    with store.local_copy(key) as p:
        return pq.read_table(p)


def ledger(store, ds, ingest_date: str) -> dict:
    """What Job 1 published for one raw partition: processed keys (with their count) and quarantine
    rows by (source file, position)."""
    own = layout.source_file_name(ingest_date).removesuffix(".parquet")
    processed: Counter = Counter()
    for o in store.list(layout.processed_prefix(ds.name)):
        name = o.key.rsplit("/", 1)[-1]
        if o.key == layout.snapshot_key(ds.name):
            t = _read(store, o.key).to_pylist()
            processed.update(r[ds.key] for r in t if r["ingest_date"].isoformat() == ingest_date)
        elif name.startswith(own):
            processed.update(_read(store, o.key).column(ds.key).to_pylist())
    quarantine: dict = {}
    key = layout.quarantine_key(ds.name, ingest_date)
    if store.exists(key):
        for r in _read(store, key).to_pylist():
            spot = (r["source_file"], r["source_line"])
            assert spot not in quarantine, f"two quarantine rows for {spot}"
            quarantine[spot] = r
    return {"processed": processed, "quarantine": quarantine}


def assert_ledger(result, found: dict, files: dict[str, list[tuple[str, str]]]) -> None:
    """Every record of every file (raw key -> fates in record order) ends once, where expected."""
    expected_keys: Counter = Counter()
    expected_quarantine = {}
    for key, fates in files.items():
        for i, (where, what) in enumerate(fates, start=1):
            if where == "processed":
                expected_keys[what] += 1
            else:
                expected_quarantine[(key, f"record {i}")] = what
    assert found["processed"] == expected_keys
    assert {spot: q["reason"] for spot, q in found["quarantine"].items()} == expected_quarantine
    total = sum(len(f) for f in files.values())
    assert (result.rows_in, result.rows_out + result.quarantined + result.duplicates) == (total, total)
    assert result.rows_out == sum(expected_keys.values())

"""Nasty files: each gives a clear message or quarantine rows with reasons, never a traceback or a lost row."""

import gzip

import pyarrow.parquet as pq
import pytest

from clickpipe_core.contracts import TRANSACTIONS, USERS
from clickpipe_core import layout
from clickpipe_core.errors import JobInputError
from glue_scripts.duckdb_engine import run_partition

DAY = "2026-11-01"
HEADER = ",".join(USERS.column_names)
GOOD = "U1,Ann Lee,ann@example.com,US,2025-01-01,free"


def put_users(store, data: bytes, name="users.csv"):
    store.put_bytes(data, layout.raw_batch_key("users", DAY, name))


def quarantine(store):
    key = layout.quarantine_key("users", DAY)
    return pq.read_table(store.path(key)).to_pylist() if store.exists(key) else []


def test_missing_file_is_a_clear_error(local_store):
    with pytest.raises(JobInputError, match=r"no raw users file for 2026-11-01.*clickpipe upload"):
        run_partition(local_store, USERS, DAY)


@pytest.mark.parametrize("data", [b"", b"\n\n", b"\xef\xbb\xbf"], ids=["empty", "blank-lines", "bom-only"])
def test_empty_file_gives_a_message_and_no_rows(local_store, data):
    put_users(local_store, data)
    r = run_partition(local_store, USERS, DAY)
    assert (r.rows_in, r.rows_out) == (0, 0)
    assert any("empty file" in m for m in r.messages)


def test_header_only_file(local_store):
    put_users(local_store, (HEADER + "\n").encode())
    r = run_partition(local_store, USERS, DAY)
    assert (r.rows_in, r.rows_out, r.quarantined) == (0, 0, 0)
    assert any("header only" in m for m in r.messages)


def test_wrong_header_quarantines_every_record_with_the_reason(local_store):
    put_users(local_store, b"id,name,mail\n1,a,b\n2,c,d\n")
    r = run_partition(local_store, USERS, DAY)
    assert (r.rows_in, r.rows_out, r.quarantined) == (2, 0, 2)
    rows = quarantine(local_store)
    assert {q["reason"] for q in rows} == {"wrong_header"}
    assert "missing user_id" in rows[0]["detail"] and rows[0]["record"] == "1,a,b"
    assert any("header does not match" in m for m in r.messages)


def test_header_in_another_order_and_case_is_fine(local_store):
    put_users(local_store, b"Country, USER_ID ,full_name,signup_date\nde,U1,Jo,2025-02-03\n")
    r = run_partition(local_store, USERS, DAY)
    assert r.rows_out == 1
    row = pq.read_table(local_store.path("processed/users/users.parquet")).to_pylist()[0]
    assert (row["user_id"], row["country"], row["email"]) == ("U1", "DE", None)


def test_non_utf8_lines_are_quarantined_not_lost(local_store):
    data = (HEADER + "\n" + GOOD + "\n").encode() + "U2,Zoë Ånd,z@example.com,FR,2025-01-01,pro\n".encode("latin-1")
    put_users(local_store, data)
    r = run_partition(local_store, USERS, DAY)
    assert (r.rows_in, r.rows_out, r.quarantined) == (2, 1, 1)
    assert r.quarantine_reasons == {"invalid_encoding": 1}


def test_crlf_and_bom_files_parse_like_plain_ones(local_store):
    data = ("\ufeff" + HEADER + "\r\n" + GOOD + "\r\n" + 'U2,"Doe, Jane",,GB,2025-01-02,\r\n').encode("utf-8")
    put_users(local_store, data)
    r = run_partition(local_store, USERS, DAY)
    assert (r.rows_in, r.rows_out, r.quarantined) == (2, 2, 0)
    names = sorted(pq.read_table(local_store.path("processed/users/users.parquet")).column("full_name").to_pylist())
    assert names == ["Ann Lee", "Doe, Jane"]


def test_wrong_types_and_huge_records(local_store):
    huge = "x" * 3_000_000
    rows = [GOOD, f"U3,{huge},,US,2025-01-01,free", "U4,Bo,,US,01/02/2025,free", "U5,Cy,,US,2025-01-01,gold"]
    put_users(local_store, (HEADER + "\n" + "\n".join(rows) + "\n").encode())
    r = run_partition(local_store, USERS, DAY)
    assert r.rows_in == 4 and r.rows_out == 1
    assert r.quarantine_reasons == {"too_long_full_name": 1, "invalid_signup_date": 1, "not_allowed_plan": 1}


def test_a_line_longer_than_the_reader_limit_is_quarantined(local_store):
    huge = "y" * 9_000_000
    put_users(local_store, (HEADER + "\n" + GOOD + f"\nU9,{huge},,US,2025-01-01,free\n").encode())
    r = run_partition(local_store, USERS, DAY)
    assert r.rows_in == r.rows_out + r.quarantined + r.duplicates
    assert r.rows_out == 1 and r.quarantined == 1


def test_unclosed_quote_is_quarantined(local_store):
    put_users(local_store, (HEADER + "\n" + GOOD + '\nU2,"Unclosed,,US,2025-01-01,free\n').encode())
    r = run_partition(local_store, USERS, DAY)
    assert r.rows_in == r.rows_out + r.quarantined
    assert r.rows_out == 1 and r.quarantined >= 1


def test_gzip_garbage_under_a_csv_name_is_quarantined(local_store):
    put_users(local_store, gzip.compress((HEADER + "\n" + GOOD + "\n").encode()))
    r = run_partition(local_store, USERS, DAY)
    assert r.rows_out == 0 and r.quarantined >= 1
    assert r.rows_in == r.quarantined


def test_newer_extract_wins_whatever_the_processing_order(local_store):
    local_store.put_bytes((HEADER + "\nU1,Old Name,,US,2025-01-01,free\n").encode(), layout.raw_batch_key("users", "2026-11-01", "u.csv"))
    local_store.put_bytes((HEADER + "\nU1,New Name,,US,2025-01-01,pro\n").encode(), layout.raw_batch_key("users", "2026-11-02", "u.csv"))
    run_partition(local_store, USERS, "2026-11-02")
    run_partition(local_store, USERS, "2026-11-01")  # a late backfill of the older extract
    rows = pq.read_table(local_store.path("processed/users/users.parquet")).to_pylist()
    assert [(r["full_name"], r["plan"]) for r in rows] == [("New Name", "pro")]


def test_transactions_with_unknown_users_and_duplicates(local_store):
    put_users(local_store, (HEADER + "\n" + GOOD + "\n").encode())
    run_partition(local_store, USERS, DAY)
    header = ",".join(TRANSACTIONS.column_names)
    rows = [
        "T1,U1,10.00,usd,Completed,card,2026-11-01T10:00:00Z",
        "T1,U1,10.00,usd,Completed,card,2026-11-01T10:00:00Z",
        "T2,U404,5.00,USD,completed,card,2026-11-01T10:00:00Z",
        "T3,U1,-1.00,USD,completed,card,2026-11-01T10:00:00+02:00",
        " T4 , U1 , 7.5 ,EUR,pending,,2026-11-01 23:30:00",
    ]
    local_store.put_bytes((header + "\n" + "\n".join(rows) + "\n").encode(), layout.raw_batch_key("transactions", DAY, "t.csv"))
    r = run_partition(local_store, TRANSACTIONS, DAY)
    assert (r.rows_in, r.rows_out, r.quarantined, r.duplicates) == (5, 2, 2, 1)
    assert r.quarantine_reasons == {"unknown_user_id": 1, "negative_amount": 1}
    out = pq.read_table(local_store.path(f"processed/transactions/dt={DAY}/part-ingest_date={DAY}.parquet")).to_pylist()
    t4 = next(o for o in out if o["transaction_id"] == "T4")
    assert (t4["user_id"], str(t4["amount"]), t4["currency"], t4["payment_method"]) == ("U1", "7.50", "EUR", None)
    assert t4["transaction_ts"].isoformat() == "2026-11-01T23:30:00+00:00"


def test_values_are_trimmed_of_spaces_only(local_store):
    """Both engines trim U+0020 around a value, nothing else (a no-break space stays, and fails)."""
    put_users(local_store, (HEADER + "\n  U1  ,Ann,, us ,2025-01-01,free\nU2,Bo,,\u00a0US,2025-01-01,free\n").encode())
    r = run_partition(local_store, USERS, DAY)
    assert (r.rows_out, r.quarantine_reasons) == (1, {"invalid_country": 1})
    row = pq.read_table(local_store.path("processed/users/users.parquet")).to_pylist()[0]
    assert (row["user_id"], row["country"]) == ("U1", "US")

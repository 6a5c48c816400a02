"""Job 1's checks read the staged files' footers: they catch what they claim to catch."""

from datetime import datetime, timezone
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq

from clickpipe_core.checks import arrow_schema, check_output
from clickpipe_core.contracts import CLICKS, TRANSACTIONS
from clickpipe_core.job1 import PartitionResult

TS = datetime(2026, 11, 1, 10, tzinfo=timezone.utc)


def transactions(rows: list[dict]) -> pa.Table:
    base = {"transaction_id": "T1", "user_id": "U1", "amount": Decimal("1.00"), "currency": "USD", "status": "completed",
            "payment_method": None, "transaction_ts": TS, "ingest_date": TS.date()}  # fmt: skip
    return pa.Table.from_pylist([{**base, **r} for r in rows], schema=arrow_schema(TRANSACTIONS))


def verdicts(files, *, distinct_keys, rows_in=None, ds=TRANSACTIONS) -> dict:
    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    result = PartitionResult(ds.name, "2026-11-01", rows_in=rows if rows_in is None else rows_in, rows_out=rows)
    return {c["name"]: (c["passed"], c["metadata"]) for c in check_output(ds, files, result, distinct_keys=distinct_keys)}


def test_clean_files_pass_every_check(tmp_path):
    pq.write_table(transactions([{"transaction_id": "T1"}, {"transaction_id": "T2", "amount": Decimal("0.00")}]), tmp_path / "a.parquet")
    got = verdicts([tmp_path / "a.parquet"], distinct_keys=2)
    assert all(passed for passed, _ in got.values()), got
    assert got["amounts_non_negative"][1] == {"min_amount": 0.0}


def test_each_problem_fails_its_check(tmp_path):
    bad = transactions([{"transaction_id": "T1", "amount": Decimal("-2.50")}, {"transaction_id": "T2", "currency": None}])
    pq.write_table(bad, tmp_path / "a.parquet")
    pq.write_table(transactions([{"transaction_id": "T1"}]), tmp_path / "b.parquet", write_statistics=False)  # no footer stats
    got = verdicts([tmp_path / "a.parquet", tmp_path / "b.parquet"], distinct_keys=2, rows_in=4)
    assert got["conservation"] == (False, {**got["conservation"][1], "unaccounted": 1})
    assert got["key_unique"] == (False, {"rows": 3, "distinct_keys": 2})
    assert got["required_not_null"][0] is False and got["required_not_null"][1]["null_counts"]["currency"] == 1
    assert got["amounts_non_negative"] == (False, {"min_amount": -2.5})
    assert got["schema_matches_contract"][0] is True
    pq.write_table(bad.drop(["status"]), tmp_path / "c.parquet")
    assert verdicts([tmp_path / "c.parquet"], distinct_keys=2)["schema_matches_contract"][0] is False


def test_a_null_directory_value_counts_as_nulls(tmp_path):
    row = {"event_id": "e", "user_id": "U1", "session_id": "S", "page": "/", "referrer": None, "device": "mobile",
           "user_agent": None, "country": "US", "ts": TS, "properties": None, "ingest_date": TS.date()}  # fmt: skip
    table = pa.Table.from_pylist([row, {**row, "event_id": "f"}], schema=arrow_schema(CLICKS))
    path = tmp_path / "dt=2026-11-01" / "event_type=__HIVE_DEFAULT_PARTITION__" / "part.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(table, path)
    got = verdicts([path], distinct_keys=2, ds=CLICKS)
    assert got["required_not_null"] == (False, {"null_counts": {**{c: 0 for c in CLICKS.required_columns}, "event_type": 2}})

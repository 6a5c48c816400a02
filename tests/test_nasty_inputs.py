"""The nasty-input corpus (tests/nasty_corpus.py) through Glue Job 1 and Job 2 on DuckDB, into a
real PostgreSQL: every record ends exactly once where the contract says (record by record), and
whatever Job 1 accepts, Job 2 loads, with exact money."""

from __future__ import annotations

import pytest

import nasty_corpus as corpus
from clickpipe_core import layout
from clickpipe_core.contracts import CLICKS, CURRENCIES, TRANSACTIONS, USERS, Dataset, Column, minor_units
from glue_scripts.duckdb_engine import run_partition
from click_fixtures import at

DAY, DAY2 = "2026-11-01", "2026-11-02"


def put_users(store, rows=None) -> str:
    key = layout.raw_batch_key("users", DAY, "users.csv")
    store.put_bytes(rows or (",".join(USERS.column_names) + "\nU1,Ann Lee,,US,2025-01-01,free\n").encode(), key)
    return key


def test_control_characters_in_every_users_field(local_store):
    data, fates = corpus.users_with_control_characters()
    key = put_users(local_store, data)
    result = run_partition(local_store, USERS, DAY)
    corpus.assert_ledger(result, corpus.ledger(local_store, USERS, DAY), {key: fates})
    details = {q["detail"] for q in corpus.ledger(local_store, USERS, DAY)["quarantine"].values()}
    assert "full_name holds control character U+0000 at character 2" in details


def test_control_characters_in_every_transactions_field(local_store):
    put_users(local_store)
    run_partition(local_store, USERS, DAY)
    data, fates = corpus.transactions_with_control_characters()
    key = layout.raw_batch_key("transactions", DAY, "t.csv")
    local_store.put_bytes(data, key)
    result = run_partition(local_store, TRANSACTIONS, DAY)
    corpus.assert_ledger(result, corpus.ledger(local_store, TRANSACTIONS, DAY), {key: fates})


def test_control_characters_in_every_clicks_field(local_store):
    data, fates = corpus.clicks_with_control_characters(DAY2)
    key = layout.raw_clicks_key("clickpipe-clicks", at(DAY2), "nasty")
    local_store.put_bytes(data, key)
    result = run_partition(local_store, CLICKS, DAY2)
    corpus.assert_ledger(result, corpus.ledger(local_store, CLICKS, DAY2), {key: fates})


def test_amounts_are_checked_against_each_currencys_minor_units(local_store):
    put_users(local_store)
    run_partition(local_store, USERS, DAY)
    data, fates, clean = corpus.amounts_by_currency(DAY)
    key = layout.raw_batch_key("transactions", DAY, "t.csv")
    local_store.put_bytes(data, key)
    result = run_partition(local_store, TRANSACTIONS, DAY)
    found = corpus.ledger(local_store, TRANSACTIONS, DAY)
    corpus.assert_ledger(result, found, {key: fates})
    # Never rounded: what is processed is exactly what arrived.
    (path,) = [o.key for o in local_store.list("processed/transactions/")]
    import pyarrow.parquet as pq

    got = {r["transaction_id"]: r["amount"] for r in pq.read_table(local_store.path(path)).to_pylist()}
    assert got == {r["transaction_id"]: r["amount"] for r in clean}
    jpy = next(q for q in found["quarantine"].values() if '"JPY"' in q["record"] and q["reason"] == "too_precise_amount")
    assert jpy["detail"] == "amount has more decimals than JPY allows (0): 1.5"


def test_a_currency_finer_than_the_money_type_cannot_be_allowed():
    columns = (
        Column("amount", type="money", currency_column="currency"),
        Column("currency", allowed=("USD", "KWD")),
    )
    with pytest.raises(ValueError, match=r"allows KWD, whose minor units exceed the 2 decimals"):
        Dataset(name="x", description="", columns=columns, key="amount", raw_format="csv")
    assert [minor_units(c) for c in ("JPY", "USD", "KWD", "CLF")] == [0, 2, 3, 4]
    assert all(minor_units(c) <= 2 for c in CURRENCIES)

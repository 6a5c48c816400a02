"""The nasty-input corpus (tests/nasty_corpus.py) through Glue Job 1 and Job 2 on DuckDB, into a
real PostgreSQL: every record ends exactly once where the contract says (record by record), and
whatever Job 1 accepts, Job 2 loads, with exact money."""

from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

import psycopg
import pytest

import nasty_corpus as corpus
from clickpipe_core import layout
from clickpipe_core.contracts import CLICKS, CURRENCIES, TRANSACTIONS, USERS, Dataset, Column, minor_units
from glue_scripts.duckdb_engine import run_partition
from support import run_job2
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


@pytest.mark.parametrize("ends", corpus.MIXED_LINE_ENDS.values(), ids=list(corpus.MIXED_LINE_ENDS))
def test_a_file_with_mixed_line_ends_loses_no_record_and_blocks_no_other(local_store, ends):
    good = put_users(local_store)
    data, fates = corpus.users_with_line_ends(ends)
    mixed = layout.raw_batch_key("users", DAY, "mixed.csv")
    local_store.put_bytes(data, mixed)
    result = run_partition(local_store, USERS, DAY)
    corpus.assert_ledger(result, corpus.ledger(local_store, USERS, DAY), {good: [("processed", "U1")], mixed: fates})


@pytest.mark.parametrize("name", ["_extract.csv", ".hidden.csv"])
def test_a_file_dropped_with_a_hidden_name_is_quarantined_whole(local_store, name):
    """Not through `clickpipe upload` (which refuses the name): straight into the raw zone."""
    good = put_users(local_store)
    data, spots = corpus.hidden_users_file(first=2)
    hidden = layout.raw_batch_key("users", DAY, name)
    local_store.put_bytes(data, hidden)
    result = run_partition(local_store, USERS, DAY)
    found = corpus.ledger(local_store, USERS, DAY)
    assert found["processed"] == {"U1": 1}
    assert {spot: q["reason"] for spot, q in found["quarantine"].items()} == {(hidden, line): r for line, r in spots.items()}
    assert (result.rows_in, result.rows_out, result.quarantined, result.duplicates) == (3, 1, 2, 0)
    assert result.files_in == [good, hidden]
    (message,) = [m for m in result.messages if hidden in m]
    assert f"starts with {name[0]!r}" in message and "rename it" in message and "2 record(s) quarantined as hidden_file_name" in message


def test_a_partition_holding_only_a_hidden_file_is_processed_not_skipped(local_store):
    data, spots = corpus.hidden_users_file(first=1)
    hidden = layout.raw_batch_key("users", DAY, "_users.csv")
    local_store.put_bytes(data, hidden)
    result = run_partition(local_store, USERS, DAY)
    assert (result.rows_in, result.quarantined, result.rows_out) == (2, 2, 0)
    assert set(corpus.ledger(local_store, USERS, DAY)["quarantine"]) == {(hidden, line) for line in spots}


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


def _half_up(total: Decimal, n: int) -> Decimal:
    return (total / n).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_whatever_job1_accepts_job2_loads_with_exact_money(local_store, pg_url, monkeypatch):
    """The whole corpus through both jobs: every day loads, the widest sums and averages are exact."""
    put_users(local_store)
    run_partition(local_store, USERS, DAY)
    amounts, _, clean = corpus.amounts_by_currency(DAY)
    local_store.put_bytes(amounts, layout.raw_batch_key("transactions", DAY, "amounts.csv"))
    controls, _ = corpus.transactions_with_control_characters()
    local_store.put_bytes(controls, layout.raw_batch_key("transactions", DAY, "controls.csv"))
    run_partition(local_store, TRANSACTIONS, DAY)
    clicks, _ = corpus.clicks_with_control_characters(DAY2)
    local_store.put_bytes(clicks, layout.raw_clicks_key("clickpipe-clicks", at(DAY2), "nasty"))
    run_partition(local_store, CLICKS, DAY2)

    assert run_job2(monkeypatch, pg_url, local_store.root, "daily", [DAY, DAY2]) == 0
    assert run_job2(monkeypatch, pg_url, local_store.root, "users") == 0

    expected = defaultdict(lambda: [0, Decimal(0), Decimal(0)])  # currency -> orders, revenue, refunded
    expected["USD"][0] += 1  # the one clean record of the control-character file
    expected["USD"][1] += Decimal("10.00")
    for r in clean:
        e = expected[r["currency"]]
        if r["status"] == "completed":
            e[0] += 1
            e[1] += r["amount"]
        else:
            e[2] += r["amount"]
    with psycopg.connect(pg_url) as con:
        rows = con.execute(
            "SELECT currency, orders, revenue, avg_order_value, refunded_amount FROM marts.revenue_daily WHERE dt = %s",
            (DAY,),
        ).fetchall()
        got = {c: (o, rev, aov, ref) for c, o, rev, aov, ref in rows}
        assert got == {c: (o, rev, _half_up(rev, o), ref) for c, (o, rev, ref) in expected.items()}
        assert max(r[2] for r in rows) > Decimal("9" * 16)  # beyond what DECIMAL(18,2) holds
        (lifetime,) = con.execute("SELECT lifetime_revenue FROM marts.users WHERE user_id = 'U1'").fetchone()
        assert lifetime is None  # U1 paid in every currency: MIXED, no single sum
        pages = con.execute("SELECT page FROM marts.top_pages_daily WHERE dt = %s", (DAY2,)).fetchall()
        assert sorted(p for (p,) in pages) == ["/home", "/tab\there"]
        loads = con.execute(
            "SELECT count(*) FROM marts.partition_loads WHERE partition IN (%s, %s) AND mart NOT LIKE 'user%%'", (DAY, DAY2)
        ).fetchone()
        assert loads == (8,)  # every daily mart, both days (the user activity tables are recorded too)


def test_v002_widens_a_loaded_v001_database_and_keeps_its_rows(pg_url, tmp_path):
    """A warehouse migrated to V001 with rows in it: V002 widens the sums in place, values unchanged."""
    from clickpipe_core import pg_load

    v001 = tmp_path / "v001"
    v001.mkdir()
    first = pg_load.migrations()[0]
    (v001 / first.path.name).write_text(first.sql)
    assert pg_load.apply_migrations(pg_url, v001) == ["V001__marts"]
    with psycopg.connect(pg_url) as con:
        con.execute(
            "INSERT INTO marts.revenue_daily VALUES ('2026-11-01', 'US', 'USD', 2, 2, 9999999999999999.98, 4999999999999999.99, 0)"
        )
    assert pg_load.apply_migrations(pg_url) == [
        "V002__wide_money_totals", "V003__user_activity", "V004__session_marts", "V005__incremental_retention"
    ]  # fmt: skip
    with psycopg.connect(pg_url) as con:
        assert con.execute("SELECT revenue, avg_order_value FROM marts.revenue_daily").fetchone() == (
            Decimal("9999999999999999.98"), Decimal("4999999999999999.99"))  # fmt: skip
        con.execute("UPDATE marts.revenue_daily SET revenue = revenue * 2")
        assert con.execute("SELECT revenue::text FROM marts.revenue_daily").fetchone() == ("19999999999999999.96",)

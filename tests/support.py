"""Helpers shared by test modules (fixtures live in conftest.py)."""

from glue_scripts import layout


def load_sample(store, sample, *, users=True, transactions=True) -> None:
    if users:
        store.put_file(sample.users_file, layout.raw_batch_key("users", sample.days[0], "users.csv"))
    if transactions:
        for day, path in sample.transaction_files.items():
            store.put_file(path, layout.raw_batch_key("transactions", day, "transactions.csv"))

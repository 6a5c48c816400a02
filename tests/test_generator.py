import csv
import hashlib

from clickpipe_core.contracts import TRANSACTIONS, USERS
from clickpipe_core.generator.batch import TRANSACTION_DIRTY_KINDS, USER_DIRTY_KINDS, generate


def digest(paths):
    return hashlib.sha256(b"".join(p.read_bytes() for p in paths)).hexdigest()


def files(s):
    return [s.users_file, *(s.transaction_files[d] for d in s.days)]


def test_same_arguments_give_identical_files(tmp_path):
    a = generate(tmp_path / "a", days=2, users=100, transactions_per_day=300, seed=3, dirty_rate=0.1)
    b = generate(tmp_path / "b", days=2, users=100, transactions_per_day=300, seed=3, dirty_rate=0.1)
    c = generate(tmp_path / "c", days=2, users=100, transactions_per_day=300, seed=4, dirty_rate=0.1)
    assert digest(files(a)) == digest(files(b))
    assert digest(files(a)) != digest(files(c))
    assert a.manifest == b.manifest


def test_files_have_the_contract_header_and_the_manifest_row_counts(sample):
    with open(sample.users_file, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == USERS.column_names
    assert len(rows) - 1 == sample.manifest["users"]["rows"]
    total = 0
    for day in sample.days:
        with open(sample.transaction_files[day], encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
        assert rows[0] == TRANSACTIONS.column_names
        total += len(rows) - 1
    assert total == sample.manifest["transactions"]["rows"]


def test_every_dirty_kind_is_present_at_a_high_rate(sample):
    assert set(sample.manifest["users"]["dirty"]) == set(USER_DIRTY_KINDS)
    assert set(sample.manifest["transactions"]["dirty"]) == set(TRANSACTION_DIRTY_KINDS)
    assert all(n > 0 for n in sample.manifest["transactions"]["dirty"].values())


def test_clean_sample_has_no_dirt_and_tricky_values(tmp_path):
    s = generate(tmp_path, days=1, users=300, transactions_per_day=100, seed=1, dirty_rate=0)
    assert sum(s.manifest["users"]["dirty"].values()) == 0
    assert sum(s.manifest["transactions"]["dirty"].values()) == 0
    tricky = s.manifest["users"]["clean_but_tricky"]
    assert tricky["quoted_comma"] > 0 and tricky["non_ascii"] > 0
    text = s.users_file.read_text(encoding="utf-8")
    assert '"' in text  # quoted commas are really quoted

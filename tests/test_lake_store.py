"""The two lake stores behave the same: keys, listing, atomic replace, delete, missing objects."""

import pytest

from clickpipe_core import layout
from clickpipe_core.lake_store import LocalStore, open_store


def test_same_behaviour_on_both_stores(store):
    key = layout.raw_batch_key("users", "2026-11-01", "users.csv")
    assert not store.exists(key) and list(store.list("raw/")) == []
    store.put_bytes(b"first", key)
    store.put_bytes(b"second, longer", key)  # replaced whole
    store.put_bytes(b"x", "processed/users/users.parquet")
    assert store.read_bytes(key) == b"second, longer"
    [obj] = list(store.list("raw/"))
    assert (obj.key, obj.size) == (key, len(b"second, longer")) and obj.mtime > 0
    assert sorted(o.key for o in store.list("")) == ["processed/users/users.parquet", key]
    with store.local_copy(key) as p:
        assert p.read_bytes() == b"second, longer"
    store.delete(key)
    store.delete(key)  # deleting twice is fine
    assert not store.exists(key) and [o.key for o in store.list("raw/")] == []


def test_local_store_hides_its_temporary_files_and_refuses_escapes(tmp_path):
    store = LocalStore(tmp_path)
    store.put_bytes(b"a", "raw/x/ingest_date=2026-11-01/a.csv")
    (tmp_path / "_tmp" / "half-written.part").write_bytes(b"partial")
    assert [o.key for o in store.list("")] == ["raw/x/ingest_date=2026-11-01/a.csv"]
    with pytest.raises(ValueError, match="escapes"):
        store.put_bytes(b"no", "../outside.txt")


def test_open_store_understands_uris(tmp_path):
    assert isinstance(open_store(str(tmp_path)), LocalStore)
    assert isinstance(open_store(tmp_path.as_uri()), LocalStore)
    with pytest.raises(ValueError, match="unsupported lake URI"):
        open_store("ftp://example/lake")

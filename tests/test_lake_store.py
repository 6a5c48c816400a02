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


def test_local_store_writes_where_it_wrote_before_even_after_the_folder_is_removed(tmp_path):
    """The second object of a folder takes the short way (no resolve, no mkdir); a folder removed
    since is made again, and a folder it has not written to is still checked for escapes."""
    import shutil

    store = LocalStore(tmp_path / "lake")
    a, b = "raw/clicks/2026/11/01/00/a.gz", "raw/clicks/2026/11/01/00/b.gz"
    store.put_bytes(b"1", a)
    store.put_bytes(b"2", b)
    store.put_bytes(b"2 again", b)  # replaced whole
    assert (store.read_bytes(a), store.read_bytes(b)) == (b"1", b"2 again")
    shutil.rmtree(tmp_path / "lake" / "raw")
    shutil.rmtree(tmp_path / "lake" / "_tmp")
    store.put_bytes(b"3", a)
    assert [(o.key, store.read_bytes(o.key)) for o in store.list("raw/")] == [(a, b"3")]
    (tmp_path / "outside").mkdir()
    (tmp_path / "lake" / "raw" / "clicks" / "2026" / "11" / "01" / "01").symlink_to(tmp_path / "outside")
    with pytest.raises(ValueError, match="escapes"):
        store.put_bytes(b"no", "raw/clicks/2026/11/01/01/c.gz")
    with pytest.raises(ValueError, match="escapes"):
        store.put_bytes(b"no", "raw/clicks/2026/11/01/00/../../../../../../../outside/d.gz")
    assert list((tmp_path / "outside").iterdir()) == [] and list((tmp_path / "lake" / "_tmp").iterdir()) == []

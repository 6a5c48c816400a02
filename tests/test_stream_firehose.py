"""The local Firehose: key layout, gzip NDJSON, buffering by size and by time (injected clock),
flush on close / with / exit, atomic writes, failed writes kept and retried, S3 as the lake."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from stream_fixtures import client, moto_endpoint  # noqa: F401

from clickpipe_core.generator.clicks import generate_clicks, to_ms
from clickpipe_core.streaming import DeliveryError, LocalFirehose, ManualClock, RecordTooLarge, send
from clickpipe_core import layout
from clickpipe_core.contracts import CLICKS
from clickpipe_core.lake_store import LocalStore, S3Store
from glue_scripts.duckdb_engine import run_partition as duckdb_run_partition

T0 = datetime(2026, 11, 1, 12, 34, 56, 789000, tzinfo=timezone.utc).timestamp()
KEY = re.compile(
    r"raw/clicks/(\d{4})/(\d{2})/(\d{2})/(\d{2})/clickpipe-clicks-1-(\d{4})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-"
    r"([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})\.gz"
)


def rec(n: int, size: int = 100) -> bytes:
    """A JSON line of exactly ``size`` bytes."""
    head = json.dumps({"n": n, "pad": ""}, separators=(",", ":"))
    return (head[:-2] + "x" * (size - len(head) - 1) + '"}\n').encode()


def objects(store) -> dict[str, list[bytes]]:
    out = {}
    for o in store.list("raw/clicks/"):
        body = gzip.decompress(store.read_bytes(o.key))
        assert body.endswith(b"\n")
        out[o.key] = body.splitlines(keepends=True)
    return out


def key_time(key: str) -> datetime:
    m = KEY.fullmatch(key)
    assert m, key
    y, mo, d, h, *ts, _ = m.groups()
    assert [y, mo, d, h] == ts[:4]  # the folder and the name say the same hour
    return datetime(*map(int, ts), tzinfo=timezone.utc)


@pytest.fixture
def store(tmp_path):
    return LocalStore(tmp_path / "lake")


def test_key_layout_and_gzip_ndjson(store):
    clock = ManualClock(T0)
    fixed = str(uuid.UUID(int=7, version=4))
    with LocalFirehose(store, clock=clock, uuid_fn=lambda: fixed) as fh:
        fh.put([{"event_id": "e1", "page": "/é"}, b'{"event_id":"e2"}', b'{"event_id":"e3"}\n'])
    ((key, lines),) = objects(store).items()
    assert key == f"raw/clicks/2026/11/01/12/clickpipe-clicks-1-2026-11-01-12-34-56-{fixed}.gz"
    assert key == layout.raw_clicks_key("clickpipe-clicks", datetime.fromtimestamp(T0, timezone.utc), fixed)
    assert layout.parse_raw_clicks_key(key) == "2026-11-01"
    assert lines == ['{"event_id":"e1","page":"/é"}\n'.encode(), b'{"event_id":"e2"}\n', b'{"event_id":"e3"}\n']
    assert fh.stats["records"] == 3 and fh.stats["objects"] == 1 and fh.keys == [key]


def test_both_gzip_codecs_write_standard_gzip_of_the_same_lines(tmp_path):
    """ISA-L (the default) and zlib give different bytes but the same gzip lines, under the same keys;
    the standard library's reader (as Job 1's readers) takes either; levels outside a codec's are refused."""
    records, _ = generate_clicks(events=3000, start="2026-11-01", end="2026-11-02", seed=3)
    got = {}
    for codec in ("isal", "zlib"):
        store = LocalStore(tmp_path / codec)
        uuids = iter(f"{i:08d}-0000-4000-8000-000000000000" for i in range(1000))
        with LocalFirehose(store, clock=ManualClock(T0), buffer_bytes=200_000, gzip_codec=codec,
                           uuid_fn=lambda: next(uuids)) as fh:  # fmt: skip
            send([records], fh)
        raw = {o.key: store.read_bytes(o.key) for o in store.list("raw/clicks/")}
        assert all(body[:2] == b"\x1f\x8b" for body in raw.values())  # gzip magic
        got[codec] = (raw, objects(store))
    (isal_raw, isal_lines), (zlib_raw, zlib_lines) = got["isal"], got["zlib"]
    assert len(isal_lines) > 3 and isal_lines == zlib_lines  # same keys, same lines
    assert isal_raw != zlib_raw
    assert b"".join(b"".join(v) for v in isal_lines.values()).count(b"\n") == len(records)
    # Job 1 (DuckDB's gzip reader) reads either into the same processed rows.
    processed = {}
    for codec in ("isal", "zlib"):
        store = LocalStore(tmp_path / codec)
        r = duckdb_run_partition(store, CLICKS, "2026-11-01")
        processed[codec] = (r.rows_in, r.rows_out, r.quarantined, r.duplicates, sorted(
            tuple(row.values()) for o in store.list("processed/clicks/") for row in pq.read_table(store.path(o.key)).to_pylist()
        ))  # fmt: skip
    assert processed["isal"] == processed["zlib"] and processed["isal"][1] > 0
    for codec, level in (("isal", 4), ("zlib", 10), ("isal", -1), ("brotli", 1)):
        with pytest.raises(ValueError, match="gzip"):
            LocalFirehose(LocalStore(tmp_path / "x"), gzip_codec=codec, compresslevel=level, at_exit=False)


def test_bad_records_are_refused_before_anything_is_buffered(store):
    fh = LocalFirehose(store, at_exit=False)
    with pytest.raises(ValueError, match="one line"):
        fh.put([b'{"a":1}\n', b'{"a":\n2}\n'])
    with pytest.raises(RecordTooLarge, match="record 1 is 1,100,001 bytes"):
        fh.put([b"{}", b"x" * 1_100_000])
    with pytest.raises(TypeError):
        fh.put(["a string"])
    fh.close()
    assert fh.stats["records"] == 0 and list(store.list()) == []


def test_buffering_by_size(store):
    clock = ManualClock(T0)
    with LocalFirehose(store, clock=clock, buffer_bytes=1000, buffer_seconds=900) as fh:
        fh.put([rec(i) for i in range(12)])  # 1,200 bytes: one full object, 200 bytes buffered
        assert len(objects(store)) == 1 and fh.stats["buffered_bytes"] == 200
        fh.put([rec(i) for i in range(12, 25)])
    sizes = sorted(sum(map(len, lines)) for lines in objects(store).values())
    assert sizes == [500, 1000, 1000]  # never over the buffer size; the rest on close
    assert sorted(json.loads(x)["n"] for lines in objects(store).values() for x in lines) == list(range(25))


def test_a_record_bigger_than_the_buffer_goes_alone(store):
    with LocalFirehose(store, clock=ManualClock(T0), buffer_bytes=150) as fh:
        fh.put([rec(0, 100), rec(1, 400), rec(2, 100)])
    assert sorted(len(lines) for lines in objects(store).values()) == [1, 1, 1]


def test_buffering_by_time_with_an_injected_clock(store):
    clock = ManualClock(T0)
    fh = LocalFirehose(store, clock=clock, buffer_seconds=60, at_exit=False)
    fh.put([rec(0)])
    clock.advance(30)
    fh.put([rec(1)])
    clock.advance(29.9)
    fh.poll()
    assert objects(store) == {}  # 59.9 s: still buffering
    clock.advance(0.2)
    fh.put([rec(2)])  # the buffer is 60.1 s old: it goes out before this record joins
    ((k1, lines1),) = objects(store).items()
    assert [json.loads(x)["n"] for x in lines1] == [0, 1] and key_time(k1) == datetime(
        2026, 11, 1, 12, 34, 56, tzinfo=timezone.utc
    )
    clock.advance(59)
    fh.poll()
    assert len(objects(store)) == 1
    clock.advance(2)
    fh.poll()  # no new record needed: the interval alone delivers
    assert len(objects(store)) == 2
    k2 = next(k for k in objects(store) if k != k1)
    assert key_time(k2) == datetime(2026, 11, 1, 12, 35, 56, tzinfo=timezone.utc)  # its oldest record's arrival
    fh.close()


def test_an_object_is_named_after_its_oldest_record_even_across_the_hour(store):
    clock = ManualClock(datetime(2026, 11, 1, 23, 59, 50, tzinfo=timezone.utc).timestamp())
    with LocalFirehose(store, clock=clock, buffer_seconds=300) as fh:
        fh.put([rec(0)])
        clock.advance(20)  # 00:00:10 on the next day
        fh.put([rec(1)])
    ((key, lines),) = objects(store).items()
    assert key.startswith("raw/clicks/2026/11/01/23/") and len(lines) == 2
    assert layout.parse_raw_clicks_key(key) == "2026-11-01"


def test_replayed_arrival_times_cut_objects_like_a_live_stream(store):
    arrivals = [T0 + i * 7.0 for i in range(200)]  # a record every 7 s
    lines = [json.dumps({"n": i, "arrival": a}).encode() + b"\n" for i, a in enumerate(arrivals)]
    with LocalFirehose(store, buffer_seconds=60, buffer_bytes=1200) as fh:
        fh.put(lines, arrivals=arrivals)
        with pytest.raises(ValueError, match="must not decrease"):
            fh.put(lines[:2], arrivals=[arrivals[1], arrivals[0]])
    got = objects(store)
    for key, body in got.items():
        a = [json.loads(x)["arrival"] for x in body]
        assert a[-1] - a[0] < 60 and sum(map(len, body)) <= 1200
        assert key_time(key) == datetime.fromtimestamp(int(a[0]), timezone.utc)
    assert sorted(json.loads(x)["n"] for b in got.values() for x in b) == list(range(200))


def test_with_block_delivers_even_when_the_body_raises(store):
    with pytest.raises(RuntimeError, match="boom"):
        with LocalFirehose(store) as fh:
            fh.put([rec(1), rec(2)])
            raise RuntimeError("boom")
    assert sum(len(v) for v in objects(store).values()) == 2
    with pytest.raises(RuntimeError, match="closed"):
        fh.put([rec(3)])


def test_interpreter_exit_delivers_what_is_buffered(tmp_path):
    lake = tmp_path / "lake"
    script = (
        "import sys; from clickpipe_core.streaming import LocalFirehose; from clickpipe_core.lake_store import LocalStore\n"
        f"fh = LocalFirehose(LocalStore({str(lake)!r}))\n"
        "fh.put([b'{\"n\":1}', b'{\"n\":2}'])\n"
        "sys.exit(0)  # no close(): atexit must deliver\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert done.returncode == 0, done.stderr
    assert [json.loads(x)["n"] for v in objects(LocalStore(lake)).values() for x in v] == [1, 2]


class FlakyStore(LocalStore):
    """Dies half-way through writing its first ``failures`` objects (the half-written temp file stays)."""

    def __init__(self, root, failures: int):
        super().__init__(root)
        self.failures, self.attempted = failures, []

    def put_bytes(self, data, key):
        self.attempted.append(key)
        if self.failures:
            self.failures -= 1
            tmp = self.root / self.TMP / "dying.part"
            tmp.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data[: len(data) // 2])
            raise OSError(28, "No space left on device")
        super().put_bytes(data, key)


def test_a_failed_write_leaves_no_partial_object_and_is_retried_under_the_same_key(tmp_path):
    store = FlakyStore(tmp_path / "lake", failures=1)
    fh = LocalFirehose(store, clock=ManualClock(T0), buffer_bytes=500, at_exit=False)
    with pytest.raises(DeliveryError, match="No space left on device.*stay in the sink"):
        fh.put([rec(i) for i in range(8)])  # 800 bytes: the first object fails, the rest is still buffered
    assert objects(store) == {} and fh.stats["undelivered_objects"] == 1 and fh.stats["buffered_bytes"] == 300
    fh.close()  # the disk is fine again
    got = objects(store)
    assert store.attempted[0] == store.attempted[1] and store.attempted[0] in got  # same key, written once
    assert sorted(json.loads(x)["n"] for v in got.values() for x in v) == list(range(8))
    assert all(not o.key.startswith("_tmp") for o in store.list())


class InterruptedStore(LocalStore):
    """Its first write is interrupted (an exception that is not an ``Exception``: it ends the thread
    that writes, as ``SystemExit`` or ``KeyboardInterrupt`` would)."""

    interrupted = False

    def put_bytes(self, data, key):
        if not self.interrupted:
            self.interrupted = True
            raise SystemExit(143)
        super().put_bytes(data, key)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the writer's interrupt
def test_an_interrupted_writer_thread_neither_hangs_close_nor_loses_records(tmp_path):
    store = InterruptedStore(tmp_path / "lake")
    fh = LocalFirehose(store, clock=ManualClock(T0), buffer_bytes=500, at_exit=False, background=True)
    reported = []

    def put_and_close():
        for call in (lambda: fh.put([rec(i) for i in range(20)]), fh.close):  # four objects: the first write ends the writer
            try:
                call()
            except DeliveryError as e:  # a failed write is reported by the next call, and retried by flush and close
                reported.append(str(e))

    # In a thread, so that a hang fails the test instead of stopping it (before: a put waited on the
    # full queue of the dead writer forever, and close on its unfinished objects).
    worker = threading.Thread(target=put_and_close, daemon=True)
    worker.start()
    worker.join(120)
    assert not worker.is_alive(), "put() or close() hangs on a writer thread that stopped"
    assert all("SystemExit" in r for r in reported), reported  # the interrupt is reported, not hidden
    got = objects(store)
    assert sorted(json.loads(x)["n"] for v in got.values() for x in v) == list(range(20))  # each record once
    assert fh.stats["objects"] == len(got) == 4


def test_readers_never_see_a_partial_object(store):
    seen, errors, stop = set(), [], threading.Event()

    def reader():
        while not stop.is_set():
            for o in store.list("raw/clicks/"):
                try:
                    body = gzip.decompress(store.read_bytes(o.key))
                    assert body.endswith(b"\n")
                    seen.add(o.key)
                except Exception as e:  # a half-written object would land here
                    errors.append(f"{o.key}: {e!r}")

    t = threading.Thread(target=reader)
    t.start()
    try:
        with LocalFirehose(store, clock=ManualClock(T0), buffer_bytes=20_000) as fh:
            for _ in range(150):
                fh.put([rec(j, 1000) for j in range(20)])
    finally:
        stop.set()
        t.join()
    assert errors == [] and len(seen) > 10 and fh.stats["objects"] == 150


def test_generated_traffic_lands_by_arrival_hour(store):
    records, m = generate_clicks(events=20_000, start="2026-11-01", end="2026-11-03", seed=3, late_share=0.1,
                                 duplicate_share=0.02)  # fmt: skip
    clock = ManualClock()
    with LocalFirehose(store, clock=clock, buffer_seconds=60, buffer_bytes=256 * 1024) as fh:
        assert send([records], fh, clock=clock) == m["records"]
    first_seen = {}
    total = 0
    for key, lines in objects(store).items():
        t = key_time(key).timestamp() * 1000
        for line in lines:
            total += 1
            e = json.loads(line)
            ts = to_ms(datetime.fromisoformat(e["ts"].replace("Z", "+00:00")))
            assert ts < t + 61_000  # a record never arrives before it happened (Job 1's rule, with the buffer)
            first_seen[e["event_id"]] = min(first_seen.get(e["event_id"], t - ts), t - ts)
    assert total == m["records"] and len(first_seen) == m["events"]
    late = sum(1 for gap in first_seen.values() if gap > 30 * 60_000)
    assert late == m["late_events"]  # late sessions sit in objects of hours later
    days = {layout.parse_raw_clicks_key(k) for k in objects(store)}
    assert days == {"2026-11-01", "2026-11-02", "2026-11-03"}


def test_an_s3_lake_works_the_same(moto_endpoint):
    s3 = client(moto_endpoint, "s3")
    s3.create_bucket(Bucket="lake")
    store = S3Store(s3, "lake", "env/dev")
    with LocalFirehose(store, clock=ManualClock(T0)) as fh:
        fh.put([{"n": 1}, {"n": 2}])
    (key,) = [o["Key"] for o in s3.list_objects_v2(Bucket="lake")["Contents"]]
    assert key.startswith("env/dev/raw/clicks/2026/11/01/12/clickpipe-clicks-1-2026-11-01-12-34-56-")
    assert gzip.decompress(s3.get_object(Bucket="lake", Key=key)["Body"].read()) == b'{"n":1}\n{"n":2}\n'


def test_background_writes_give_the_same_objects_as_synchronous_ones(tmp_path):
    """The writer thread changes when objects are written, not what: same keys, same bytes."""
    got, order = {}, {}
    for background in (False, True):
        store = LocalStore(tmp_path / f"lake-{background}")
        uuids = iter(f"{i:08d}-0000-4000-8000-000000000000" for i in range(1000))
        with LocalFirehose(store, clock=ManualClock(T0), buffer_bytes=2_000, uuid_fn=lambda: next(uuids),
                           background=background, max_pending=1) as fh:  # fmt: skip
            for k in range(40):
                fh.put([rec(40 * k + j, 120) for j in range(7)], arrivals=[T0 + k * 30 + j for j in range(7)])
        got[background] = {o.key: store.read_bytes(o.key) for o in store.list("raw/clicks/")}
        order[background] = list(fh.keys)  # in the order they were written
        assert fh.stats["objects"] == len(got[background])
    assert got[True] == got[False] and len(got[True]) > 10
    assert order[True] == order[False]  # one writer: delivery order kept


def test_a_failed_background_write_is_reported_by_the_next_call_and_retried(tmp_path):
    store = FlakyStore(tmp_path / "lake", failures=1)
    fh = LocalFirehose(store, clock=ManualClock(T0), buffer_bytes=500, at_exit=False, background=True)
    try:
        fh.put([rec(i) for i in range(8)])  # the first object goes to the writer thread, which fails on it
    except DeliveryError:
        pass  # the writer may already have failed before put returned: reported here, then
    else:
        with pytest.raises(DeliveryError, match="No space left on device.*stay in the sink"):
            fh.flush()  # waits for the writer, then says what failed (and has retried it: the disk is fine now)
    fh.close()
    got = objects(store)
    assert store.attempted[0] == store.attempted[1] and store.attempted[0] in got  # same key, written once
    assert sorted(json.loads(x)["n"] for v in got.values() for x in v) == list(range(8))

"""A local Firehose: the delivery stream's S3 behaviour, into any lake store.

Firehose buffers records and writes one object when the buffer reaches its size or when its
oldest record has waited its interval, whichever comes first (defaults 5 MiB / 300 s). Objects
are gzip files of newline-terminated JSON records, keyed by the UTC arrival time of their oldest
record: ``raw/clicks/YYYY/MM/DD/HH/<stream>-1-YYYY-MM-DD-HH-MM-SS-<uuid>.gz``. The store's
``put_bytes`` is atomic, so readers never see half an object.

Time comes from ``clock`` (epoch seconds), so tests and simulations of past days drive it;
``put`` and ``poll`` check the interval. ``close`` (also on ``with`` exit and at interpreter exit)
delivers what is buffered. A failed write keeps its records in the sink, under the same key, and
``flush``/``close`` try it again: nothing is dropped.

Objects are compressed by ISA-L's igzip (``gzip_codec="isal"``, levels 0-3, default 1) or by
the standard library's zlib (``"zlib"``, levels 0-9). Both write one standard gzip member (RFC
1952) that every gzip reader takes; on click JSON, igzip level 1 is ~5x as fast as zlib level 1
and its objects are ~5% smaller (what Firehose itself uses is not documented).

With ``background=True`` objects are compressed and written by one writer thread, in delivery
order, while the producer keeps buffering (compression and file writes release the GIL, so on two cores
the two overlap; Firehose itself delivers asynchronously too). At most ``max_pending`` objects wait
for the writer, so memory stays bounded. A write that fails there is kept like a synchronous one,
and the ``DeliveryError`` is raised by the next ``put``, ``poll``, ``flush`` or ``close``;
``flush`` and ``close`` return once every delivered object is written.
"""

from __future__ import annotations

import atexit
import bisect
import contextlib
import gzip
import queue
import sys
import threading
import time
import uuid as uuidlib
from collections.abc import Callable, Sequence
from functools import partial
from datetime import datetime, timezone
from itertools import accumulate, repeat
import operator
import re

from isal import igzip

from clickpipe_core.streaming.base import MiB, DeliveryError, RecordTooLarge, StreamSink, to_line
from clickpipe_core import layout

FIREHOSE_MAX_RECORD_BYTES = 1000 * 1024  # Firehose takes records up to 1,000 KiB
_STREAM_NAME = re.compile(r"[a-zA-Z0-9_.-]{1,64}")  # Firehose's rule for delivery stream names
#: gzip implementations of the objects and the levels each takes
GZIP_CODECS = {"isal": range(0, 4), "zlib": range(0, 10)}


def _one_line_each(joined: bytes, cum: list[int]) -> bool:
    """Whether each piece ``joined[cum[i]:cum[i + 1]]`` is one line: its first newline is its last
    byte (so it is not empty either)."""
    first_newlines = map(joined.find, repeat(b"\n"), cum[:-1])
    return list(first_newlines) == list(map(operator.sub, cum[1:], repeat(1)))


def gzip_compressor(codec: str = "isal", level: int = 1) -> Callable[[bytes], bytes]:
    """``data -> one gzip member`` (mtime 0: the same records give the same bytes)."""
    if codec not in GZIP_CODECS:
        raise ValueError(f"gzip_codec is one of {sorted(GZIP_CODECS)}, not {codec!r}")
    levels = GZIP_CODECS[codec]
    if level not in levels:
        raise ValueError(f"{codec}'s gzip levels are {levels.start}-{levels.stop - 1}, not {level!r}")
    if codec == "isal":
        return partial(igzip.compress, compresslevel=level, mtime=0)  # releases the GIL, as zlib does
    return partial(gzip.compress, compresslevel=level, mtime=0)


class ManualClock:
    """A clock a test or a simulation sets: ``clock()`` is the current epoch time in seconds."""

    def __init__(self, now: float = 0.0):
        self.now = float(now)

    def __call__(self) -> float:
        return self.now

    def set(self, now: float) -> None:
        self.now = float(now)

    def advance(self, seconds: float) -> None:
        self.now += seconds


class LocalFirehose(StreamSink):
    partition_by = None
    accepts_arrivals = True

    def __init__(
        self,
        store,
        stream_name: str = "clickpipe-clicks",
        *,
        buffer_bytes: int = 5 * MiB,
        buffer_seconds: float = 300.0,
        clock: Callable[[], float] = time.time,
        compresslevel: int = 1,
        gzip_codec: str = "isal",
        uuid_fn: Callable[[], str] | None = None,
        at_exit: bool = True,
        background: bool = False,
        max_pending: int = 2,
    ):
        if buffer_bytes < 1 or buffer_seconds < 0:
            raise ValueError("buffer_bytes must be positive and buffer_seconds not negative")
        self._compress = gzip_compressor(gzip_codec, compresslevel)
        if not _STREAM_NAME.fullmatch(stream_name or ""):
            raise ValueError(f"bad delivery stream name {stream_name!r}: 1-64 of letters, digits, '_', '.', '-'")
        self.store, self.stream_name = store, stream_name
        self.buffer_bytes, self.buffer_seconds = buffer_bytes, buffer_seconds
        self.clock, self.compresslevel, self.gzip_codec = clock, compresslevel, gzip_codec
        self.uuid_fn = uuid_fn or (lambda: str(uuidlib.uuid4()))
        self._chunks: list[memoryview] = []  # slices of the puts' joined records
        self._size = 0
        self._oldest = 0.0  # arrival time of the buffer's first record
        self._undelivered: list[tuple[str, list[memoryview]]] = []  # (key, chunks) whose write failed
        self._last_error = ""
        self._reported_failures = 0
        self._closed = False
        self.keys: list[str] = []
        self._stats = dict.fromkeys(("records", "bytes_in", "objects", "bytes_out", "failed_writes"), 0)
        self._lock = threading.Lock()  # the writer thread updates stats, keys and _undelivered
        self._pending: queue.Queue | None = None
        self._writer_thread: threading.Thread | None = None
        if background:
            self._pending = queue.Queue(maxsize=max(1, max_pending))
            self._writer_thread = threading.Thread(target=self._writer, name=f"firehose-{stream_name}", daemon=True)
            self._writer_thread.start()
        self._at_exit = at_exit
        if at_exit:
            atexit.register(self._flush_at_exit)

    @property
    def stats(self) -> dict:
        with self._lock:
            return dict(self._stats, buffered_bytes=self._size, undelivered_objects=len(self._undelivered))

    # -- records in -----------------------------------------------------------------------------------

    def put(
        self,
        records: Sequence[bytes | dict],
        partition_keys: Sequence[str] | None = None,
        *,
        arrivals: Sequence[float] | None = None,
    ) -> None:
        """Buffer records, delivering objects as the buffer fills or ages.

        ``arrivals`` (epoch seconds, non-decreasing), when given, is each record's arrival time:
        for replaying simulated or recorded traffic. Otherwise every record arrives at ``clock()``.
        """
        if self._closed:
            raise RuntimeError("the local Firehose is closed")
        n = len(records)
        if arrivals is not None:
            if len(arrivals) != n:
                raise ValueError(f"{n} records but {len(arrivals)} arrival times")
            if not all(map(operator.le, arrivals, arrivals[1:])):
                raise ValueError("arrival times must not decrease")
        if not n:
            return
        # Check every record before buffering any. Fast path (C loops): the records joined into one
        # piece, which the buffer then holds slices of (few passes over the records: a large put
        # does not fit in the CPU's caches). Taken when the records are bytes, each one line (its
        # first newline is its last byte); anything else goes through to_line.
        lines = records if isinstance(records, list) else list(records)
        try:
            joined = b"".join(lines)
        except TypeError:  # dicts
            joined = None
        else:
            sizes = list(map(len, lines))
            cum = list(accumulate(sizes, initial=0))
            if cum[-1] != len(joined) or not _one_line_each(joined, cum):
                joined = None
        if joined is None:
            lines = [to_line(r) for r in lines]
            sizes = list(map(len, lines))
            joined = b"".join(lines)
            cum = list(accumulate(sizes, initial=0))
        biggest = max(sizes)
        if biggest > FIREHOSE_MAX_RECORD_BYTES:
            i = sizes.index(biggest)
            raise RecordTooLarge(
                f"record {i} is {biggest:,} bytes; Firehose takes at most {FIREHOSE_MAX_RECORD_BYTES:,} "
                "(1,000 KiB) per record. Nothing of this put was buffered."
            )
        failed_before = self._failed_before()
        self._stats["records"] += n
        self._stats["bytes_in"] += cum[-1]
        limit, interval = self.buffer_bytes, self.buffer_seconds
        if arrivals is None:
            now = self.clock()
            if self._chunks and now - self._oldest >= interval:
                self._deliver()
        view = memoryview(joined)
        i = 0
        while i < n:
            if not self._chunks:
                self._oldest = now if arrivals is None else arrivals[i]
            # Take records while they fit in the buffer and arrive within its interval.
            j = bisect.bisect_right(cum, cum[i] + limit - self._size, i + 1) - 1
            if arrivals is not None:
                j = min(j, bisect.bisect_left(arrivals, self._oldest + interval, i))
            if j == i and not self._chunks:
                j = i + 1  # an empty buffer always takes a record (it is within the record limit)
            if j > i:
                self._chunks.append(view[cum[i] : cum[j]])  # joined by the writer
                self._size += cum[j] - cum[i]
                i = j
            if i < n or self._size >= limit:  # stopped by the size or the interval: deliver
                self._deliver()
        self._raise_if_failed(failed_before)  # after buffering every record of this put

    def poll(self) -> None:
        """Deliver the buffer if its oldest record has waited ``buffer_seconds`` (by the clock)."""
        before = self._failed_before()
        if self._chunks and self.clock() - self._oldest >= self.buffer_seconds:
            self._deliver()
        self._raise_if_failed(before)

    def flush(self) -> None:
        """Deliver the buffer, and retry objects whose write failed before (same keys)."""
        before = self._failed_before()
        self._wait_for_writer()
        with self._lock:
            retry, self._undelivered = self._undelivered, []
        for key, chunks in retry:
            self._write(key, chunks)
        if self._chunks:
            self._deliver()
        self._wait_for_writer()
        self._raise_if_failed(before)

    def close(self) -> None:
        if self._closed:
            return
        try:
            self.flush()
        finally:
            if self._pending is not None and not self._closed and self._writer_thread.is_alive():
                self._pending.put(None)  # the writer stops after what is queued
            self._closed = True
        if self._at_exit:
            atexit.unregister(self._flush_at_exit)

    def _flush_at_exit(self) -> None:
        try:
            self.close()
        except Exception as e:  # at exit there is no caller left to raise to: say it loudly
            print(f"clickpipe: local Firehose could not deliver its buffer at exit: {e}", file=sys.stderr)

    # -- objects out ----------------------------------------------------------------------------------

    def _deliver(self) -> None:
        chunks, oldest = self._chunks, self._oldest
        self._chunks, self._size = [], 0
        key = layout.raw_clicks_key(self.stream_name, datetime.fromtimestamp(oldest, timezone.utc), self.uuid_fn())
        if self._pending is None:
            self._write(key, chunks)
        else:  # blocks while max_pending objects wait (bounded memory), unless the writer has stopped
            while True:
                try:
                    self._pending.put((key, chunks), timeout=0.5)
                    return
                except queue.Full:
                    if not self._writer_thread.is_alive():
                        self._write(key, chunks)
                        return

    def _writer(self) -> None:
        while (item := self._pending.get()) is not None:
            try:
                self._write(*item)
            finally:
                self._pending.task_done()
        self._pending.task_done()

    def _wait_for_writer(self) -> None:
        """Wait until every queued object is written. Should the writer thread have stopped (an
        interrupt, a ``BaseException`` from the store), the objects still queued are written here:
        waiting on a dead writer would hang ``close`` and the exit that calls it."""
        if self._pending is None or self._closed:
            return
        done = self._pending.all_tasks_done
        with done:
            while self._pending.unfinished_tasks and self._writer_thread.is_alive():
                done.wait(0.5)
        if self._writer_thread.is_alive():
            return
        while True:
            try:
                item = self._pending.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                self._write(*item)
            with contextlib.suppress(ValueError):  # the interrupted writer may not have counted its last one
                self._pending.task_done()

    def _write(self, key: str, chunks: list[memoryview]) -> None:
        """Write one object; on failure keep it (same key) for the next flush."""
        try:
            body = self._compress(chunks[0] if len(chunks) == 1 else b"".join(chunks))
            self.store.put_bytes(body, key)  # atomic: the whole object or none of it
        except BaseException as e:
            with self._lock:
                self._last_error = f"{type(e).__name__}: {e}"
                self._stats["failed_writes"] += 1
                self._undelivered.append((key, chunks))
            if not isinstance(e, Exception):  # an interrupt: kept for the next flush, and passed on
                raise
            return
        with self._lock:
            self.keys.append(key)
            self._stats["objects"] += 1
            self._stats["bytes_out"] += len(body)

    def _failed_before(self) -> int:
        """Failed writes already reported: in the background, one that failed since the last call
        is reported by this one."""
        return self._reported_failures if self._pending is not None else self._stats["failed_writes"]

    def _raise_if_failed(self, before: int) -> None:
        failed = self._stats["failed_writes"]
        self._reported_failures = failed
        if failed > before:
            raise DeliveryError(
                f"local Firehose {self.stream_name}: {len(self._undelivered)} object(s) could not be written to "
                f"{self.store.uri} ({self._last_error}); their records stay in the sink (same keys) and the "
                "next flush or close tries again",
                [],
            )

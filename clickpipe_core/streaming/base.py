"""What every stream sink offers: ``put``, ``flush``, ``close``, and ``with`` support."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence

MiB = 1024 * 1024

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class DeliveryError(RuntimeError):
    """Records that could not be delivered. ``records`` holds them (data, partition key or None,
    error code, message); the sink no longer does, so the caller decides what happens to them."""

    def __init__(self, message: str, records: list[tuple[bytes, str | None, str, str]], *, still_queued: int = 0):
        self.records, self.still_queued = records, still_queued
        if still_queued:
            message += f"; {still_queued:,} other record(s) are still queued in the sink (flush or close retries them)"
        lines = [message] + [
            f"  {code}: {msg} (partition key {key!r}, {len(data):,} bytes: {data[:80]!r}...)"
            for data, key, code, msg in records[:20]
        ]
        if len(records) > 20:
            lines.append(f"  ... and {len(records) - 20:,} more")
        super().__init__("\n".join(lines))


class RecordTooLarge(ValueError):
    """A record is over the service's size limit; nothing of the call that carried it was sent."""


def to_line(record: bytes | bytearray | dict) -> bytes:
    """A record as one newline-terminated JSON line (dicts are serialized compactly, UTF-8)."""
    if isinstance(record, dict):
        return (_dumps(record) + "\n").encode()
    if isinstance(record, (bytes, bytearray)):
        record = bytes(record)
        if not record.endswith(b"\n"):
            record += b"\n"
        if record.count(b"\n") != 1:
            raise ValueError(f"a record must be one line (it would split into several): {record[:80]!r}...")
        return record
    raise TypeError(f"a record is bytes or a dict, not {type(record).__name__}")


class StreamSink(ABC):
    """A destination for click records. Records are bytes (one JSON object; a ``\\n`` is added when
    missing) or dicts (serialized as compact JSON). ``partition_keys``, when given, goes with the
    records one for one; sinks that do not shard ignore it."""

    #: which record field partitions the stream (``None``: the sink does not partition)
    partition_by: str | None = None

    @abstractmethod
    def put(self, records: Sequence[bytes | dict], partition_keys: Sequence[str] | None = None) -> None: ...

    @abstractmethod
    def flush(self) -> None:
        """Deliver everything buffered; returns when it is delivered (or raises)."""

    @abstractmethod
    def close(self) -> None:
        """Flush and release; idempotent."""

    def poll(self) -> None:
        """Give a time-buffered sink the chance to deliver when no record comes (no-op here)."""

    @property
    @abstractmethod
    def stats(self) -> dict: ...

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()  # flushes even when the body raised: nothing buffered is lost

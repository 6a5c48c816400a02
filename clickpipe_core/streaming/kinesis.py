"""Kinesis Data Streams producer: ``PutRecords`` in full batches, every failure retried, none lost.

* A batch holds at most 500 records and 5 MiB, counting each record's data *and* partition key
  (the service's own accounting). A record over 1 MiB (data + key) is rejected before anything
  of the ``put`` that carried it is sent.
* ``PutRecords`` succeeds or fails per record: the response's ``FailedRecordCount`` and each
  entry's ``ErrorCode`` say which. Failed records are retried, alone, with exponential backoff and
  full jitter (sleep a uniform time in ``[0, min(max_delay, base_delay * 2**attempt))``), as are
  whole calls refused with ``ProvisionedThroughputExceededException`` or another throttling or
  transient error. After ``max_attempts`` the sink raises ``DeliveryError`` naming every record
  not delivered. A non-retryable error (missing stream, access denied) raises at once.
* Kinesis keeps order per shard only for ``PutRecord`` with sequence numbers; retries here may
  reorder records of one key, which the pipeline tolerates (it orders by event time).
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Sequence

from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

from clickpipe_core.streaming.base import MiB, DeliveryError, RecordTooLarge, StreamSink, to_line

RETRYABLE_CODES = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "LimitExceededException",
    "KMSThrottlingException", "InternalFailure", "InternalFailureException", "InternalServerError",
    "ServiceUnavailable", "ServiceUnavailableException", "RequestLimitExceeded", "SlowDown",
})  # fmt: skip
PARTITION_FIELDS = ("user_id", "session_id")


class KinesisSink(StreamSink):
    MAX_RECORDS = 500
    MAX_BATCH_BYTES = 5 * MiB
    MAX_RECORD_BYTES = 1 * MiB
    MAX_KEY_CHARS = 256

    def __init__(
        self,
        client,
        stream_name: str,
        *,
        partition_by: str = "user_id",
        max_attempts: int = 8,
        base_delay: float = 0.1,
        max_delay: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ):
        if partition_by not in PARTITION_FIELDS:
            raise ValueError(f"partition_by must be one of {PARTITION_FIELDS}, not {partition_by!r}")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.client, self.stream_name, self.partition_by = client, stream_name, partition_by
        self.max_attempts, self.base_delay, self.max_delay = max_attempts, base_delay, max_delay
        self.sleep, self.rng = sleep, rng or random.Random()
        self._pending: list[tuple[bytes, str, int]] = []  # (data, partition key, size)
        self._pending_bytes = 0
        self._closed = False
        self._stats = dict.fromkeys(
            ("records_in", "records_sent", "bytes_sent", "batches", "calls", "retries", "throttled_calls",
             "failed_entries", "slept_seconds"), 0)  # fmt: skip

    @property
    def stats(self) -> dict:
        return dict(self._stats, pending=len(self._pending))

    # -- records in ---------------------------------------------------------------------------------

    def _key_of(self, record, line: bytes) -> str:
        if isinstance(record, dict):
            value = record.get(self.partition_by)
        else:
            try:
                value = json.loads(line).get(self.partition_by)
            except (ValueError, AttributeError):
                value = None
        if value is None or value == "":
            # No user/session to shard by: spread by content (still delivered; the pipeline quarantines it).
            return hashlib.md5(line).hexdigest()
        return str(value)

    def put(self, records: Sequence[bytes | dict], partition_keys: Sequence[str] | None = None) -> None:
        if self._closed:
            raise RuntimeError("the Kinesis sink is closed")
        if partition_keys is not None and len(partition_keys) != len(records):
            raise ValueError(f"{len(records)} records but {len(partition_keys)} partition keys")
        items = []
        for i, record in enumerate(records):  # check every record before sending any
            line = to_line(record)
            key = partition_keys[i] if partition_keys is not None else self._key_of(record, line)
            if not 1 <= len(key) <= self.MAX_KEY_CHARS:
                raise ValueError(f"record {i}: partition key must be 1-{self.MAX_KEY_CHARS} characters, got {len(key)}")
            size = len(line) + len(key.encode())
            if size > self.MAX_RECORD_BYTES:
                raise RecordTooLarge(
                    f"record {i} is {size:,} bytes (data + partition key); Kinesis takes at most "
                    f"{self.MAX_RECORD_BYTES:,} (1 MiB) per record. Nothing of this put was sent."
                )
            items.append((line, key, size))
        self._stats["records_in"] += len(items)
        # Queue them all first: if a send fails below, every record is either in the error or
        # still queued here, never neither.
        self._pending.extend(items)
        self._pending_bytes += sum(size for _, _, size in items)
        while len(self._pending) >= self.MAX_RECORDS or self._pending_bytes >= self.MAX_BATCH_BYTES:
            self._send(self._take_batch())

    def flush(self) -> None:
        while self._pending:
            self._send(self._take_batch())

    def close(self) -> None:
        if not self._closed:
            self.flush()
            self._closed = True

    # -- records out --------------------------------------------------------------------------------

    def _take_batch(self) -> list[tuple[bytes, str]]:
        """The longest prefix of the queue within 500 records and 5 MiB."""
        n = total = 0
        for _, _, size in self._pending[: self.MAX_RECORDS]:
            if total + size > self.MAX_BATCH_BYTES:
                break
            total += size
            n += 1
        batch = self._pending[:n]
        del self._pending[:n]
        self._pending_bytes -= total
        return [(line, key) for line, key, _ in batch]

    def _backoff(self, attempt: int) -> None:
        delay = self.rng.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))
        self._stats["slept_seconds"] += delay
        self.sleep(delay)

    def _send(self, batch: list[tuple[bytes, str]]) -> None:
        todo = batch
        errors: list[tuple[str, str]] = []
        for attempt in range(1, self.max_attempts + 1):
            self._stats["calls"] += 1
            try:
                response = self.client.put_records(
                    StreamName=self.stream_name, Records=[{"Data": d, "PartitionKey": k} for d, k in todo]
                )
            except ClientError as e:
                err = e.response.get("Error", {})
                code, message = err.get("Code", "Unknown"), err.get("Message", str(e))
                if code not in RETRYABLE_CODES:
                    raise DeliveryError(
                        f"PutRecords to {self.stream_name} failed with {code} (not retryable): {message}; "
                        f"{len(todo):,} record(s) not delivered",
                        [(d, k, code, message) for d, k in todo],
                        still_queued=len(self._pending),
                    ) from e
                self._stats["throttled_calls"] += 1
                failed, errors = todo, [(code, message)] * len(todo)
            except (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError) as e:
                failed, errors = todo, [(type(e).__name__, str(e))] * len(todo)
            else:
                self._stats["batches"] += 1
                entries = response["Records"]
                if len(entries) != len(todo):
                    raise DeliveryError(
                        f"PutRecords answered {len(entries)} entries for {len(todo)} records; delivery unknown",
                        [(d, k, "ResponseMismatch", "") for d, k in todo],
                        still_queued=len(self._pending),
                    )
                failed, errors, fatal = [], [], []
                for rec, entry in zip(todo, entries):
                    code = entry.get("ErrorCode")
                    if code is None:
                        self._stats["records_sent"] += 1
                        self._stats["bytes_sent"] += len(rec[0])
                    elif code in RETRYABLE_CODES:
                        failed.append(rec)
                        errors.append((code, entry.get("ErrorMessage", "")))
                    else:
                        fatal.append((*rec, code, entry.get("ErrorMessage", "")))
                self._stats["failed_entries"] += len(failed) + len(fatal)
                if fatal:
                    raise DeliveryError(
                        f"PutRecords to {self.stream_name}: {len(fatal):,} record(s) failed with a non-retryable "
                        f"error" + (f"; {len(failed):,} more were still failing" if failed else ""),
                        fatal + [(d, k, c, m) for (d, k), (c, m) in zip(failed, errors)],
                        still_queued=len(self._pending),
                    )
            if not failed:
                return
            if attempt == self.max_attempts:
                break
            self._stats["retries"] += len(failed)
            self._backoff(attempt)
            todo = failed
        raise DeliveryError(
            f"PutRecords to {self.stream_name}: {len(failed):,} record(s) still failing after "
            f"{self.max_attempts} attempts",
            [(d, k, c, m) for (d, k), (c, m) in zip(failed, errors)],
            still_queued=len(self._pending),
        )

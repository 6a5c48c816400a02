"""Stand-in for the Kinesis-sourced Firehose delivery stream (moto's never delivers).

It does what the template's ``AWS::KinesisFirehose::DeliveryStream`` says, with the template's two
roles: the source role reads every shard of the stream (``ListShards``, ``GetShardIterator``,
``GetRecords``), the destination role writes S3 objects. Records are buffered as they arrive and
delivered when the buffer reaches ``BufferingHints.SizeInMBs`` or has waited
``IntervalInSeconds``; an object holds the records concatenated as they came (Firehose adds no
delimiter), compressed as ``CompressionFormat`` says, under ``Prefix`` with ``!{timestamp:...}``
expanded from the oldest record's arrival time (UTC) and named
``<stream>-1-YYYY-MM-DD-HH-MM-SS-<uuid>`` (``.gz`` for GZIP). A delivery that fails goes, after a
retry, under ``ErrorOutputPrefix`` with ``!{firehose:error-output-type}`` = ``delivery-failed``.
"""

from __future__ import annotations

import gzip
import re
import threading
import time
import uuid
from datetime import datetime, timezone


def expand(prefix: str, when: datetime, error_type: str | None = None) -> str:
    """Firehose's namespaces in a prefix: !{timestamp:<Java date format>}, !{firehose:error-output-type}."""

    def timestamp(m):
        fmt = m.group(1)
        for java, py in (("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"), ("ss", "%S")):
            fmt = fmt.replace(java, py)
        return when.strftime(fmt)

    out = re.sub(r"!\{timestamp:([^}]+)\}", timestamp, prefix)
    if error_type:
        out = out.replace("!{firehose:error-output-type}", error_type)
    if "!{" in out:
        raise ValueError(f"unsupported Firehose namespace in {prefix!r}")
    return out


class Firehose:
    def __init__(self, *, name: str, props: dict, kinesis, s3, log=print):
        self.name = name
        dest = props["ExtendedS3DestinationConfiguration"]
        self.bucket = dest["BucketARN"].split(":::")[-1]
        self.prefix, self.error_prefix = dest["Prefix"], dest.get("ErrorOutputPrefix", "")
        self.gzip = dest.get("CompressionFormat", "UNCOMPRESSED") == "GZIP"
        hints = dest.get("BufferingHints") or {}
        self.max_bytes = int(hints.get("SizeInMBs", 5)) * 1024 * 1024
        self.max_seconds = float(hints.get("IntervalInSeconds", 300))
        self.stream = props["KinesisStreamSourceConfiguration"]["KinesisStreamARN"].rsplit("/", 1)[1]
        self.kinesis, self.s3, self.log = kinesis, s3, log
        self.buffer: list[tuple[datetime, bytes]] = []
        self.first_at: float | None = None
        self.records_in = self.records_out = 0
        self.objects: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="firehose")

    def start(self) -> "Firehose":
        self._iterators = {
            s["ShardId"]: self.kinesis.get_shard_iterator(StreamName=self.stream, ShardId=s["ShardId"], ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            for s in self.kinesis.list_shards(StreamName=self.stream)["Shards"]
        }
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def idle(self) -> bool:
        """Nothing buffered and nothing left on the stream at the last read."""
        return not self.buffer and self._caught_up

    def _loop(self) -> None:
        self._caught_up = False
        while not self._stop.is_set():
            behind = 0
            for shard, it in list(self._iterators.items()):
                resp = self.kinesis.get_records(ShardIterator=it, Limit=10_000)
                self._iterators[shard] = resp["NextShardIterator"]
                behind += resp.get("MillisBehindLatest", 0) or len(resp["Records"])
                for r in resp["Records"]:
                    if self.first_at is None:
                        self.first_at = time.monotonic()
                    self.buffer.append((r["ApproximateArrivalTimestamp"].astimezone(timezone.utc), r["Data"]))
                    self.records_in += 1
            size = sum(len(d) for _, d in self.buffer)
            if self.buffer and (size >= self.max_bytes or time.monotonic() - self.first_at >= self.max_seconds):
                self._deliver()
            self._caught_up = behind == 0
            self._stop.wait(0.5)

    def _deliver(self) -> None:
        records, self.buffer, self.first_at = self.buffer, [], None
        oldest = min(t for t, _ in records)
        data = b"".join(d for _, d in records)
        body = gzip.compress(data, mtime=0) if self.gzip else data
        name = f"{self.name}-1-{oldest:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}" + (".gz" if self.gzip else "")
        key = expand(self.prefix, oldest) + name
        for attempt in range(2):
            try:
                self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
                break
            except Exception as e:  # S3 refused: retry once, then the error prefix
                if attempt:
                    key = expand(self.error_prefix, oldest, "delivery-failed") + name
                    self.log(f"[firehose] delivery failed ({e}); records to {key}")
                    self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        self.records_out += len(records)
        self.objects.append(key)
        self.log(f"[firehose] {len(records)} records -> s3://{self.bucket}/{key}")

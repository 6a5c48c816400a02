"""The Kinesis producer against the AWS emulator: batching limits, partial failures, throttling,
oversized records, and every record delivered exactly once or named in an error."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
from stream_fixtures import PutRecordsFaults, client, moto_endpoint, new_stream, read_stream  # noqa: F401

from clickpipe_core.generator.clicks import generate_clicks
from clickpipe_core.streaming import DeliveryError, KinesisSink, RecordTooLarge, send

MiB = 1024 * 1024


def _lines(n: int, size: int = 0) -> list[bytes]:
    pad = "x" * max(0, size - 60)
    return [json.dumps({"user_id": f"U{i % 97:07d}", "session_id": f"s{i % 13}", "n": i, "pad": pad},
                       separators=(",", ":")).encode() + b"\n" for i in range(n)]  # fmt: skip


def _sink(kinesis, stream, **kw):
    sleeps: list[float] = []
    kw.setdefault("rng", random.Random(1))
    return KinesisSink(kinesis, stream, sleep=sleeps.append, **kw), sleeps


def test_partial_failures_are_retried_and_every_record_arrives_exactly_once(moto_endpoint):
    kinesis = client(moto_endpoint)
    stream = new_stream(kinesis, shards=4)
    # Call 1 fails every 3rd record, call 2 every 5th of what it gets, with both retryable codes.
    faults = PutRecordsFaults(
        kinesis,
        fail=lambda call, data: (
            "ProvisionedThroughputExceededException" if call == 1 and json.loads(data)["n"] % 3 == 0
            else "InternalFailure" if call == 2 and json.loads(data)["n"] % 5 == 0 else None
        ),
    )  # fmt: skip
    lines = _lines(450)
    sink, sleeps = _sink(kinesis, stream)
    with sink:
        sink.put([json.loads(x) for x in lines[:200]])  # dicts...
        sink.put(lines[200:])  # ...and bytes
    got = read_stream(kinesis, stream)
    assert Counter(d for _, _, d in got) == Counter(lines)  # each exactly once, nothing else
    assert len({shard for shard, _, _ in got}) > 1  # spread over shards by user
    assert {k for _, k, _ in got} == {json.loads(x)["user_id"] for x in lines}
    first_failed = sum(1 for x in lines if json.loads(x)["n"] % 3 == 0)
    assert len(faults.calls) == 3 and len(faults.calls[1]) == first_failed  # the retry carries only the failures
    s = sink.stats
    assert s["records_sent"] == 450 and s["retries"] == first_failed + len(faults.calls[2]) and s["pending"] == 0
    assert len(sleeps) == 2 and 0 <= sleeps[0] <= 0.1 and 0 <= sleeps[1] <= 0.2  # full jitter under the cap


def test_partition_key_by_session(moto_endpoint):
    kinesis = client(moto_endpoint)
    stream = new_stream(kinesis, shards=2)
    lines = _lines(60)
    with KinesisSink(kinesis, stream, partition_by="session_id") as sink:
        sink.put(lines)
    keys = {k for _, k, _ in read_stream(kinesis, stream)}
    assert keys == {f"s{i}" for i in range(13)}


def test_batches_respect_500_records_and_5_mib_counting_partition_keys(moto_endpoint):
    kinesis = client(moto_endpoint)
    stream = new_stream(kinesis, shards=2)
    faults = PutRecordsFaults(kinesis)
    small = _lines(1201)
    big = _lines(200, size=60_000)  # ~60 KB each: the 5 MiB limit bites long before 500 records
    sink, _ = _sink(kinesis, stream)
    with sink:
        sink.put(small)
        sink.put(big)
    sizes = [(len(c), sum(len(r["Data"]) + len(r["PartitionKey"].encode()) for r in c)) for c in faults.calls]
    assert all(n <= 500 and b <= 5 * MiB for n, b in sizes)
    assert [n for n, _ in sizes[:2]] == [500, 500]  # full batches, not one call per record
    big_calls = [b for n, b in sizes if n < 500 and b > MiB]
    assert big_calls and all(b > 5 * MiB - 62_000 for b in big_calls[:-1])  # filled up to the byte limit
    got = read_stream(kinesis, stream)
    assert Counter(d for _, _, d in got) == Counter(small + big)


def test_throttled_calls_are_retried_with_backoff(moto_endpoint):
    kinesis = client(moto_endpoint)
    stream = new_stream(kinesis)
    faults = PutRecordsFaults(kinesis, throttle=lambda call: call <= 3)
    lines = _lines(300)
    sink, sleeps = _sink(kinesis, stream, base_delay=0.5, max_delay=1.0)
    with sink:
        sink.put(lines)
    assert len(faults.calls) == 4 and sink.stats["throttled_calls"] == 3
    assert len(sleeps) == 3 and all(0 <= d <= cap for d, cap in zip(sleeps, [0.5, 1.0, 1.0]))
    assert Counter(d for _, _, d in read_stream(kinesis, stream)) == Counter(lines)


def test_backoff_is_exponential_with_full_jitter():
    sink = KinesisSink(object(), "s", base_delay=0.1, max_delay=2.0, sleep=lambda d: None, rng=random.Random(3))
    caps = [min(2.0, 0.1 * 2 ** (a - 1)) for a in range(1, 9)]
    draws = [[] for _ in caps]
    for _ in range(300):
        for a in range(1, 9):
            before = sink.stats["slept_seconds"]
            sink._backoff(a)
            draws[a - 1].append(sink.stats["slept_seconds"] - before)
    for cap, ds in zip(caps, draws):
        assert all(0 <= d <= cap for d in ds)
        assert max(ds) > 0.9 * cap and min(ds) < 0.1 * cap  # spread over the whole range: full jitter


def test_giving_up_names_every_undelivered_record(moto_endpoint):
    kinesis = client(moto_endpoint)
    stream = new_stream(kinesis)
    PutRecordsFaults(kinesis, throttle=lambda call: True)
    lines = _lines(40)
    sink, sleeps = _sink(kinesis, stream, max_attempts=3)
    sink.put(lines)
    with pytest.raises(DeliveryError, match="still failing after 3 attempts") as e:
        sink.flush()
    assert sorted(d for d, *_ in e.value.records) == sorted(lines)
    assert {code for *_, code, _ in e.value.records} == {"ProvisionedThroughputExceededException"}
    assert len(sleeps) == 2 and read_stream(kinesis, stream) == []


def test_a_record_failing_every_time_is_reported_the_rest_delivered(moto_endpoint):
    kinesis = client(moto_endpoint)
    stream = new_stream(kinesis)
    PutRecordsFaults(kinesis, fail=lambda call, data: "InternalFailure" if b'"n":7,' in data else None)
    lines = _lines(30)
    sink, _ = _sink(kinesis, stream, max_attempts=4)
    with pytest.raises(DeliveryError) as e:
        with sink:
            sink.put(lines)
    assert [d for d, *_ in e.value.records] == [lines[7]]
    assert Counter(d for _, _, d in read_stream(kinesis, stream)) == Counter(lines[:7] + lines[8:])


def test_records_queued_behind_a_failed_batch_are_kept_not_lost(moto_endpoint):
    kinesis = client(moto_endpoint)
    stream = new_stream(kinesis)
    throttling = {"on": True}
    PutRecordsFaults(kinesis, throttle=lambda call: throttling["on"])
    lines = _lines(1200)
    sink, _ = _sink(kinesis, stream, max_attempts=2)
    with pytest.raises(DeliveryError) as e:
        sink.put(lines)
    assert len(e.value.records) == 500 and e.value.still_queued == 700
    throttling["on"] = False
    sink.close()
    delivered = [d for _, _, d in read_stream(kinesis, stream)]
    assert Counter(delivered + [d for d, *_ in e.value.records]) == Counter(lines)  # all accounted for, once


def test_non_retryable_error_fails_at_once(moto_endpoint):
    kinesis = client(moto_endpoint)
    sink, sleeps = _sink(kinesis, "no-such-stream")
    sink.put(_lines(3))
    with pytest.raises(DeliveryError, match="ResourceNotFoundException.*not retryable") as e:
        sink.flush()
    assert len(e.value.records) == 3 and sleeps == []


def test_oversized_record_is_rejected_before_anything_is_sent(moto_endpoint):
    kinesis = client(moto_endpoint)
    stream = new_stream(kinesis)
    faults = PutRecordsFaults(kinesis)
    sink, _ = _sink(kinesis, stream)
    key = "U0000001"
    fits = b"a" * (MiB - len(key) - 1) + b"\n"  # exactly 1 MiB with its partition key
    with pytest.raises(RecordTooLarge, match=r"record 1 is 2,000,0\d\d bytes.*at most 1,048,576"):
        sink.put([b'{"user_id":"U1"}', b"x" * 2_000_000])
    with pytest.raises(RecordTooLarge):
        sink.put([b"a" + fits], partition_keys=[key])  # one byte over
    assert faults.calls == [] and sink.stats["pending"] == 0
    sink.put([fits], partition_keys=[key])
    sink.close()
    assert [d for _, _, d in read_stream(kinesis, stream)] == [fits]


def test_generated_clicks_through_the_driver(moto_endpoint):
    kinesis = client(moto_endpoint)
    stream = new_stream(kinesis, shards=3)
    PutRecordsFaults(
        kinesis,
        fail=lambda call, data: "ProvisionedThroughputExceededException" if call % 2 and hash(data) % 4 == 0 else None,
    )
    records, manifest = generate_clicks(events=2500, start="2026-11-01", end="2026-11-02", seed=5, duplicate_share=0.02)
    sink, _ = _sink(kinesis, stream)
    with sink:
        assert send([records], sink) == manifest["records"]
    got = read_stream(kinesis, stream)
    assert Counter(d for _, _, d in got) == Counter(r[1] for r in records)
    assert all(json.loads(d)["user_id"] == k for _, k, d in got)

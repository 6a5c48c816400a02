"""AWS Lambda: make N click events of the last minute and put them on the Kinesis stream.

Scheduled every minute (EventBridge), each invocation is a minute of live traffic: event times
in the last ``window_seconds`` (late sessions hours earlier), sent with ``PutRecords`` through
``KinesisSink`` (batches of 500 / 5 MiB, per-record retries, nothing dropped silently).

Event (all optional): ``{"events": 500, "users": 1000, "seed": null, "late_share": 0.05,
"duplicate_share": 0.01, "window_seconds": 60, "partition_by": "user_id"}``.
Environment: ``CLICKPIPE_KINESIS_STREAM`` (required); the region and any endpoint come from the
usual AWS variables (``AWS_REGION``, ``AWS_ENDPOINT_URL_KINESIS``).

Imports only the standard library, boto3 and the kernel package ``clickpipe_core`` (its
generator and streaming modules): the Lambda bundle is that package, built from the project wheel.
"""

from __future__ import annotations

import os
import time

import boto3

from clickpipe_core.generator.clicks import ClickGenerator
from clickpipe_core.streaming.driver import send
from clickpipe_core.streaming.kinesis import KinesisSink

DEFAULT_EVENTS = 500


def _number(event: dict, name: str, default, kind=float):
    value = event.get(name, default)
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"event field {name!r} must be a number, got {value!r}") from None


def handler(event, context=None, *, client=None) -> dict:
    event = event or {}
    if not isinstance(event, dict):
        raise ValueError(f"the event must be a JSON object, got {type(event).__name__}")
    stream = os.environ.get("CLICKPIPE_KINESIS_STREAM")
    if not stream:
        raise ValueError("set CLICKPIPE_KINESIS_STREAM to the Kinesis stream name")
    events = _number(event, "events", DEFAULT_EVENTS, int)
    window = _number(event, "window_seconds", 60.0)
    seed = event.get("seed")
    if seed is None:  # a fresh minute of traffic each time
        seed = time.time_ns() ^ os.getpid()
    now = time.time()
    gen = ClickGenerator(
        events=events,
        start=now - window,
        end=now,
        users=_number(event, "users", 1000, int),
        seed=int(seed),
        late_share=_number(event, "late_share", 0.05),
        duplicate_share=_number(event, "duplicate_share", 0.01),
        anchor="arrival",  # the window is when records arrive: late sessions happened hours before
        slice_seconds=max(window, 1.0),
    )
    sink = KinesisSink(client or boto3.client("kinesis"), stream, partition_by=event.get("partition_by", "user_id"))
    started = time.perf_counter()
    with sink:
        send(gen, sink)
    seconds = time.perf_counter() - started
    m, s = gen.manifest, sink.stats
    return {
        "stream": stream,
        "events": m["events"],
        "records_sent": s["records_sent"],
        "duplicates": m["duplicates"],
        "late_events": m["late_events"],
        "sessions": m["sessions"],
        "by_event_type": m["by_event_type"],
        "batches": s["batches"],
        "retries": s["retries"],
        "throttled_calls": s["throttled_calls"],
        "seconds": round(seconds, 3),
    }

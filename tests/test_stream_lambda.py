"""The Lambda handler against the emulated Kinesis: a minute of traffic, every record on the stream."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime

import pytest
from stream_fixtures import CREDENTIALS, REGION, client, moto_endpoint, new_stream, read_stream  # noqa: F401

from clickpipe_core.generator.lambda_handler import handler


@pytest.fixture
def aws_env(monkeypatch, moto_endpoint):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CREDENTIALS["aws_secret_access_key"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL_KINESIS", moto_endpoint)  # boto3 reads it: no test-only code path
    kinesis = client(moto_endpoint)
    stream = new_stream(kinesis, shards=2)
    monkeypatch.setenv("CLICKPIPE_KINESIS_STREAM", stream)
    return kinesis, stream


def test_handler_sends_a_minute_of_clicks(aws_env):
    kinesis, stream = aws_env
    before = time.time()
    out = handler({"events": 800, "seed": 42, "duplicate_share": 0.05, "late_share": 0.2}, None)
    after = time.time()
    assert out["stream"] == stream and out["events"] == 800
    assert out["records_sent"] == 800 + out["duplicates"] and out["duplicates"] > 0 and out["late_events"] > 0
    assert sum(out["by_event_type"].values()) == 800 and out["batches"] >= 2
    got = read_stream(kinesis, stream)
    assert len(got) == out["records_sent"]
    events = [json.loads(d) for _, _, d in got]
    assert all(k == e["user_id"] for (_, k, _), e in zip(got, events))
    assert len({e["event_id"] for e in events}) == 800
    ts = [datetime.fromisoformat(e["ts"].replace("Z", "+00:00")).timestamp() for e in events]
    assert all(t <= after for t in ts)  # nothing from the future
    recent = sum(1 for t in ts if t >= before - 61)
    hours_old = sum(1 for t in ts if t <= before - 3600 + 60)
    assert recent + hours_old == len(ts) and hours_old >= out["late_events"] * 0.9


def test_handler_defaults_and_counts_by_type(aws_env):
    kinesis, _ = aws_env
    out = handler(None, None)
    assert out["events"] == 500 and len(read_stream(kinesis, out["stream"])) == out["records_sent"]
    assert Counter(out["by_event_type"])["page_view"] > 0


def test_handler_needs_its_stream(monkeypatch):
    monkeypatch.delenv("CLICKPIPE_KINESIS_STREAM", raising=False)
    with pytest.raises(ValueError, match="CLICKPIPE_KINESIS_STREAM"):
        handler({"events": 1}, None)


def test_handler_refuses_bad_events(aws_env):
    with pytest.raises(ValueError, match="'events' must be a number"):
        handler({"events": "many"}, None)

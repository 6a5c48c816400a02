"""Helpers for the click-stream tests: an AWS emulator (moto server) and fault injection.

Faults are injected with botocore's own event hooks on a real client, so every request is still
validated against the Kinesis API model and the records that "succeed" really reach the emulator.
"""

from __future__ import annotations

import uuid

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config

REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(scope="session")
def moto_endpoint():
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def client(endpoint: str, service: str = "kinesis"):
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint, config=Config(retries={"max_attempts": 1}),
                        **CREDENTIALS)  # fmt: skip


def new_stream(kinesis, shards: int = 3) -> str:
    name = f"clicks-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    assert kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE"
    return name


def read_stream(kinesis, stream: str) -> list[tuple[str, str, bytes]]:
    """Every record in the stream as (shard id, partition key, data), shard by shard."""
    out = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        it = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")[
            "ShardIterator"
        ]
        while it:
            page = kinesis.get_records(ShardIterator=it, Limit=10_000)
            if not page["Records"]:
                break
            out += [(shard["ShardId"], r["PartitionKey"], r["Data"]) for r in page["Records"]]
            it = page.get("NextShardIterator")
    return out


class PutRecordsFaults:
    """Makes chosen records of chosen ``PutRecords`` calls fail, and chosen calls throttle.

    ``fail(call_number, data) -> error code or None`` picks failing records (they are taken out
    of the request, so they do not reach the stream, and put back into the response as failed
    entries, where they were). ``throttle(call_number) -> bool`` refuses a whole call with
    ``ProvisionedThroughputExceededException``. Every call's records are kept in ``calls``.
    """

    def __init__(self, kinesis, *, fail=None, throttle=None):
        self.fail = fail or (lambda call, data: None)
        self.throttle = throttle or (lambda call: False)
        self.calls: list[list[dict]] = []
        self._failed: list[tuple[int, str]] = []
        events = kinesis.meta.events
        events.register("before-parameter-build.kinesis.PutRecords", self._before_build)
        events.register("before-call.kinesis.PutRecords", self._before_call)
        events.register("after-call.kinesis.PutRecords", self._after_call)

    def _before_build(self, params, **_):
        call = len(self.calls) + 1
        records = list(params["Records"])
        self.calls.append(records)
        self._throttled = self.throttle(call)
        self._all = len(records)
        self._failed = [(i, code) for i, r in enumerate(records) if (code := self.fail(call, r["Data"]))]
        failed = {i for i, _ in self._failed}
        kept = [r for i, r in enumerate(records) if i not in failed]
        params["Records"] = kept or records[:1]  # the API needs one record; _before_call answers for it

    def _before_call(self, params, **_):
        if self._throttled:
            message = "Rate exceeded for shard shardId-000000000000 in stream under account 123456789012."
            error = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": message}}
            return AWSResponse("http://emulator", 400, {}, None), {**error, "ResponseMetadata": {"HTTPStatusCode": 400}}
        if len(self._failed) == self._all:  # every record fails: nothing may reach the stream
            return AWSResponse("http://emulator", 200, {}, None), {"FailedRecordCount": 0, "Records": []}
        return None

    def _after_call(self, parsed, http_response, **_):
        if http_response.status_code >= 300 or not self._failed:
            return
        entries = list(parsed.get("Records", []))
        for i, code in self._failed:  # in index order, so each lands where its record was
            entries.insert(i, {"ErrorCode": code, "ErrorMessage": f"injected {code}"})
        parsed["Records"] = entries
        parsed["FailedRecordCount"] = parsed.get("FailedRecordCount", 0) + len(self._failed)

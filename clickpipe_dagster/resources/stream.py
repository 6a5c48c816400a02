"""The click stream: a local Firehose into the lake, or Kinesis Data Streams on AWS.

``open_sink()`` gives a ``StreamSink`` (``put``/``flush``/``close``, a context manager). Whoever
opens a sink closes it; closing delivers everything buffered.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Literal

import dagster as dg
from pydantic import Field

from clickpipe_dagster.resources.lake import LakeResource
from clickpipe_core.streaming import KinesisSink, LocalFirehose, StreamSink

DEFAULT_STREAM = "clickpipe-clicks"


class StreamResource(dg.ConfigurableResource, ABC):
    """Where click events go. Producers (``clickpipe simulate``, the demo) only see this."""

    stream_name: str = DEFAULT_STREAM

    @abstractmethod
    def open_sink(
        self, *, clock: Callable[[], float] | None = None, uuid_fn: Callable[[], str] | None = None
    ) -> StreamSink:
        """A new sink. ``clock`` and ``uuid_fn`` matter to time-buffered sinks only (the local
        Firehose): a simulation of past days sets the clock; a seeded ``uuid_fn`` makes object
        names reproducible, so re-running the same simulation replaces its own objects."""

    @abstractmethod
    def describe(self) -> str:
        """Where records end up, for people."""


class LocalFirehoseResource(StreamResource):
    """Firehose's S3 delivery, emulated into the ``lake`` resource's store (``raw/clicks/...``)."""

    lake: LakeResource
    buffer_mib: float = Field(
        default=5.0, gt=0, le=128, description="Deliver when this much is buffered (Firehose: 1-128 MiB)"
    )
    # Job 1 takes event times up to 5 minutes past their object's arrival hour (clock skew): with
    # more than 300 s here, records at the end of a long buffer could look like they came from the future.
    buffer_seconds: float = Field(
        default=300.0, ge=0, le=900, description="...or when the oldest record waited this long (Firehose: 0-900 s)"
    )
    gzip_codec: Literal["isal", "zlib"] = Field(
        default="isal", description="gzip implementation of the objects: ISA-L's igzip (fast) or the standard library's zlib"
    )
    compresslevel: int = Field(default=1, ge=0, le=9, description="gzip level of the objects (isal: 0-3, zlib: 0-9)")
    background_writes: bool = Field(
        default=True,
        description="Compress and write objects on a writer thread while the producer keeps going "
        "(Firehose delivers asynchronously too); flush and close wait for it",
    )

    def open_sink(self, *, clock=None, uuid_fn=None) -> LocalFirehose:
        kwargs = {"clock": clock} if clock is not None else {}
        return LocalFirehose(
            self.lake.store(),
            self.stream_name,
            buffer_bytes=max(1, int(self.buffer_mib * 1024 * 1024)),
            buffer_seconds=self.buffer_seconds,
            compresslevel=self.compresslevel,
            gzip_codec=self.gzip_codec,
            uuid_fn=uuid_fn,
            background=self.background_writes,
            **kwargs,
        )

    def describe(self) -> str:
        return (f"local Firehose '{self.stream_name}' -> {self.lake.console_url('raw/clicks/')} "
                f"(buffer {self.buffer_mib:g} MiB / {self.buffer_seconds:g} s)")  # fmt: skip


class KinesisStreamResource(StreamResource):
    """A Kinesis data stream (Firehose reads it into the raw zone on AWS). The boto3 client is
    built here, from the region and endpoint (any Kinesis API, such as an emulator)."""

    region_name: str | None = None
    endpoint_url: str | None = None
    partition_by: Literal["user_id", "session_id"] = Field(
        default="user_id", description="Record field used as partition key"
    )
    max_attempts: int = Field(default=8, ge=1, description="PutRecords attempts per record before giving up loudly")

    def client(self):
        import boto3

        return boto3.client("kinesis", region_name=self.region_name, endpoint_url=self.endpoint_url)

    def open_sink(self, *, clock=None, uuid_fn=None) -> KinesisSink:
        return KinesisSink(
            self.client(), self.stream_name, partition_by=self.partition_by, max_attempts=self.max_attempts
        )

    def describe(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"Kinesis stream '{self.stream_name}'{where} (partition key: {self.partition_by})"

"""Click-stream sinks: the Kinesis producer and the local Firehose (no Dagster import here).

Both take ``put(records)`` (bytes or dicts), ``flush()``, ``close()`` and work as context
managers; ``send`` drives a click generator into either. Names are imported on first use, so
the Lambda handler (which needs only ``KinesisSink``) pulls in neither the lake code nor
anything else it does not ship with.
"""

from importlib import import_module

_WHERE = {
    "DeliveryError": "base", "RecordTooLarge": "base", "StreamSink": "base", "to_line": "base",
    "send": "driver", "LocalFirehose": "firehose", "ManualClock": "firehose", "KinesisSink": "kinesis",
}  # fmt: skip

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

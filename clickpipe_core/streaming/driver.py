"""Drive a click generator into a sink, the way a producer would.

Records go out in arrival order, in producer batches of at most ``batch_records`` records that
span at most ``batch_span_ms`` of arrival time (one ``PutRecordBatch``/``PutRecords`` worth).
With ``pace`` the batches wait for the wall clock to reach their arrival time: a live stream at
the generator's rate. Without it (a simulation of past days), a sink that takes arrival times
(the local Firehose) gets each record's own, so objects land where a real stream would have put
them; for other sinks a ``ManualClock`` passed as ``clock`` is set to each batch's arrival.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterable
from itertools import repeat
from operator import itemgetter, truediv

from clickpipe_core.streaming.base import StreamSink

_KEY_INDEX = {"user_id": 2, "session_id": 3}
_arrival_ms, _data = itemgetter(0), itemgetter(1)


def send(
    batches: Iterable[list[tuple[int, bytes, str, str]]],
    sink: StreamSink,
    *,
    clock=None,
    pace: bool = False,
    progress: Callable[[int], object] | None = None,
    batch_records: int = 500,
    batch_span_ms: int = 1000,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], float] = time.time,
) -> int:
    """Send every record; return how many. Does not close the sink."""
    key_index = _KEY_INDEX.get(sink.partition_by) if sink.partition_by else None
    replay = not pace and getattr(sink, "accepts_arrivals", False)
    put, sent = sink.put, 0
    for chunk in batches:
        if not chunk:
            continue
        if replay:  # hand over large slices with every record's arrival time
            for i in range(0, len(chunk), 20_000):
                part = chunk[i : i + 20_000]
                put(list(map(_data, part)), arrivals=list(map(truediv, map(_arrival_ms, part), repeat(1000))))
                if clock is not None:
                    clock.set(part[-1][0] / 1000)
                if progress is not None:
                    progress(len(part))
                sent += len(part)
            continue
        arrivals = [item[0] for item in chunk]
        i, n = 0, len(chunk)
        while i < n:
            j = min(i + batch_records, n)
            j = min(j, bisect.bisect_right(arrivals, arrivals[i] + batch_span_ms, i, j))
            arrival = arrivals[j - 1] / 1000
            if pace:
                wait = arrival - now()
                while wait > 0:
                    sleep(min(wait, 1.0))
                    sink.poll()
                    wait = arrival - now()
            if clock is not None:
                clock.set(arrival)
            batch = chunk[i:j]
            if key_index is None:
                put([item[1] for item in batch])
            else:
                put([item[1] for item in batch], [item[key_index] for item in batch])
            if progress is not None:
                progress(j - i)
            sent += j - i
            i = j
    return sent

"""Simulated click traffic into the ``stream`` resource (local Firehose by default, Kinesis on AWS).

Two ways to run:

* a *backfill* of past days (``events`` over an event-time window): records are generated and
  sent as fast as possible; the local Firehose files each one by its simulated arrival time, so
  the raw zone looks as if the traffic had streamed in on those days (late sessions land in
  later hours or days, as they would);
* a *live* stream (``rate`` events/s for ``duration`` seconds): event times are now, and records
  are paced by the wall clock.

``simulate_clicks(days)`` is the demo's entry point.
"""

from __future__ import annotations

import hashlib
import random
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from clickpipe_core.generator.clicks import ClickGenerator, day_window, iso_ms, to_ms
from clickpipe_core.streaming import ManualClock, send

PROGRESS_THRESHOLD = 200_000  # records; smaller backfills print no progress bar (like the batch generator)


def _seeded_uuids(*parts) -> Callable[[], str]:
    """Object names from the run's parameters: re-running the same simulation writes the same
    keys (it replaces its own objects); any other run gets different ones."""
    rng = random.Random("firehose-objects/" + "/".join(map(str, parts)))

    def uuid4() -> str:
        h = (rng.getrandbits(128) & ~((0xF << 76) | (0xC << 60)) | (0x4 << 76) | (0x8 << 60)).to_bytes(16, "big").hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    return uuid4


def _default_stream():
    from clickpipe_dagster.environments import resource

    return resource("stream")


def simulate(
    *,
    events: int | None = None,
    start=None,
    end=None,
    rate: float | None = None,
    duration: float | None = None,
    users: int | str | Path | Sequence[tuple[str, str]] = 1000,
    seed: int = 7,
    late_share: float = 0.05,
    duplicate_share: float = 0.01,
    stream=None,
    progress: bool | None = None,
) -> dict:
    """Generate and send clicks; return the generator's manifest plus what the sink did.

    Give ``events`` with ``start``/``end`` (a backfill) or ``rate`` with ``duration`` (live).
    ``stream`` is a ``StreamResource`` (default: the code location's ``stream`` resource).
    """
    live = rate is not None or duration is not None
    stream = stream if stream is not None else _default_stream()
    if live:
        if rate is None or duration is None or events is not None or start is not None or end is not None:
            raise ValueError("a live stream takes rate and duration (and no events, start or end)")
        if rate <= 0 or duration <= 0:
            raise ValueError("rate and duration must be positive")
        sink = stream.open_sink()
        now = time.time()  # after the sink is open: the window starts when sending can
        gen = ClickGenerator(events=round(rate * duration), start=now, end=now + duration, users=users, seed=seed,
                             late_share=late_share, duplicate_share=duplicate_share, anchor="arrival",
                             slice_seconds=1.0)  # fmt: skip
        clock = None
    else:
        if events is None or start is None or end is None:
            raise ValueError("a backfill takes events, start and end")
        gen = ClickGenerator(events=events, start=start, end=end, users=users, seed=seed,
                             late_share=late_share, duplicate_share=duplicate_share)  # fmt: skip
        clock = ManualClock(gen.start_ms / 1000)
        users_digest = hashlib.sha1(repr(gen.users).encode()).hexdigest()
        uuid_fn = _seeded_uuids(seed, gen.events, gen.start_ms, gen.end_ms, late_share, duplicate_share, users_digest)
        sink = stream.open_sink(clock=clock, uuid_fn=uuid_fn)

    show = progress if progress is not None else (live or gen.events >= PROGRESS_THRESHOLD)
    from tqdm import tqdm  # the CLI's and the demo's dependency, not the generator's

    bar = tqdm(desc="clicks", unit="rec", unit_scale=True, file=sys.stderr, disable=not show, leave=False)
    started = time.perf_counter()
    try:
        with sink:  # closing flushes, also on Ctrl-C: nothing buffered is lost
            # Live: a producer sends what it has every 100 ms (the Kinesis Producer Library's default).
            send(gen, sink, clock=clock, pace=live, progress=bar.update, batch_span_ms=100 if live else 1000)
    finally:
        bar.close()
    seconds = time.perf_counter() - started
    m = dict(gen.manifest)
    m.update(
        mode="live" if live else "backfill",
        stream=stream.describe(),
        sink=sink.stats,
        objects=list(getattr(sink, "keys", [])),
        seconds=round(seconds, 3),
        events_per_second=round(m["events"] / seconds) if seconds > 0 else None,
        records_per_second=round(m["records"] / seconds) if seconds > 0 else None,
    )
    return m


def simulate_clicks(
    days: Sequence[str | date],
    *,
    events_per_day: int = 10_000,
    users: int | str | Path | Sequence[tuple[str, str]] = 1000,
    seed: int = 7,
    late_share: float = 0.05,
    duplicate_share: float = 0.01,
    stream=None,
    progress: bool | None = None,
) -> dict:
    """Clicks for the sample's days (consecutive UTC days), into the ``stream`` resource.

    Pass ``users=sample.users_file`` so the clicks come from the sample's users with their
    countries. The manifest's ``arrival_days`` are the raw/clicks partitions written (late
    sessions of the last day arrive the day after); ``event_days`` the processed ones.
    """
    days = list(days)
    start, end = day_window(days)
    return simulate(events=events_per_day * len(days), start=start, end=end, users=users, seed=seed,
                    late_share=late_share, duplicate_share=duplicate_share, stream=stream, progress=progress)  # fmt: skip


__all__ = ["simulate", "simulate_clicks", "iso_ms", "to_ms"]

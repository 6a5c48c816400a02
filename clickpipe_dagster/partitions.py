"""The partitions of the code location: two time axes and the late window between them
(ARCHITECTURE.md, rule 4). UTC throughout.

- ``ingest_days``: the day a batch file was delivered (``raw/<dataset>/ingest_date=D/``) or a
  Firehose object arrived. Raw batch files and every processed asset are partitioned by it: a
  partition is what one delivery day brought.
- ``arrival_hours``: the Firehose object's arrival hour, Firehose's own layout
  (``raw/clicks/YYYY/MM/DD/HH/``): the raw click stream, as the sensor sees it arrive.
- ``event_days``: the UTC day of the event or payment (``dt``): the daily marts.

A record reaches the processed zone at most ``LATE_WINDOW_DAYS`` after its event day (Job 1
quarantines a later one), so mart day E is built from ingest days E .. E + LATE_WINDOW_DAYS:
``late_window()`` is that partition mapping.
"""

import contextlib
import warnings

import dagster as dg

from clickpipe_core.contracts import LATE_WINDOW_DAYS

# The first day the pipeline knows; the sample data starts on 2026-11-01.
FIRST_DAY = "2026-10-01"

# Today is a partition already (end_offset=1): a live stream fills it during the day.
ingest_days = dg.DailyPartitionsDefinition(start_date=FIRST_DAY, timezone="UTC", end_offset=1)
event_days = ingest_days  # the same calendar; what a day means differs (see the module docstring)
arrival_hours = dg.HourlyPartitionsDefinition(start_date=f"{FIRST_DAY}-00:00", timezone="UTC", end_offset=1)


@contextlib.contextmanager
def beta_parameters():
    """Use what Dagster 1.13 marks beta or preview (``backfill_policy``,
    ``allow_nonexistent_upstream_partitions``, code references, its own Pipes clients) without
    the warning every process that loads the code location would print (the run workers too).
    Only around the definitions and calls that use them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        warnings.simplefilter("ignore", dg.PreviewWarning)
        yield


def late_window() -> dg.TimeWindowPartitionMapping:
    """Event day E <- ingest days E .. E + LATE_WINDOW_DAYS (the newest may not exist yet)."""
    with beta_parameters():
        return dg.TimeWindowPartitionMapping(
            start_offset=0, end_offset=LATE_WINDOW_DAYS, allow_nonexistent_upstream_partitions=True
        )


def session_window() -> dg.TimeWindowPartitionMapping:
    """Session day E <- ingest days E-1 .. E+1+LATE_WINDOW_DAYS: its sessions read the event days
    E-1 .. E+1 (clickpipe_core/sessions.py), and event day X is filled by ingest days X .. X+window."""
    with beta_parameters():
        return dg.TimeWindowPartitionMapping(
            start_offset=-1, end_offset=LATE_WINDOW_DAYS + 1, allow_nonexistent_upstream_partitions=True
        )


def hours_so_far() -> dg.TimeWindowPartitionMapping:
    """Arrival day D <- its arrival hours; the hours of today that have not come yet are no error."""
    with beta_parameters():
        return dg.TimeWindowPartitionMapping(allow_nonexistent_upstream_partitions=True)


def single_run() -> dg.BackfillPolicy:
    """A range of partitions in one run (the Glue jobs take a list of days)."""
    with beta_parameters():
        return dg.BackfillPolicy.single_run()

"""Daily UTC partitions shared by every partitioned asset (ARCHITECTURE.md, rule 4)."""

import os

import dagster as dg

# The first day the pipeline knows; the sample data starts on 2026-11-01.
START_DATE = os.environ.get("CLICKPIPE_START_DATE", "2026-10-01")

daily_partitions = dg.DailyPartitionsDefinition(start_date=START_DATE, timezone="UTC", end_offset=1)

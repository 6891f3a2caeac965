"""The one daily partitions definition every asset uses.

Event tables (listening_events, plays) are keyed by the UTC day a play happened; snapshot
tables (catalog, tracks, users, gold) by their as-of day: the partition for day D is built from
data up to and including D. A range run of a snapshot asset replaces the whole range with one
snapshot as of its last day (the snapshot for D stands for every day since the one before it),
so a year's backfill writes one catalog copy, not 365.

The partitions begin at the first play this MOODLAKE_HOME has landed, so the Partitions tab
and "materialize missing" never see the years before it (days that cannot hold data).
`MOODLAKE_PARTITIONS_START` overrides it; a home with nothing landed yet starts at Spotify's
launch. The day is read when the code location loads: a history reaching further back moves it
earlier (never later) and takes effect at the next load.
"""

from __future__ import annotations

import datetime as dt
import warnings

import dagster as dg

from moodlake_dagster.first_play import partitions_start

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=partitions_start(),
    timezone="UTC",
    end_offset=1,
)

# Spark-backed assets read a whole range in one run: one JVM session, never one run per day.
single_run = dg.BackfillPolicy.single_run()
# Every asset module sets it, and each import would log the same beta notice to the UI's logs.
warnings.filterwarnings("ignore", "Parameter `backfill_policy`", category=dg.BetaWarning)


def first_partition_day() -> dt.date:
    return dt.date.fromisoformat(daily_partitions.start.strftime("%Y-%m-%d"))


def day_range(context: dg.AssetExecutionContext) -> tuple[dt.date, dt.date]:
    """The run's partition range as dates (a single partition is a one-day range)."""
    keys = context.partition_key_range
    return dt.date.fromisoformat(keys.start), dt.date.fromisoformat(keys.end)

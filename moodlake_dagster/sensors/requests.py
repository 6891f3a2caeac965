"""The run requests both history sensors make: event days first, snapshots after."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from moodlake_dagster.jobs import HISTORY_TRIGGER_TAG, history_job
from moodlake_dagster.partitions import first_partition_day
from moodlake_dagster.resources import LakeResource
from moodlake_dagster.tables import (
    CATALOG_TRACKS,
    LISTENING_EVENTS,
    MOOD_BY_DAY,
    PLAYS,
    SPOTIFY_TRACKS,
    TRACKS,
)

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
ENRICH_TAG = "moodlake/enrich"


def history_sensor(interval_s: int, description: str):
    """A sensor that requests history runs: off until a user starts it in the UI."""
    return dg.sensor(
        job=history_job,
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=description,
    )


def partition_days_only(days: set[dt.date]) -> tuple[set[dt.date], set[dt.date]]:
    """(days the partitions definition has, days it does not) — e.g. before its start."""
    first = first_partition_day()
    kept = {d for d in days if d >= first}
    return kept, days - kept


def history_run_request(
    days: set[dt.date],
    *,
    run_key: str,
    trigger: str,
    lake: LakeResource,
    enrich: bool = False,
) -> dg.RunRequest:
    """One run over the changed days' span (one backfill, never a run per day).

    The Bronze asset re-reads every source and replaces exactly the run's range, so days
    inside the span that did not change are re-derived unchanged. The catalog snapshot joins
    the run only while Silver tracks are missing (the first ingest on a fresh lake).

    With `enrich`, played tracks the catalog lacks are looked up on the Web API and Silver
    tracks rebuilt before the plays resolve against them. Only a connected account (a cached
    token) has anyone to ask, and the Silver tracks rebuild costs ~20 s a run, so the sensors
    ask for it only when Spotify is connected.
    """
    fresh = not lake.exists(TRACKS)
    if enrich:
        written = [LISTENING_EVENTS, SPOTIFY_TRACKS, TRACKS]
    else:
        written = [TRACKS, LISTENING_EVENTS] if fresh else [LISTENING_EVENTS]
    written = [*([CATALOG_TRACKS] if fresh else []), *written, PLAYS, MOOD_BY_DAY]
    return dg.RunRequest(
        run_key=run_key,
        asset_selection=[table.key for table in written],
        tags={
            RANGE_START_TAG: min(days).isoformat(),
            RANGE_END_TAG: max(days).isoformat(),
            HISTORY_TRIGGER_TAG: trigger,
            ENRICH_TAG: str(enrich).lower(),
            "moodlake/days_changed": str(len(days)),
        },
    )

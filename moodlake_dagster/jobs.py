"""The jobs: the whole-graph build, and the two halves the sensors request in turn."""

import dagster as dg

from moodlake_dagster import tables as t
from moodlake_dagster.resources.spark import spark_stopped

# `moodlake build` runs this in-process: one run, one Spark session, no process per step.
build_job = dg.define_asset_job(
    "moodlake_build",
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("maintenance"),
    executor_def=dg.in_process_executor,
    hooks={spark_stopped},
    description="Materialize every table for a day or a range of days in one run.",
)

# New plays re-derive the event tables and the daily series for the days they touch (the
# catalog snapshot joins them only when Silver tracks do not exist yet, the Web API lookup of
# tracks the catalog lacks only when Spotify is connected: sensors/requests.py)...
history_job = dg.define_asset_job(
    "listening_history",
    selection=dg.AssetSelection.assets(
        *(
            table.key
            for table in (t.CATALOG_TRACKS, t.SPOTIFY_TRACKS, t.TRACKS, t.LISTENING_EVENTS, t.PLAYS)
        ),
        t.MOOD_BY_DAY.key,
    ),
    executor_def=dg.in_process_executor,
    hooks={spark_stopped},
    description="Ingest new listening history for the days it touches (requested by sensors).",
)

# ...then the snapshots built from every play are rebuilt as of the latest day.
snapshot_job = dg.define_asset_job(
    "listening_snapshots",
    selection=dg.AssetSelection.assets(t.USERS.key)
    | (
        dg.AssetSelection.groups("gold", "ml", "platform", "serving")
        - dg.AssetSelection.assets(t.MOOD_BY_DAY.key)
    ),
    executor_def=dg.in_process_executor,
    hooks={spark_stopped},
    description="Rebuild users, profiles, Gold, the platform tables and the models as of the "
    "latest listening day, and the dashboards' copy of Gold.",
)

HISTORY_TRIGGER_TAG = "moodlake/trigger"

# Housekeeping, apart from any build: compaction, checkpoints and vacuum, nightly once started.
maintenance_job = dg.define_asset_job(
    "lake_maintenance",
    selection=dg.AssetSelection.groups("maintenance"),
    executor_def=dg.in_process_executor,
    description="Compact small files, checkpoint and clean each table's log, vacuum old files.",
)
maintenance_schedule = dg.ScheduleDefinition(
    job=maintenance_job,
    cron_schedule="30 3 * * *",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Nightly lake housekeeping (off until started, like the sensors).",
)

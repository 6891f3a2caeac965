"""The one Definitions object: assets, checks, jobs, sensors and resources."""

from __future__ import annotations

import dagster as dg

from moodlake_dagster.assets import (
    als,
    bronze,
    crowd,
    explanations,
    gold,
    maintenance,
    modes,
    moods,
    over_time,
    platform,
    preference,
    recommendations,
    sentences,
    serving,
    side_tables,
    silver,
    spotify,
)
from moodlake_dagster.jobs import (
    build_job,
    history_job,
    maintenance_job,
    maintenance_schedule,
    snapshot_job,
)
from moodlake_dagster.resources import build_resources
from moodlake_dagster.sensors import SENSORS
from moodlake_dagster.settings import load_settings

# Tables written by others first (shown in the graph, never materialized), then the assets.
ASSETS = [
    spotify.spotify_api_responses,
    side_tables.quarantine,
    side_tables.model_metrics,
    side_tables.audit_events,
    *dg.load_assets_from_modules(
        [
            bronze,
            spotify,
            silver,
            platform,
            gold,
            over_time,
            sentences,
            moods,
            modes,
            preference,
            crowd,
            als,
            recommendations,
            explanations,
            serving,
        ]
    ),
]


def make_definitions(env=None) -> dg.Definitions:
    return dg.Definitions(
        assets=[*ASSETS, maintenance.lake_health],
        asset_checks=[
            side_tables.quarantine_schema,
            side_tables.model_metrics_schema,
            side_tables.audit_events_schema,
        ],
        jobs=[build_job, history_job, snapshot_job, maintenance_job],
        schedules=[maintenance_schedule],
        sensors=SENSORS,
        resources=build_resources(load_settings(env)),
    )


defs = make_definitions()

"""The landing-folder sensor: new or changed history files → a run for the days they touch."""

import datetime as dt
import os

import dagster as dg

from moodlake_dagster.first_play import record_first_play_day
from moodlake_dagster.ingest.landing import LandingCursor, scan_landing
from moodlake_dagster.ingest.landing_store import LandingStore
from moodlake_dagster.partitions import first_partition_day
from moodlake_dagster.resources import LakeResource, MoodlakeConfig, SpotifyResource
from moodlake_dagster.sensors.requests import (
    history_run_request,
    history_sensor,
    partition_days_only,
)
from moodlake_dagster.settings import sensor_interval

LANDING_INTERVAL_S = sensor_interval("MOODLAKE_LANDING_INTERVAL_S", 60)


@history_sensor(
    LANDING_INTERVAL_S,
    (
        "Watches MOODLAKE_LANDING for history files (JSON of any export format, or the "
        "export's .zip) and requests one run over the play days new or changed files touch."
    ),
)
def landing_history_sensor(
    context: dg.SensorEvaluationContext,
    moodlake: MoodlakeConfig,
    lake: LakeResource,
    spotify: SpotifyResource,
) -> dg.SensorResult:
    """Watches MOODLAKE_LANDING for history files (JSON of any export format, or the export's
    .zip) and requests one run over the play days that new or changed files touch."""
    settings = moodlake.settings()
    store = LandingStore.of(settings.landing)
    if not store.exists():
        return dg.SensorResult(
            skip_reason=f"MOODLAKE_LANDING={settings.landing} is not a folder (yet)"
        )
    changes = scan_landing(
        store,
        LandingCursor.parse(context.cursor),
        now=dt.datetime.now(dt.UTC),
        settle_s=settings.landing_settle_s,
        patience_s=settings.landing_patience_s,
    )
    for name, why in changes.waiting.items():
        context.log.info(f"{name}: {why}")
    for name, why in changes.problems.items():
        context.log.warning(f"{name}: {why}")
    if changes.days:
        record_first_play_day(settings.home, min(changes.days))
    days, outside = partition_days_only(changes.days)
    if outside and not os.environ.get("MOODLAKE_PARTITIONS_START"):
        # The cursor stays: after a reload the partitions reach back and these files come again.
        reason = (
            f"History reaches back to {min(outside)}, before the first day partition "
            f"{first_partition_day()}. The new first day is recorded: reload the code location "
            "(Deployment → Reload, or restart `moodlake ui`) and the next tick ingests it"
        )
        context.log.warning(reason)
        return dg.SensorResult(skip_reason=reason)
    if outside:
        context.log.warning(
            f"{len(outside)} play day(s) before MOODLAKE_PARTITIONS_START "
            f"({min(outside)}..{max(outside)}) are not ingested; set it earlier to keep them"
        )
    cursor = changes.cursor.dump()
    if not days:
        return dg.SensorResult(skip_reason=_nothing_to_do(changes), cursor=cursor)
    context.log.info(
        f"{len(changes.changed)} changed, {len(changes.removed)} removed file(s): "
        f"{len(days)} play day(s) from {min(days)} to {max(days)}"
    )
    # With a connected account the run also looks up played tracks the catalog lacks.
    request = history_run_request(
        days,
        run_key=f"landing-{changes.fingerprint}",
        trigger="landing",
        lake=lake,
        enrich=spotify.connected,
    )
    return dg.SensorResult(run_requests=[request], cursor=cursor)


def _nothing_to_do(changes) -> str:
    if changes.waiting:
        waiting = "; ".join(f"{name}: {why}" for name, why in changes.waiting.items())
        return f"Waiting for {len(changes.waiting)} file(s) still being written — {waiting}"
    if changes.changed:
        names = ", ".join(changes.changed)
        return f"{names}: no readable play in it; its problems go to the quarantine table"
    return "No new or changed history file in the landing folder"

"""The profiles sensor: a new or changed profiles file → the snapshots rebuilt as of the latest
listening day (profiles are a snapshot, like users: no day of history changes with them)."""

import dagster as dg

from moodlake_dagster.inputs import profile_files
from moodlake_dagster.jobs import HISTORY_TRIGGER_TAG, snapshot_job
from moodlake_dagster.resources import LakeResource, MoodlakeConfig
from moodlake_dagster.tables import LISTENING_EVENTS

PROFILES_INTERVAL_S = 60


@dg.sensor(
    job=snapshot_job,
    minimum_interval_seconds=PROFILES_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "Watches the landing folder's profiles file (profiles*.csv / profiles*.json) and, when "
        "it changes, requests the profiles, platform tables and models as of the latest "
        "listening day."
    ),
)
def profiles_sensor(
    context: dg.SensorEvaluationContext, moodlake: MoodlakeConfig, lake: LakeResource
) -> dg.SensorResult:
    """The cursor is the files' fingerprint (names, sizes, times): any change is one run."""
    fingerprint = profile_files(moodlake.settings())
    if fingerprint == context.cursor:
        return dg.SensorResult(skip_reason="No new or changed profiles file")
    days = lake.partition_days(LISTENING_EVENTS)
    if not days:
        # The cursor stays: the first history run's snapshots will read the profiles anyway.
        return dg.SensorResult(skip_reason="No play landed yet: profiles join the first build")
    request = dg.RunRequest(
        run_key=f"profiles-{fingerprint}",
        partition_key=days[-1].isoformat(),
        tags={HISTORY_TRIGGER_TAG: "profiles"},
    )
    return dg.SensorResult(run_requests=[request], cursor=fingerprint)

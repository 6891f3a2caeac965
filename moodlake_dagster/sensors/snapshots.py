"""After new plays land, rebuild the snapshots (users, Gold) as of the latest listening day."""

import dagster as dg

from moodlake_dagster.jobs import HISTORY_TRIGGER_TAG, history_job, snapshot_job
from moodlake_dagster.resources import LakeResource
from moodlake_dagster.tables import LISTENING_EVENTS


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[history_job],
    request_job=snapshot_job,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "After a successful listening_history run, requests users and Gold as of the latest "
        "listening day."
    ),
)
def listening_snapshot_sensor(context: dg.RunStatusSensorContext, lake: LakeResource):
    """When a history run succeeds, requests users and Gold as of the latest listening day:
    a snapshot as of an old day would miss every later play."""
    days = lake.partition_days(LISTENING_EVENTS)
    if not days:
        return dg.SkipReason("Bronze listening_events holds no play yet")
    run = context.dagster_run
    return dg.RunRequest(
        run_key=f"snapshots-after-{run.run_id}",
        partition_key=days[-1].isoformat(),
        tags={HISTORY_TRIGGER_TAG: run.tags.get(HISTORY_TRIGGER_TAG, "history")},
    )

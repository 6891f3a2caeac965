"""Gold over time: each listener's mood day by day, built a few days at a time."""

import dagster as dg

from moodlake_dagster import insights
from moodlake_dagster.assets.common import table_asset
from moodlake_dagster.assets.silver import snapshot_predicate
from moodlake_dagster.assets.unchanged import skip_if_unchanged
from moodlake_dagster.checks import validate
from moodlake_dagster.inputs import fingerprint
from moodlake_dagster.partitions import day_range
from moodlake_dagster.resources import LakeResource, SparkConnectResource
from moodlake_dagster.storage import range_predicate
from moodlake_dagster.tables import MOOD_BY_DAY, PLAYS, TRACKS
from moodlake_dagster.transform import over_time


@dg.asset(
    **table_asset(
        MOOD_BY_DAY, kinds={"spark", "deltalake"}, deps=[PLAYS, TRACKS], blocking=False, spark=True
    )
)
def mood_by_day(
    context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkConnectResource
) -> dg.MaterializeResult:
    """A run over UTC days rebuilds the local days their plays fall on, and no other."""
    start, end = day_range(context)
    first, last = over_time.local_days(start, end)
    inputs = fingerprint(MOOD_BY_DAY, lake, None, start, end)
    if skipped := skip_if_unchanged(context, lake, [MOOD_BY_DAY], inputs):
        return skipped
    session = spark.get_session(context)
    read_from, read_to = over_time.play_days_to_read(start, end)
    plays = lake.spark(session, PLAYS, range_predicate("play_date", read_from, read_to))
    tracks = lake.spark(session, TRACKS, snapshot_predicate(lake, TRACKS, end))
    table = over_time.mood_by_day(plays, tracks, first, last).toArrow()
    uri = lake.replace_range(MOOD_BY_DAY, table, first, last, inputs=inputs)
    df = table.to_pandas()
    metadata = {
        "table_uri": uri,
        "rows": len(df),
        "local_days": f"{first} … {last}",
        "listeners": int(df["user_id"].nunique()) if len(df) else 0,
        **MOOD_BY_DAY.columns(table.schema),
    }
    if len(df):
        metadata |= {
            "preview": insights.preview(df),
            "plot": insights.figure_md(insights.daily_mood_plot(df), "mood day by day"),
        }
    return dg.MaterializeResult(metadata=metadata, check_results=[validate(MOOD_BY_DAY.model, df)])

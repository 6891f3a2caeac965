"""Gold over time: each listener's mood day by day (built a few days at a time), their weeks
and months against their usual, and the trends over the year."""

import dagster as dg
import pyarrow as pa

from moodlake_dagster import insights, trend_plots
from moodlake_dagster.assets.common import metadata_on_last_day, publish_table, table_asset
from moodlake_dagster.assets.silver import snapshot_predicate
from moodlake_dagster.assets.unchanged import skip_if_unchanged
from moodlake_dagster.checks import validate
from moodlake_dagster.inputs import fingerprint
from moodlake_dagster.partitions import day_range
from moodlake_dagster.resources import LakeResource, SparkConnectResource
from moodlake_dagster.storage import range_predicate
from moodlake_dagster.tables import MOOD_BY_DAY, MOOD_TREND_TESTS, MOOD_TRENDS, PLAYS, TRACKS
from moodlake_dagster.transform import over_time, trends


@dg.asset(
    **table_asset(
        MOOD_BY_DAY, kinds={"spark", "deltalake"}, deps=[PLAYS, TRACKS], blocking=False, spark=True
    )
)
@metadata_on_last_day
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
        **lake.written(MOOD_BY_DAY, uri),
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


@dg.asset(
    **table_asset(
        MOOD_TRENDS, kinds={"spark", "deltalake"}, deps=[MOOD_BY_DAY], blocking=False, spark=True
    )
)
@metadata_on_last_day
def mood_trends(
    context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkConnectResource
) -> dg.MaterializeResult:
    """Weeks and months are rebuilt from the daily series, not from every play again."""
    start, end = day_range(context)
    inputs = fingerprint(MOOD_TRENDS, lake, None, start, end)
    if skipped := skip_if_unchanged(context, lake, [MOOD_TRENDS], inputs):
        return skipped
    daily = lake.spark(spark.get_session(context), MOOD_BY_DAY, f"local_date <= '{end}'")
    table = trends.mood_trends(daily, end).toArrow()
    frame = table.to_pandas()
    unusual = frame[frame["z_score"].abs() >= 2]
    extra = {"unusual_periods": len(unusual), "listeners": int(frame["user_id"].nunique())}
    return publish_table(
        lake, MOOD_TRENDS, table, (start, end), inputs, trend_plots.trends_plot, extra
    )


@dg.asset(
    **table_asset(
        MOOD_TREND_TESTS, kinds={"scipy", "deltalake"}, deps=[MOOD_TRENDS], blocking=False
    )
)
@metadata_on_last_day
def mood_trend_tests(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """A few monthly rows per listener: SciPy on delta-rs, no Spark."""
    start, end = day_range(context)
    inputs = fingerprint(MOOD_TREND_TESTS, lake, None, start, end)
    if skipped := skip_if_unchanged(context, lake, [MOOD_TREND_TESTS], inputs):
        return skipped
    monthly = lake.frame(MOOD_TRENDS, [("as_of_date", "=", end), ("period", "=", "month")])
    frame = trends.trend_tests(monthly, end)
    table = pa.Table.from_pandas(frame, schema=MOOD_TREND_TESTS.schema, preserve_index=False)
    extra = {"tested": int(frame["p_value"].notna().sum()), "test": trends.TREND_TEST}
    return publish_table(
        lake, MOOD_TREND_TESTS, table, (start, end), inputs, trend_plots.trend_tests_plot, extra
    )

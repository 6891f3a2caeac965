"""Gold: one table per question (descriptive, diagnostic, benchmark), each with a plot."""

from collections.abc import Callable

import dagster as dg
import pandas as pd
import pandera.pandas as pa_models
import pyarrow as pa

from moodlake_dagster import insights
from moodlake_dagster.assets.silver import snapshot_predicate
from moodlake_dagster.checks import schema_check_spec, validate
from moodlake_dagster.checks.schemas import (
    FeatureCorrelations,
    FeatureGaps,
    GenreDiscovery,
    GenreMix,
    ListeningByDaypart,
    TrackEngagement,
)
from moodlake_dagster.partitions import daily_partitions, day_range, single_run
from moodlake_dagster.resources import LakeResource, SparkConnectResource
from moodlake_dagster.transform import gold

SPARK = {
    "group_name": "gold",
    "partitions_def": daily_partitions,
    "backfill_policy": single_run,
    "kinds": {"spark", "deltalake"},
    "pool": "spark",
    "deps": ["plays", "tracks", "users"],
}

CORRELATIONS_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("feature", pa.string()),
        ("metric", pa.string()),
        ("pearson_r", pa.float64()),
        ("p_value", pa.float64()),
        ("n", pa.int64()),
        ("note", pa.string()),
        ("as_of_date", pa.date32()),
    ]
)


class GoldInputs:
    """Silver as of the run's last day: every play up to it and the tracks snapshot."""

    def __init__(self, context, lake: LakeResource, spark: SparkConnectResource):
        self.start, self.end = day_range(context)
        session = spark.get_session(context)
        self.plays = lake.spark(session, "silver", "plays", f"play_date <= '{self.end}'")
        self.tracks = lake.spark(
            session, "silver", "tracks", snapshot_predicate(lake, "silver", "tracks", self.end)
        )

    @property
    def enriched(self):
        return gold.plays_with_features(self.plays, self.tracks)


def _publish(
    lake: LakeResource,
    inputs: GoldInputs,
    name: str,
    table: pa.Table,
    model: type[pa_models.DataFrameModel],
    plot: Callable[[pd.DataFrame], object],
    **metadata,
) -> dg.MaterializeResult:
    uri = lake.replace_range("gold", name, table, "as_of_date", inputs.start, inputs.end)
    df = table.to_pandas()
    metadata = {
        "table_uri": uri,
        "rows": len(df),
        "as_of_date": inputs.end.isoformat(),
        "preview": insights.preview(df),
    } | metadata
    if len(df):
        metadata["plot"] = insights.figure_md(plot(df), name)
    return dg.MaterializeResult(metadata=metadata, check_results=[validate(model, df)])


@dg.asset(
    check_specs=[schema_check_spec("listening_by_daypart", ListeningByDaypart, blocking=False)],
    **SPARK,
)
def listening_by_daypart(
    context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkConnectResource
) -> dg.MaterializeResult:
    """When do I listen, and in what mood: plays, minutes, skip rate and mean valence, energy,
    danceability, acousticness and tempo per day part × weekday, in the listener's time zone."""
    inputs = GoldInputs(context, lake, spark)
    table = gold.listening_by_daypart(inputs.enriched, inputs.end).toArrow()
    return _publish(
        lake, inputs, "listening_by_daypart", table, ListeningByDaypart, insights.daypart_plot
    )


@dg.asset(check_specs=[schema_check_spec("genre_mix", GenreMix, blocking=False)], **SPARK)
def genre_mix(
    context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkConnectResource
) -> dg.MaterializeResult:
    """What do I listen to: share of resolved plays per genre (a play split over its track's
    genres), minutes and distinct tracks."""
    inputs = GoldInputs(context, lake, spark)
    table = gold.genre_mix(inputs.enriched, inputs.end).toArrow()
    return _publish(lake, inputs, "genre_mix", table, GenreMix, insights.genre_plot)


@dg.asset(
    check_specs=[schema_check_spec("track_engagement", TrackEngagement, blocking=False)], **SPARK
)
def track_engagement(
    context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkConnectResource
) -> dg.MaterializeResult:
    """How I engage with each track: plays, skips, skip rate, completion and minutes, including
    tracks the catalog does not know (keyed by normalized artist and title)."""
    inputs = GoldInputs(context, lake, spark)
    table = gold.track_engagement(inputs.plays, inputs.end).toArrow()
    return _publish(
        lake, inputs, "track_engagement", table, TrackEngagement, insights.engagement_plot
    )


@dg.asset(
    check_specs=[schema_check_spec("feature_correlations", FeatureCorrelations, blocking=False)],
    **SPARK,
)
def feature_correlations(
    context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkConnectResource
) -> dg.MaterializeResult:
    """Which audio features go with what I play: Pearson r with p-value and n between each
    feature and per-track play count and skip rate."""
    inputs = GoldInputs(context, lake, spark)
    engagement = gold.track_engagement(inputs.plays, inputs.end)
    df = gold.feature_correlations(engagement, inputs.tracks, inputs.end)
    table = pa.Table.from_pandas(df, schema=CORRELATIONS_SCHEMA, preserve_index=False)
    significant = int((df["p_value"] < 0.05).sum()) if len(df) else 0
    return _publish(
        lake,
        inputs,
        "feature_correlations",
        table,
        FeatureCorrelations,
        insights.correlation_plot,
        significant_at_5pct=significant,
    )


@dg.asset(check_specs=[schema_check_spec("feature_gaps", FeatureGaps, blocking=False)], **SPARK)
def feature_gaps(
    context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkConnectResource
) -> dg.MaterializeResult:
    """Personal vs. catalog benchmark, features: where my play-weighted feature distribution
    sits against the whole catalog's (means, quartiles, gap in catalog standard deviations)."""
    inputs = GoldInputs(context, lake, spark)
    table = gold.feature_gaps(inputs.enriched, inputs.tracks, inputs.end).toArrow()
    return _publish(lake, inputs, "feature_gaps", table, FeatureGaps, insights.gap_plot)


@dg.asset(
    check_specs=[schema_check_spec("genre_discovery", GenreDiscovery, blocking=False)], **SPARK
)
def genre_discovery(
    context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkConnectResource
) -> dg.MaterializeResult:
    """Personal vs. catalog benchmark, genres: catalog genres I have never played, ranked by
    how close their mood profile is to mine: discovery opportunities."""
    inputs = GoldInputs(context, lake, spark)
    table = gold.genre_discovery(inputs.enriched, inputs.tracks, inputs.end).toArrow()
    df = table.to_pandas()
    unexplored = int((~df["explored"]).sum()) if len(df) else 0
    return _publish(
        lake,
        inputs,
        "genre_discovery",
        table,
        GenreDiscovery,
        insights.discovery_plot,
        unexplored_genre_rows=unexplored,
    )

"""Gold: one table per question (descriptive, diagnostic, benchmark), each with a plot.

The Gold tables are separate assets in the graph, computed by one subsettable multi-asset step:
they all start from the same Silver read (every play up to the as-of day joined to the tracks
snapshot), which Spark then caches once instead of each table's step scanning a year of days.
"""

from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg
import pandas as pd
import pandera.pandas as pa_models
import pyarrow as pa

from moodlake_dagster import insights
from moodlake_dagster.assets.silver import snapshot_predicate
from moodlake_dagster.assets.unchanged import skip_if_unchanged
from moodlake_dagster.checks import schema_check_spec, validate
from moodlake_dagster.checks.schemas import (
    FeatureCorrelations,
    FeatureGaps,
    GenreDiscovery,
    GenreMix,
    ListeningByDaypart,
    MoodByHour,
    TrackEngagement,
)
from moodlake_dagster.inputs import GOLD
from moodlake_dagster.partitions import daily_partitions, day_range, single_run
from moodlake_dagster.resources import LakeResource, SparkConnectResource
from moodlake_dagster.transform import gold

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

    def __init__(self, context, lake: LakeResource, spark: SparkConnectResource, fingerprint):
        self.start, self.end = day_range(context)
        self.fingerprint = fingerprint
        session = spark.get_session(context)
        self.plays = lake.spark(session, "silver", "plays", f"play_date <= '{self.end}'").cache()
        self.tracks = lake.spark(
            session, "silver", "tracks", snapshot_predicate(lake, "silver", "tracks", self.end)
        ).cache()
        self.enriched = gold.plays_with_features(self.plays, self.tracks).cache()
        self.coverage = gold.feature_coverage(self.plays)


def _daypart(i: GoldInputs) -> pa.Table:
    return gold.listening_by_daypart(i.enriched, i.end).toArrow()


def _mood_by_hour(i: GoldInputs) -> pa.Table:
    return gold.mood_by_hour(i.enriched, i.end).toArrow()


def _genre_mix(i: GoldInputs) -> pa.Table:
    return gold.genre_mix(i.enriched, i.end).toArrow()


def _engagement(i: GoldInputs) -> pa.Table:
    return gold.track_engagement(i.plays, i.end).toArrow()


def _correlations(i: GoldInputs) -> pa.Table:
    frame = gold.feature_correlations(gold.track_engagement(i.plays, i.end), i.tracks, i.end)
    return pa.Table.from_pandas(frame, schema=CORRELATIONS_SCHEMA, preserve_index=False)


def _gaps(i: GoldInputs) -> pa.Table:
    return gold.feature_gaps(i.enriched, i.tracks, i.end).toArrow()


def _discovery(i: GoldInputs) -> pa.Table:
    return gold.genre_discovery(i.enriched, i.tracks, i.end).toArrow()


@dataclass(frozen=True)
class GoldTable:
    description: str
    build: Callable[[GoldInputs], pa.Table]
    model: type[pa_models.DataFrameModel]
    plot: Callable[[pd.DataFrame], object]
    extra: Callable[[pd.DataFrame], dict] = lambda df: {}


GOLD_TABLES = {
    "listening_by_daypart": GoldTable(
        "When do I listen, and in what mood: plays, minutes, skip rate and mean valence, "
        "energy, danceability, acousticness and tempo per day part × weekday, in the "
        "listener's time zone.",
        _daypart,
        ListeningByDaypart,
        insights.daypart_plot,
    ),
    "mood_by_hour": GoldTable(
        "When in the day is my music brighter or calmer: plays, minutes, skip rate and mean "
        "valence, energy and danceability per hour of the day, in the listener's time zone.",
        _mood_by_hour,
        MoodByHour,
        insights.hour_plot,
    ),
    "genre_mix": GoldTable(
        "What do I listen to: share of resolved plays per genre (a play split over its "
        "track's genres), minutes and distinct tracks.",
        _genre_mix,
        GenreMix,
        insights.genre_plot,
    ),
    "track_engagement": GoldTable(
        "How I engage with each track: plays, skips, skip rate, completion and minutes, "
        "including tracks the catalog does not know (keyed by normalized artist and title).",
        _engagement,
        TrackEngagement,
        insights.engagement_plot,
    ),
    "feature_correlations": GoldTable(
        "Which audio features go with what I play: Pearson r with p-value and n between each "
        "feature and per-track play count and skip rate.",
        _correlations,
        FeatureCorrelations,
        insights.correlation_plot,
        lambda df: {"significant_at_5pct": int((df["p_value"] < 0.05).sum())},
    ),
    "feature_gaps": GoldTable(
        "Personal vs. catalog benchmark, features: where my play-weighted feature "
        "distribution sits against the whole catalog's (means, quartiles, gap in catalog "
        "standard deviations).",
        _gaps,
        FeatureGaps,
        insights.gap_plot,
    ),
    "genre_discovery": GoldTable(
        "Personal vs. catalog benchmark, genres: catalog genres I have never played, ranked "
        "by how close their mood profile is to mine: discovery opportunities.",
        _discovery,
        GenreDiscovery,
        insights.discovery_plot,
        lambda df: {"unexplored_genre_rows": int((~df["explored"]).sum())},
    ),
}


def _publish(
    lake: LakeResource, inputs: GoldInputs, name: str, spec: GoldTable
) -> dg.MaterializeResult:
    table = spec.build(inputs)
    uri = lake.replace_range(
        "gold", name, table, "as_of_date", inputs.start, inputs.end, inputs=inputs.fingerprint
    )
    df = table.to_pandas()
    metadata = {
        "table_uri": uri,
        "rows": len(df),
        "as_of_date": inputs.end.isoformat(),
        "preview": insights.preview(df),
        # Every mood figure rests on the plays with audio features: say how many there are.
        **inputs.coverage,
    }
    if len(df):
        metadata |= spec.extra(df) | {"plot": insights.figure_md(spec.plot(df), name)}
    return dg.MaterializeResult(
        asset_key=name, metadata=metadata, check_results=[validate(spec.model, df, asset=name)]
    )


@dg.multi_asset(
    name="gold_tables",
    specs=[
        dg.AssetSpec(
            name,
            group_name="gold",
            description=spec.description,
            deps=["plays", "tracks", "users"],
            kinds={"spark", "deltalake"},
            partitions_def=daily_partitions,
            skippable=True,
        )
        for name, spec in GOLD_TABLES.items()
    ],
    check_specs=[
        schema_check_spec(name, spec.model, blocking=False) for name, spec in GOLD_TABLES.items()
    ],
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    can_subset=True,
    pool="spark",
)
def gold_tables(context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkConnectResource):
    """The Gold tables selected for this run, as of the run's last day."""
    start, end = day_range(context)
    fingerprint = GOLD.fingerprint(lake, None, start, end)
    names = [key.to_user_string() for key in context.selected_asset_keys]
    unchanged = [
        skip_if_unchanged(context, lake, [f"gold/{name}"], fingerprint, asset_key=name)
        for name in names
    ]
    if all(unchanged):
        yield from unchanged
        return
    inputs = GoldInputs(context, lake, spark, fingerprint)
    try:
        for key in context.selected_asset_keys:
            name = key.to_user_string()
            yield _publish(lake, inputs, name, GOLD_TABLES[name])
    finally:
        for frame in (inputs.enriched, inputs.tracks, inputs.plays):
            frame.unpersist()

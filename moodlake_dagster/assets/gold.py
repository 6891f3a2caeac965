"""Gold: one table per question (descriptive, diagnostic, benchmark), each with a plot.

The Gold tables are separate assets in the graph, computed by one subsettable multi-asset step:
they all start from the same Silver read (every play up to the as-of day joined to the tracks
snapshot), which Spark then caches once instead of each table's step scanning a year of days.
"""

import functools
from collections import Counter
from collections.abc import Callable
from concurrent import futures
from contextlib import closing
from dataclasses import dataclass

import dagster as dg
import pandas as pd
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from moodlake_dagster import insights, tables, trend_plots
from moodlake_dagster.assets.common import check_written, metadata_on_last_day
from moodlake_dagster.assets.in_flight import in_background, in_flight
from moodlake_dagster.assets.silver import snapshot_predicate
from moodlake_dagster.assets.unchanged import skip_if_unchanged
from moodlake_dagster.checks import schema_check_spec, validate
from moodlake_dagster.inputs import fingerprint as inputs_fingerprint
from moodlake_dagster.partitions import daily_partitions, day_range, single_run
from moodlake_dagster.resources import LakeResource, SparkConnectResource
from moodlake_dagster.tables import PLAYS, TRACKS, USERS, Table
from moodlake_dagster.transform import buckets, gold, habits, thresholds
from moodlake_dagster.transform import sessions as session_tables
from moodlake_dagster.vocabulary import AUDIO_FEATURES

# The Silver plays columns the Gold tables read: the cache holds these only, not the other 12
# (lineage and raw fields, among them the longest strings: source_file, album_name).
PLAY_COLUMNS = (
    "play_id",
    "user_id",
    "played_at_utc",
    "started_at_utc",
    "played_at_local",
    "local_date",
    "local_hour",
    "weekday",
    "day_part",
    "ms_played",
    "skipped",
    "completion",
    "track_id",
    "resolution",
    "has_features",
    "artist_name",
    "track_name",
    "dedup_key",
    "shuffle",
    "platform",
)


class GoldInputs:
    """Silver as of the run's last day: every play up to it and the tracks snapshot.

    `plays` is cached once, already joined to its tracks' features (a left join on the
    snapshot's unique track ids, so every play once): the tables that need no feature read the
    same rows, and Spark builds one cache instead of two.
    """

    def __init__(self, context, lake: LakeResource, spark: SparkConnectResource, fingerprint):
        self.start, self.end = day_range(context)
        self.fingerprint = fingerprint
        self.session = session = spark.get_session(context)
        plays = lake.spark(session, PLAYS, f"play_date <= '{self.end}'").select(*PLAY_COLUMNS)
        self.tracks = lake.spark(
            session, TRACKS, snapshot_predicate(lake, TRACKS, self.end)
        ).cache()
        self.plays = gold.plays_with_features(plays, self.tracks).cache()
        # A query of its own over every play (1.4 s of a real history's new day): in flight
        # beside the tables' queries instead of before them.
        self._coverage = in_background(functools.partial(gold.feature_coverage, self.plays))
        # Two tables stand on each of these; Spark computes a cached frame when first used.
        self.sessions = session_tables.sessions(self.plays, self.end).cache()
        self.engagement = gold.track_engagement(self.plays, self.end).cache()

    @property
    def coverage(self) -> dict:
        return self._coverage.result()

    def release(self) -> None:
        futures.wait([self._coverage])  # no query of this step outlives it
        for frame in (self.sessions, self.engagement, self.plays, self.tracks):
            frame.unpersist()


@dataclass(frozen=True)
class SparkWrites:
    """Rows Spark writes to the lake itself (`LakeResource.replace_range_from_spark`). Their
    table's plot gets the rows of one listener, and it has no `extra` figures (they would need
    every row here)."""

    frame: DataFrame


def _sessions(i: GoldInputs) -> SparkWrites:
    # A row per session: it grows with plays, so its rows never pass through this process.
    return SparkWrites(i.sessions)


def _session_summary(i: GoldInputs) -> pa.Table:
    return session_tables.session_summary(i.sessions, i.end).toArrow()


def _top_artists(i: GoldInputs) -> pa.Table:
    return habits.top_artists(i.plays, i.end).toArrow()


def _top_tracks(i: GoldInputs) -> pa.Table:
    return habits.top_tracks(i.plays, i.end).toArrow()


def _context(i: GoldInputs) -> pa.Table:
    return habits.listening_context(i.plays, i.end).toArrow()


def _daypart(i: GoldInputs) -> pa.Table:
    return gold.listening_by_daypart(i.plays, i.end).toArrow()


def _mood_by_hour(i: GoldInputs) -> pa.Table:
    return gold.mood_by_hour(i.plays, i.end).toArrow()


def _genre_mix(i: GoldInputs) -> pa.Table:
    return gold.genre_mix(i.plays, i.end).toArrow()


def _engagement(i: GoldInputs) -> pa.Table:
    return i.engagement.toArrow()


def _correlations(i: GoldInputs) -> pa.Table:
    frame = gold.feature_correlations(i.engagement, i.tracks, i.end)
    return pa.Table.from_pandas(
        frame, schema=tables.FEATURE_CORRELATIONS.schema, preserve_index=False
    )


def _gaps(i: GoldInputs) -> pa.Table:
    return gold.feature_gaps(i.plays, i.tracks, i.end).toArrow()


def _discovery(i: GoldInputs) -> pa.Table:
    return gold.genre_discovery(i.plays, i.tracks, i.end).toArrow()


def _thresholds(i: GoldInputs) -> pa.Table:
    # One row per resolved play, a few numbers each, tested in SciPy a bucket of listeners at
    # a time: the step never holds every play of a crowd.
    columns = ["user_id", "track_id", "skipped", "completion", *AUDIO_FEATURES]
    resolved = i.plays.filter(F.col("track_id").isNotNull()).select(*columns)
    frame = thresholds.combined(
        thresholds.feature_thresholds(plays, i.end)
        for plays in buckets.by_listener(resolved, i.coverage["plays"])
    )
    return pa.Table.from_pandas(
        frame, schema=tables.FEATURE_THRESHOLDS.schema, preserve_index=False
    )


@dataclass(frozen=True)
class GoldTable:
    table: Table
    build: Callable[[GoldInputs], pa.Table | SparkWrites]
    plot: Callable[[pd.DataFrame], object]
    extra: Callable[[pd.DataFrame], dict] = lambda df: {}


GOLD_TABLES = {
    spec.table.key: spec
    for spec in (
        GoldTable(tables.LISTENING_BY_DAYPART, _daypart, insights.daypart_plot),
        GoldTable(tables.MOOD_BY_HOUR, _mood_by_hour, insights.hour_plot),
        GoldTable(tables.GENRE_MIX, _genre_mix, insights.genre_plot),
        GoldTable(tables.TRACK_ENGAGEMENT, _engagement, insights.engagement_plot),
        GoldTable(
            tables.FEATURE_CORRELATIONS,
            _correlations,
            insights.correlation_plot,
            lambda df: {"significant_at_5pct": int((df["p_value"] < 0.05).sum())},
        ),
        GoldTable(tables.FEATURE_GAPS, _gaps, insights.gap_plot),
        GoldTable(
            tables.GENRE_DISCOVERY,
            _discovery,
            insights.discovery_plot,
            lambda df: {"unexplored_genre_rows": int((~df["explored"]).sum())},
        ),
        GoldTable(tables.SESSIONS, _sessions, insights.sessions_plot),
        GoldTable(tables.SESSION_SUMMARY, _session_summary, insights.session_summary_plot),
        GoldTable(tables.TOP_ARTISTS, _top_artists, insights.top_artists_plot),
        GoldTable(tables.TOP_TRACKS, _top_tracks, insights.top_tracks_plot),
        GoldTable(tables.LISTENING_CONTEXT, _context, insights.context_plot),
        GoldTable(
            tables.FEATURE_THRESHOLDS,
            _thresholds,
            trend_plots.thresholds_plot,
            lambda df: {"tested": int(df["p_value"].notna().sum())},
        ),
    )
}


def _said(
    lake: LakeResource,
    inputs: GoldInputs,
    spec: GoldTable,
    uri: str,
    *,
    rows: int,
    head: pd.DataFrame,
    schema: pa.Schema,
    coverage: dict,
) -> dict:
    """What every Gold table's page says: where it is, its rows and day, a preview, its
    columns, and how many plays have audio features (every mood figure rests on them)."""
    return {
        **lake.written(spec.table, uri),
        "rows": rows,
        "as_of_date": inputs.end.isoformat(),
        "preview": insights.preview(head),
        **spec.table.columns(schema),
        **coverage,
    }


def _publish(
    lake: LakeResource, inputs: GoldInputs, spec: GoldTable, table: pa.Table | SparkWrites
) -> dg.MaterializeResult:
    coverage = inputs.coverage  # before anything is written: its failure is the step's
    if isinstance(table, SparkWrites):
        return _publish_written(lake, inputs, spec, table.frame, coverage)
    uri = lake.replace_range(spec.table, table, inputs.start, inputs.end, inputs=inputs.fingerprint)
    df = table.to_pandas()
    metadata = _said(
        lake, inputs, spec, uri, rows=len(df), head=df, schema=table.schema, coverage=coverage
    )
    if len(df):
        metadata |= spec.extra(df) | {"plot": insights.figure_md(spec.plot(df), spec.table.name)}
    return dg.MaterializeResult(
        asset_key=spec.table.key,
        metadata=metadata,
        check_results=[validate(spec.table.model, df, asset=spec.table.key)],
    )


def _publish_written(
    lake: LakeResource, inputs: GoldInputs, spec: GoldTable, frame: DataFrame, coverage: dict
) -> dg.MaterializeResult:
    """Spark writes the table; the check and the counts read it back a batch at a time, and the
    plot reads the one listener it shows: the step never holds the table."""
    uri = lake.replace_range_from_spark(
        spec.table, frame, inputs.start, inputs.end, inputs=inputs.fingerprint
    )
    per_listener, rows = Counter(), 0

    def count(batch: pd.DataFrame) -> None:
        nonlocal rows
        rows += len(batch)
        per_listener.update(batch["user_id"].value_counts().to_dict())

    written = check_written(lake, inputs.session, spec.table, inputs.start, inputs.end, count)
    schema = lake.arrow_schema(spec.table)
    metadata = _said(
        lake, inputs, spec, uri, rows=rows, head=written.head, schema=schema, coverage=coverage
    )
    if per_listener:
        shown = insights.most_rows(per_listener)  # the listener insights.main_user would show
        day = f"{spec.table.partition} = '{inputs.end.isoformat()}'"
        mine = lake.spark(inputs.session, spec.table, day).filter(F.col("user_id") == shown)
        metadata["plot"] = insights.figure_md(spec.plot(mine.toPandas()), spec.table.name)
    return dg.MaterializeResult(
        asset_key=spec.table.key, metadata=metadata, check_results=[written.check]
    )


@dg.multi_asset(
    name="gold_tables",
    specs=[
        dg.AssetSpec(
            spec.table.key,
            group_name=spec.table.group,
            description=spec.table.description,
            metadata=spec.table.metadata,
            tags={"pii": spec.table.pii},
            deps=[PLAYS.key, TRACKS.key, USERS.key],
            kinds={"spark", "deltalake"},
            partitions_def=daily_partitions,
            skippable=True,
        )
        for spec in GOLD_TABLES.values()
    ],
    check_specs=[schema_check_spec(spec.table, blocking=False) for spec in GOLD_TABLES.values()],
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    can_subset=True,
    pool="spark",
)
@metadata_on_last_day
def gold_tables(context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkConnectResource):
    """The Gold tables selected for this run, as of the run's last day."""
    start, end = day_range(context)
    selected = [GOLD_TABLES[key] for key in context.selected_asset_keys]
    fingerprint = inputs_fingerprint(selected[0].table, lake, None, start, end)
    unchanged = [
        skip_if_unchanged(context, lake, [spec.table], fingerprint, asset=spec.table)
        for spec in selected
    ]
    if all(unchanged):
        yield from unchanged
        return
    inputs = GoldInputs(context, lake, spark, fingerprint)
    built = in_flight((spec, functools.partial(spec.build, inputs)) for spec in selected)
    try:
        # Closed before the release: the queries still in flight finish or are cancelled first.
        with closing(built):
            for spec, table in built:
                yield _publish(lake, inputs, spec, table)
    finally:
        inputs.release()

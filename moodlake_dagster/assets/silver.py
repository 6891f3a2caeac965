"""Silver: clean, typed, conformed tables built with Spark from Bronze."""

import dagster as dg
import pyarrow as pa

from moodlake_dagster.assets.common import check_written, metadata_on_last_day, table_asset
from moodlake_dagster.assets.unchanged import skip_if_unchanged
from moodlake_dagster.checks import validate
from moodlake_dagster.ingest.privacy import pseudonymize
from moodlake_dagster.inputs import fingerprint
from moodlake_dagster.insights import preview
from moodlake_dagster.partitions import day_range
from moodlake_dagster.resources import LakeResource, MoodlakeConfig, SparkConnectResource
from moodlake_dagster.storage import empty_frame, range_predicate
from moodlake_dagster.tables import (
    CATALOG_TRACKS,
    LISTENING_EVENTS,
    PLAYS,
    SPOTIFY_TRACKS,
    TRACKS,
    USERS,
    Table,
)
from moodlake_dagster.transform.silver import (
    PLAYS_PREVIEW,
    PlaysFigures,
    build_plays,
    build_tracks,
    build_users,
    kept_out_counts,
)
from moodlake_dagster.transform.timezones import single_zone_countries
from moodlake_dagster.vocabulary import ESTIMATE

SPARK = {"kinds": {"spark", "deltalake"}, "blocking": True, "spark": True}
TIMEZONES = pa.schema([("user_id", pa.string()), ("timezone", pa.string())])
COUNTRY_ZONES = pa.schema([("country", pa.string()), ("timezone", pa.string())])


def snapshot_predicate(lake: LakeResource, table: Table, as_of) -> str:
    """Partition predicate selecting the snapshot a reader as of `as_of` should use."""
    day = lake.snapshot_day(table, as_of)
    if day is None:
        raise LookupError(f"{table} has no snapshot yet: materialize it first")
    return f"as_of_date = '{day.isoformat()}'"


@dg.asset(**table_asset(TRACKS, deps=[CATALOG_TRACKS, SPOTIFY_TRACKS], **SPARK))
@metadata_on_last_day
def tracks(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    spark: SparkConnectResource,
    moodlake: MoodlakeConfig,
) -> dg.MaterializeResult:
    start, end = day_range(context)
    estimates = moodlake.settings().feature_estimates
    inputs = fingerprint(TRACKS, lake, moodlake.settings(), start, end)
    if skipped := skip_if_unchanged(context, lake, [TRACKS], inputs):
        return skipped
    session = spark.get_session(context)
    catalog = lake.spark(session, CATALOG_TRACKS, snapshot_predicate(lake, CATALOG_TRACKS, end))
    # Track metadata does not change with time: every lookup so far counts, as the catalog.
    api_tracks = lake.spark(session, SPOTIFY_TRACKS) if lake.exists(SPOTIFY_TRACKS) else None
    table = build_tracks(catalog, end, api_tracks, artist_estimates=estimates).toArrow()
    uri = lake.replace_range(TRACKS, table, start, end, inputs=inputs)
    df = table.to_pandas()
    multi_genre = int((df["genres"].map(len) > 1).sum())
    return dg.MaterializeResult(
        metadata={
            **lake.written(TRACKS, uri),
            **TRACKS.columns(table.schema),
            "rows": len(df),
            "tracks_in_several_genres": multi_genre,
            "songs_with_several_ids": int((df["song_track_ids"] > 1).sum()),
            "tracks_with_api_features": int((df["features_source"] == "api").sum()),
            "artist_estimates": int((df["features_source"] == ESTIMATE).sum()),
            "preview": preview(
                df[df["features_source"] != ESTIMATE][
                    ["track_id", "artists", "track_name", "genres", "valence", "energy", "song_key"]
                ]
            ),
        },
        check_results=[validate(TRACKS.model, df)],
    )


def user_timezones(session, moodlake: MoodlakeConfig):
    """Configured time zones keyed by pseudonym (account names are never stored)."""
    settings = moodlake.settings()
    key = settings.resolved_pseudonym_key()
    rows = [
        {"user_id": pseudonymize(account, key), "timezone": tz}
        for account, tz in settings.user_timezones.items()
    ]
    if not rows:
        return empty_frame(session, TIMEZONES)
    return session.createDataFrame(pa.Table.from_pylist(rows, schema=TIMEZONES))


def country_timezones(session):
    rows = [{"country": c, "timezone": z} for c, z in sorted(single_zone_countries().items())]
    return session.createDataFrame(pa.Table.from_pylist(rows, schema=COUNTRY_ZONES))


@dg.asset(**table_asset(PLAYS, deps=[LISTENING_EVENTS, TRACKS], **SPARK))
@metadata_on_last_day
def plays(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    spark: SparkConnectResource,
    moodlake: MoodlakeConfig,
) -> dg.MaterializeResult:
    start, end = day_range(context)
    settings = moodlake.settings()
    inputs = fingerprint(PLAYS, lake, settings, start, end)
    if skipped := skip_if_unchanged(context, lake, [PLAYS], inputs):
        return skipped
    session = spark.get_session(context)
    events = lake.spark(session, LISTENING_EVENTS, range_predicate("play_date", start, end))
    catalog = lake.spark(session, TRACKS, snapshot_predicate(lake, TRACKS, end))
    result = build_plays(
        events,
        catalog,
        user_timezones(session, moodlake),
        default_timezone=settings.timezone,
        skip_threshold_ms=settings.skip_threshold_ms,
        dedup_window_s=settings.dedup_window_s,
        include_incognito=settings.include_incognito,
        music_videos=settings.music_videos_as_plays,
        country_timezones=country_timezones(session),
    )
    kept_out = kept_out_counts(
        events,
        include_incognito=settings.include_incognito,
        music_videos=settings.music_videos_as_plays,
    )
    uri = lake.replace_range_from_spark(PLAYS, result, start, end, inputs=inputs)
    figures = PlaysFigures()
    written = check_written(lake, session, PLAYS, start, end, each=figures.add)
    events_in = lake.count_rows(LISTENING_EVENTS, start, end)
    return dg.MaterializeResult(
        metadata={
            **lake.written(PLAYS, uri),
            **PLAYS.columns(lake.arrow_schema(PLAYS)),
            **figures.summary(events_in, kept_out),
            "preview": preview(written.head[PLAYS_PREVIEW]),
        },
        check_results=[written.check],
    )


@dg.asset(**table_asset(USERS, deps=[PLAYS], **SPARK))
@metadata_on_last_day
def users(
    context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkConnectResource
) -> dg.MaterializeResult:
    start, end = day_range(context)
    inputs = fingerprint(USERS, lake, None, start, end)
    if skipped := skip_if_unchanged(context, lake, [USERS], inputs):
        return skipped
    session = spark.get_session(context)
    history = lake.spark(session, PLAYS, f"play_date <= '{end.isoformat()}'")
    table = build_users(history, end).toArrow()
    uri = lake.replace_range(USERS, table, start, end, inputs=inputs)
    df = table.to_pandas()
    return dg.MaterializeResult(
        metadata={
            **lake.written(USERS, uri),
            **USERS.columns(table.schema),
            "rows": len(df),
            "preview": preview(df),
        },
        check_results=[validate(USERS.model, df)],
    )

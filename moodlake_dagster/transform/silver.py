"""Silver transformations in Spark: conformed tracks, one row per real play, users.

Plain functions from DataFrames to DataFrames: the assets wire them to the lake, tests call them
on the shared Spark Connect server.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from moodlake_dagster.vocabulary import AUDIO_FEATURES, DAY_PART_HOURS, ESTIMATE, ESTIMATE_PREFIX

if TYPE_CHECKING:
    import pandas as pd

# A track's descriptive columns: from the catalog's first row, or from a Web API lookup.
TRACK_COLUMNS = (
    "artists",
    "album_name",
    "track_name",
    "duration_ms",
    "explicit",
    "key",
    "mode",
    "time_signature",
    *AUDIO_FEATURES,
)
# Which copy of a duplicated play survives: the richest source first.
SOURCE_RANK = {"extended": 0, "endsong": 1, "api": 2, "basic": 3}
SKIP_REASONS = ("fwdbtn", "backbtn", "clickrow")
COMPLETE_REASONS = ("trackdone",)
# Two copies of one play report the same ms played, give or take rounding between sources.
SAME_PLAY_MS_TOLERANCE = 2_000
# Whole-number features an estimate rounds (a mean key of 5.4 is no key).
ROUNDED = ("key", "mode", "time_signature", "duration_ms")


def normalized(column: Column | str) -> Column:
    """Case-, punctuation- and spacing-insensitive text key ("AC/DC" == "ac dc")."""
    col = F.col(column) if isinstance(column, str) else column
    text = F.regexp_replace(F.lower(col), "&", " and ")
    text = F.regexp_replace(text, r"[^\p{L}\p{N}]+", " ")
    return F.trim(F.regexp_replace(text, r"\s+", " "))


def build_tracks(
    catalog: DataFrame,
    as_of: dt.date,
    api_tracks: DataFrame | None = None,
    *,
    artist_estimates: bool = False,
) -> DataFrame:
    """One row per track_id; its genres as a sorted list; songs linked across ids by song_key.

    The Kaggle file repeats a track once per genre; scalar columns come from its first row.
    Played tracks the catalog lacks join from Web API lookups when those carry features, and
    with `artist_estimates` each catalog artist gets one estimate row (`features_source` says
    which).
    """
    first = [F.min_by(c, "_source_row").alias(c) for c in TRACK_COLUMNS]
    if "_catalog_layout" in catalog.columns:  # lakes from before several catalogs lack it
        first.append(F.min_by("_catalog_layout", "_source_row").alias("catalog_layout"))
    tracks = catalog.groupBy("track_id").agg(
        *first,
        F.max("popularity").alias("popularity"),
        F.array_sort(F.collect_set("track_genre")).alias("genres"),
    )
    artists = F.transform(F.split("artists", ";"), lambda a: F.trim(a))
    tracks = (
        tracks.withColumn("artist_list", artists)
        .withColumn("primary_artist", F.col("artist_list")[0])
        .withColumn(
            "song_key", F.concat_ws("|", normalized("primary_artist"), normalized("track_name"))
        )
    )
    tracks = tracks.withColumn("features_source", F.lit("catalog"))
    if api_tracks is not None:
        tracks = tracks.unionByName(_api_tracks(api_tracks, tracks), allowMissingColumns=True)
    if artist_estimates:
        tracks = tracks.unionByName(_artist_estimates(tracks), allowMissingColumns=True)
    per_song = Window.partitionBy("song_key")
    return tracks.withColumn("song_track_ids", F.count("*").over(per_song)).withColumn(
        "as_of_date", F.lit(as_of)
    )


def _api_tracks(api_tracks: DataFrame, catalog: DataFrame) -> DataFrame:
    """Web API lookups with audio features, for ids the catalog lacks; genres unknown."""
    with_features = api_tracks.filter(
        (F.col("lookup_status") == "found") & (F.col("features_source") == "api")
    ).join(catalog.select("track_id"), "track_id", "left_anti")
    artists = F.split("artists", ";")
    return with_features.select(
        "track_id",
        *TRACK_COLUMNS,
        F.lit(0).cast("long").alias("popularity"),
        F.array().cast("array<string>").alias("genres"),
        artists.alias("artist_list"),
        artists[0].alias("primary_artist"),
        F.concat_ws("|", normalized(artists[0]), normalized("track_name")).alias("song_key"),
        F.lit("api").alias("features_source"),
    )


def _artist_estimates(tracks: DataFrame) -> DataFrame:
    """One row per catalog artist: the mean features of their catalog songs (ml/estimate.py
    scores this estimate against measured features). It has no title, genre or album, so no
    name lookup, mood label, genre statistic or recommendation can take it for a real song."""
    songs = (
        tracks.filter(F.col("features_source") == "catalog")
        .withColumn("artist_norm", normalized("primary_artist"))
        .filter(F.length("artist_norm") > 0)
        .groupBy("song_key")
        .agg(
            F.min_by(
                F.struct("artist_norm", "primary_artist", *AUDIO_FEATURES, *ROUNDED), "track_id"
            ).alias("song")
        )
        .select("song.*")
    )
    means = [
        (F.round(F.avg(c)).cast("long") if c in ROUNDED else F.avg(c)).alias(c)
        for c in (*AUDIO_FEATURES, *ROUNDED)
    ]
    per_artist = songs.groupBy("artist_norm").agg(
        F.min("primary_artist").alias("primary_artist"),
        F.count("*").alias("estimated_from"),
        *means,
    )
    track_id = F.concat(F.lit(ESTIMATE_PREFIX), F.substring(F.sha2("artist_norm", 256), 1, 19))
    return per_artist.select(
        track_id.alias("track_id"),
        F.col("primary_artist").alias("artists"),
        *(F.col(c).cast(t) for c, t in tracks.select(*AUDIO_FEATURES, *ROUNDED).dtypes),
        F.lit(0).cast("long").alias("popularity"),
        F.array().cast("array<string>").alias("genres"),
        F.array("primary_artist").alias("artist_list"),
        "primary_artist",
        track_id.alias("song_key"),
        F.lit(ESTIMATE).alias("features_source"),
        F.col("estimated_from").cast("long"),
    )


def measured(tracks: DataFrame) -> DataFrame:
    """Real tracks only: what catalog-side statistics and candidate pools may count."""
    return tracks.filter(F.col("features_source") != ESTIMATE)


def name_index(tracks: DataFrame) -> DataFrame:
    """(artist_norm, title_norm) → the most popular catalog track_id, over every credited artist."""
    exploded = (
        measured(tracks)
        .select("track_id", "popularity", "track_name", F.explode("artist_list").alias("artist"))
        .select(
            "track_id",
            "popularity",
            normalized("artist").alias("artist_norm"),
            normalized("track_name").alias("title_norm"),
        )
    )
    best = Window.partitionBy("artist_norm", "title_norm").orderBy(F.desc("popularity"), "track_id")
    return (
        exploded.withColumn("rank", F.row_number().over(best))
        .filter("rank = 1")
        .select("artist_norm", "title_norm", F.col("track_id").alias("name_track_id"))
    )


def _dedup(plays: DataFrame, window_s: int) -> DataFrame:
    """Collapse copies of one play (re-imports, overlapping exports, API vs export).

    Copies share user and normalized (artist, title). Within one source format a copy is
    identical (same end time and ms played: a re-import or an export's own repeat); across
    formats (export vs. API, basic vs. extended) it ends within `window_s` seconds and reports
    the same ms played, give or take rounding. Comparing formats rather than files keeps two
    real plays apart when both are re-imported. The richest source's copy survives;
    `duplicates_merged` counts the rest.
    """
    order = Window.partitionBy("user_id", "dedup_key").orderBy(
        "ts", "source_rank", "_source_file", "_record_index"
    )
    prev_ts, prev_ms = F.lag("ts").over(order), F.lag("ms_played").over(order)
    prev_format = F.lag("source_format").over(order)
    gap_s = F.unix_micros("ts").cast("double") / 1e6 - F.unix_micros(prev_ts).cast("double") / 1e6
    identical = (gap_s == 0) & F.col("ms_played").eqNullSafe(prev_ms)
    # The Web API reports no ms played: its copies match on track and time alone.
    ms_agree = (
        F.col("ms_played").isNull()
        | prev_ms.isNull()
        | (F.abs(F.col("ms_played") - prev_ms) <= SAME_PLAY_MS_TOLERANCE)
    )
    same_play = (
        prev_ts.isNotNull()
        & (gap_s <= window_s)
        & ms_agree
        & ((F.col("source_format") != prev_format) | identical)
    )
    cumulative = order.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    clustered = plays.withColumn("_new", F.when(same_play, 0).otherwise(1)).withColumn(
        "_cluster", F.sum("_new").over(cumulative)
    )
    copies = Window.partitionBy("user_id", "dedup_key", "_cluster")
    best = copies.orderBy("source_rank", "ts", "_source_file", "_record_index")
    return (
        clustered.withColumn("_rank", F.row_number().over(best))
        .withColumn("duplicates_merged", F.count("*").over(copies) - 1)
        .filter("_rank = 1")
        .drop("_new", "_cluster", "_rank")
    )


def _day_part(hour: Column) -> Column:
    expr = F.lit(DAY_PART_HOURS[0][0])
    for name, start in DAY_PART_HOURS[1:]:
        expr = F.when(hour >= start, name).otherwise(expr)
    return expr


def kept_out_reason(*, include_incognito: bool, music_videos: bool) -> Column:
    """Why a Bronze event is not a music play (null for a play): the one rule Silver applies.

    A record with 0 ms played never sounded — Spotify logs one for each track skipped past
    before it started — so it is no play and no skip signal either.
    """
    kind = F.col("content_type")
    music_video = (kind == "video") & F.col("track_uri").isNotNull() & F.lit(music_videos)
    private = F.coalesce(F.col("incognito_mode"), F.lit(False)) & F.lit(not include_incognito)
    return (
        F.when(kind == "episode", "podcast")
        .when(kind == "audiobook", "audiobook")
        .when((kind == "video") & ~music_video, "video")
        .when(~kind.isin("track", "video"), "unknown content")
        .when(private, "private session")
        .when(F.col("ms_played") == 0, "not played (0 ms)")
    )


def kept_out_counts(events: DataFrame, *, include_incognito: bool, music_videos: bool) -> dict:
    """How many Bronze events stayed out of plays, per reason (sorted by reason)."""
    reason = kept_out_reason(include_incognito=include_incognito, music_videos=music_videos)
    reasons = events.select(reason.alias("reason")).dropna().groupBy("reason").count()
    kept_out = {row["reason"]: row["count"] for row in reasons.collect()}
    return dict(sorted(kept_out.items()))


# What a plays preview shows: when, who, what, and how it was resolved.
PLAYS_PREVIEW = [
    "played_at_local",
    "user_id",
    "artist_name",
    "track_name",
    "ms_played",
    "skipped",
    "resolution",
    "day_part",
]


class PlaysFigures:
    """A plays run in figures, added up batch by batch from the written rows (pandas)."""

    def __init__(self) -> None:
        self.rows = self.merged = self.with_features = self.skipped = self.estimated = 0
        self.zones, self.resolutions, self.skip_sources = Counter(), Counter(), Counter()

    def add(self, batch: pd.DataFrame) -> None:
        self.rows += len(batch)
        self.merged += int(batch["duplicates_merged"].sum())
        self.with_features += int(batch["has_features"].sum())
        self.skipped += int(batch["skipped"].sum())
        self.estimated += int((batch["resolution"] == ESTIMATE).sum())
        self.zones.update(batch["timezone_source"].value_counts().to_dict())
        self.resolutions.update(batch["resolution"].value_counts().to_dict())
        self.skip_sources.update(batch["skip_source"].value_counts().to_dict())

    def summary(self, events_in: int, kept_out: dict) -> dict:
        """With the Bronze events read: events in = plays + duplicates merged into them +
        events that are no music play."""
        rows = self.rows
        return {
            "rows": rows,
            "bronze_events_in": events_in,
            "duplicates_removed": self.merged,
            "not_music_or_private": events_in - rows - self.merged,
            "kept_out_of_plays": kept_out,
            "timezone_source": dict(self.zones.most_common()),
            "feature_coverage": round(self.with_features / rows, 4) if rows else 0.0,
            "plays_with_estimated_features": self.estimated,
            "resolution": dict(self.resolutions.most_common()),
            "skip_rate": round(self.skipped / rows, 4) if rows else 0.0,
            "skip_source": dict(self.skip_sources.most_common()),
        }


def plays_summary(plays: Iterable[pd.DataFrame], events_in: int, kept_out: dict) -> dict:
    """`PlaysFigures` of the written rows, given batch by batch."""
    figures = PlaysFigures()
    for batch in plays:
        figures.add(batch)
    return figures.summary(events_in, kept_out)


def build_plays(
    events: DataFrame,
    tracks: DataFrame,
    user_timezones: DataFrame,
    *,
    default_timezone: str,
    skip_threshold_ms: int,
    dedup_window_s: int,
    include_incognito: bool,
    music_videos: bool = False,
    country_timezones: DataFrame | None = None,
) -> DataFrame:
    """Bronze listening events → one row per real music play, resolved to the catalog.

    Skipped: the export's flag where present, else its reason_end, else ms_played below
    `skip_threshold_ms` (Web API plays, over 30 s by Spotify's rule, count as not skipped).
    Time of day, weekday and local day are those of the play's *start* in the listener's
    time zone: the configured one, else that of the play's country where it has a single
    zone (`country_timezones`), else `default_timezone`; `timezone_source` says which.
    """
    rank = F.create_map(*[x for k, v in SOURCE_RANK.items() for x in (F.lit(k), F.lit(v))])
    reason = kept_out_reason(include_incognito=include_incognito, music_videos=music_videos)
    music = events.filter(reason.isNull())
    music = (
        music.withColumn("source_rank", F.coalesce(rank[F.col("source_format")], F.lit(9)))
        .withColumn("artist_norm", normalized("artist_name"))
        .withColumn("title_norm", normalized("track_name"))
        .withColumn("dedup_key", F.concat_ws("|", "artist_norm", "title_norm"))
        .withColumn(
            "spotify_track_id",
            F.when(
                F.col("track_uri").startswith("spotify:track:"),
                F.substring_index("track_uri", ":", -1),
            ),
        )
    )
    plays = _dedup(music, dedup_window_s)

    by_id = tracks.select(F.col("track_id").alias("id_track_id"))
    catalog = tracks.select(
        F.col("track_id").alias("resolved_id"), F.col("duration_ms").alias("track_duration_ms")
    )
    # A song the catalog lacks by an artist it knows: the artist's estimate, if built.
    by_artist = tracks.filter(F.col("features_source") == ESTIMATE).select(
        normalized("primary_artist").alias("artist_norm"),
        F.col("track_id").alias("estimate_track_id"),
    )
    plays = (
        plays.join(by_id, plays.spotify_track_id == by_id.id_track_id, "left")
        .join(name_index(tracks), ["artist_norm", "title_norm"], "left")
        .join(by_artist, "artist_norm", "left")
        .withColumn("track_id", F.coalesce("id_track_id", "name_track_id", "estimate_track_id"))
        .withColumn(
            "resolution",
            F.when(F.col("id_track_id").isNotNull(), "id")
            .when(F.col("name_track_id").isNotNull(), "name")
            .when(F.col("estimate_track_id").isNotNull(), ESTIMATE)
            .otherwise("unresolved"),
        )
        .join(catalog, F.col("track_id") == F.col("resolved_id"), "left")
    )

    reason_skip = F.when(F.col("reason_end").isin(*SKIP_REASONS), True).when(
        F.col("reason_end").isin(*COMPLETE_REASONS), False
    )
    threshold_skip = F.col("ms_played") < skip_threshold_ms
    # The Web API lists only plays longer than 30 s: not skips by the threshold rule.
    api_play = F.col("source_format") == "api"
    plays = plays.withColumn(
        "skip_source",
        F.when(F.col("skipped").isNotNull(), "flag")
        .when(reason_skip.isNotNull(), "reason_end")
        .when(api_play, "api")
        .otherwise("threshold"),
    ).withColumn(
        "skipped",
        F.coalesce(F.col("skipped"), reason_skip, F.when(api_play, False), threshold_skip),
    )

    plays = _with_timezone(plays, user_timezones, country_timezones, default_timezone)
    # Web API plays carry no ms played: their time stamp stands for the start.
    started = F.timestamp_micros(
        F.unix_micros("ts") - F.coalesce(F.col("ms_played"), F.lit(0)) * 1000
    )
    local = F.from_utc_timestamp("started_at_utc", F.col("timezone")).cast("timestamp_ntz")
    plays = (
        plays.withColumn("started_at_utc", started)
        .withColumn("played_at_local", local)
        .withColumn("local_date", F.to_date("played_at_local"))
        .withColumn("local_hour", F.hour("played_at_local"))
        .withColumn("weekday", (F.dayofweek("played_at_local") + 5) % 7 + 1)
        .withColumn("day_part", _day_part(F.col("local_hour")))
        .withColumn(
            "completion",
            # An estimate's duration is its artist's mean: no measure of this play's.
            F.when(
                (F.col("track_duration_ms") > 0) & (F.col("resolution") != ESTIMATE),
                F.least(F.col("ms_played") / F.col("track_duration_ms"), F.lit(1.0)),
            ),
        )
        .withColumn(
            "play_id",
            # The surviving record's identity: two real plays can share user, minute and song.
            F.sha2(
                F.concat_ws(
                    "|",
                    "user_id",
                    F.col("ts").cast("string"),
                    "dedup_key",
                    "ms_played",
                    "_source_file",
                    "_record_index",
                ),
                256,
            ).substr(1, 24),
        )
    )
    return plays.select(
        "play_date",
        "play_id",
        "user_id",
        F.col("ts").alias("played_at_utc"),
        "started_at_utc",
        "played_at_local",
        "local_date",
        "local_hour",
        "weekday",
        "day_part",
        "timezone",
        "timezone_source",
        "conn_country",
        "ms_played",
        "skipped",
        "skip_source",
        "completion",
        "track_id",
        "spotify_track_id",
        "resolution",
        F.col("track_id").isNotNull().alias("has_features"),
        "artist_name",
        "track_name",
        "album_name",
        "dedup_key",
        "shuffle",
        "reason_start",
        "reason_end",
        "platform",
        "source_format",
        "duplicates_merged",
        F.col("_source_file").alias("source_file"),
    )


def _with_timezone(
    plays: DataFrame,
    user_timezones: DataFrame,
    country_timezones: DataFrame | None,
    default_timezone: str,
) -> DataFrame:
    """Each play's zone: configured for its listener, else its country's only zone, else the
    default. Per play, so a trip abroad stays right."""
    zones = F.broadcast(user_timezones.select("user_id", F.col("timezone").alias("_tz")))
    plays = plays.join(zones, "user_id", "left")
    country_tz = F.lit(None).cast("string")
    if country_timezones is not None:
        countries = country_timezones.select(
            F.col("country").alias("conn_country"), F.col("timezone").alias("_country_tz")
        )
        plays = plays.join(F.broadcast(countries), "conn_country", "left")
        country_tz = F.col("_country_tz")
    return plays.withColumn(
        "timezone", F.coalesce("_tz", country_tz, F.lit(default_timezone))
    ).withColumn(
        "timezone_source",
        F.when(F.col("_tz").isNotNull(), "configured")
        .when(country_tz.isNotNull(), "country")
        .otherwise("default"),
    )


def _distinct(column: str | Column) -> Column:
    """`countDistinct(column)` (nulls left out, a long) as the size of the group's set."""
    return F.size(F.collect_set(column)).cast("long")


def build_users(plays: DataFrame, as_of: dt.date) -> DataFrame:
    """Pseudonymous users with their time zone and first/last play up to `as_of`.

    Distinct counts are the sizes of the listener's sets: three `countDistinct`s in one
    aggregation make Spark copy every play once per distinct column and aggregate twice (a
    million plays: 13.5 s, against 2.5 s for the sets, the same numbers)."""
    return (
        plays.groupBy("user_id")
        .agg(
            F.min_by("timezone", "played_at_utc").alias("timezone"),
            F.mode("timezone_source").alias("timezone_source"),
            F.array_sort(F.collect_set("conn_country")).alias("countries"),
            F.min("played_at_utc").alias("first_play_utc"),
            F.max("played_at_utc").alias("last_play_utc"),
            F.count("*").alias("plays"),
            _distinct("local_date").alias("active_days"),
            F.array_sort(F.collect_set("source_format")).alias("sources"),
            F.avg(F.col("has_features").cast("double")).alias("feature_coverage"),
            F.sum(F.col("has_features").cast("long")).alias("plays_with_features"),
            F.sum((F.col("resolution") == ESTIMATE).cast("long")).alias(
                "plays_with_estimated_features"
            ),
            _distinct("dedup_key").alias("tracks_played"),
            _distinct(F.when(F.col("has_features"), F.col("dedup_key"))).alias(
                "tracks_with_features"
            ),
        )
        .withColumn("as_of_date", F.lit(as_of))
    )

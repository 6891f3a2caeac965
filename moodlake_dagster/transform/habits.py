"""What and how I listen, in Spark: top artists and tracks over the last week, month and all
time, and plays and skips by platform and by shuffle."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

# The windows a top list covers, in local days up to and including the as-of day (None: all).
PERIODS = {"week": 7, "month": 30, "all_time": None}
TOP = 20


def _periods(plays: DataFrame, as_of: dt.date) -> DataFrame:
    """Each play once per window it falls in, tagged with the window's name."""
    tagged = []
    for period, days in PERIODS.items():
        within = plays
        if days is not None:
            since = as_of - dt.timedelta(days=days - 1)
            within = plays.filter(F.col("local_date") >= F.lit(since))
        tagged.append(within.withColumn("period", F.lit(period)))
    out = tagged[0]
    for frame in tagged[1:]:
        out = out.unionByName(frame)
    return out


def _ranked(grouped: DataFrame, as_of: dt.date) -> DataFrame:
    order = Window.partitionBy("user_id", "period").orderBy(F.desc("minutes"), F.desc("plays"))
    return (
        grouped.withColumn("rank", F.row_number().over(order))
        .filter(F.col("rank") <= TOP)
        .withColumn("as_of_date", F.lit(as_of))
    )


def top_artists(plays: DataFrame, as_of: dt.date) -> DataFrame:
    """The listener's top artists by minutes in each window (ties broken by plays)."""
    grouped = (
        _periods(plays.filter(F.col("artist_name").isNotNull()), as_of)
        .groupBy("user_id", "period", "artist_name")
        .agg(F.count("*").alias("plays"), (F.sum("ms_played") / 60_000).alias("minutes"))
    )
    return _ranked(grouped, as_of)


def top_tracks(plays: DataFrame, as_of: dt.date) -> DataFrame:
    """The listener's top tracks by minutes in each window; unresolved plays count by their
    normalized artist and title, as in track_engagement."""
    keyed = plays.withColumn(
        "track_key", F.coalesce("track_id", F.concat(F.lit("name:"), "dedup_key"))
    )
    grouped = (
        _periods(keyed, as_of)
        .groupBy("user_id", "period", "track_key")
        .agg(
            F.first("track_id", ignorenulls=True).alias("track_id"),
            F.min_by("track_name", "played_at_utc").alias("track_name"),
            F.min_by("artist_name", "played_at_utc").alias("artist_name"),
            F.count("*").alias("plays"),
            (F.sum("ms_played") / 60_000).alias("minutes"),
        )
    )
    return _ranked(grouped, as_of)


def listening_context(plays: DataFrame, as_of: dt.date) -> DataFrame:
    """Plays, share and skip rate per listener by platform and by shuffle on or off."""
    contexts = plays.select(
        "user_id",
        "skipped",
        F.array(
            F.struct(
                F.lit("platform").alias("context"),
                F.coalesce("platform", F.lit("unknown")).alias("value"),
            ),
            F.struct(
                F.lit("shuffle").alias("context"),
                F.when(F.col("shuffle"), "on")
                .when(~F.col("shuffle"), "off")
                .otherwise("unknown")
                .alias("value"),
            ),
        ).alias("pairs"),
    ).select("user_id", "skipped", F.explode("pairs").alias("pair"))
    per = Window.partitionBy("user_id", "context")
    return (
        contexts.groupBy(
            "user_id", F.col("pair.context").alias("context"), F.col("pair.value").alias("value")
        )
        .agg(F.count("*").alias("plays"), F.avg(F.col("skipped").cast("double")).alias("skip_rate"))
        .withColumn("share", F.col("plays") / F.sum("plays").over(per))
        .withColumn("as_of_date", F.lit(as_of))
    )

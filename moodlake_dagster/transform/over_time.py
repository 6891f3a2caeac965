"""Gold over time, in Spark: each listener's mood day by day, the series mirror mode follows.

A day here is the listener's local day. A UTC play day (the Dagster partition) holds plays of
the local day before, the same day and the day after, so a run over UTC days [start, end]
rebuilds the local days [start − 1, end + 1] whole, from every play they hold.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

# The local day of a play is within one day of its UTC day (offsets run −12 h to +14 h).
LOCAL_DAY_REACH = dt.timedelta(days=1)
DAILY_FEATURES = ("valence", "energy", "danceability")


def local_days(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """The local days a run over UTC play days [start, end] rebuilds."""
    return start - LOCAL_DAY_REACH, end + LOCAL_DAY_REACH


def play_days_to_read(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """The UTC play days holding every play of those local days."""
    first, last = local_days(start, end)
    return first - LOCAL_DAY_REACH, last + LOCAL_DAY_REACH


def mood_by_day(plays: DataFrame, tracks: DataFrame, first: dt.date, last: dt.date) -> DataFrame:
    """Per listener and local day in [first, last]: plays, minutes, skip rate, and the mean and
    spread of valence, energy and danceability over the plays with audio features, with the
    share of plays those features cover."""
    days = plays.filter(F.col("local_date").between(F.lit(first), F.lit(last)))
    enriched = days.join(tracks.select("track_id", *DAILY_FEATURES), "track_id", "left")
    measures = []
    for feature in DAILY_FEATURES:
        measures += [
            F.avg(feature).alias(f"{feature}_mean"),
            F.stddev_samp(feature).alias(f"{feature}_std"),
        ]
    return (
        enriched.groupBy("user_id", "local_date")
        .agg(
            F.count("*").alias("plays"),
            (F.sum("ms_played") / 60_000).alias("minutes"),
            F.avg(F.col("skipped").cast("double")).alias("skip_rate"),
            F.count("valence").alias("plays_with_features"),
            *measures,
        )
        .withColumn("feature_coverage", F.col("plays_with_features") / F.col("plays"))
        .orderBy("local_date", "user_id")
    )

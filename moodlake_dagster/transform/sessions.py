"""Listening sessions in Spark: a listener's plays with no gap over half an hour, as one sitting.

The same rule ALS uses when sessions stand in for listeners (`ml/als.py`), so a "session"
means one thing across the lake.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from moodlake_dagster.vocabulary import HIGH_ENERGY, SESSION_GAP_MINUTES


def sessions(enriched: DataFrame, as_of: dt.date) -> DataFrame:
    """One row per session: start (UTC and local), its local day part, length, plays, skip
    rate, mean valence and energy, the mood arc (valence of its last third of plays minus its
    first third; sessions under three plays have none), main platform and shuffle share."""
    by_user = Window.partitionBy("user_id").orderBy("played_at_utc", "play_id")
    gap = F.col("played_at_utc").cast("long") - F.lag("played_at_utc").over(by_user).cast("long")
    numbered = enriched.withColumn(
        "session_no",
        F.sum(F.when(gap.isNull() | (gap > SESSION_GAP_MINUTES * 60), 1).otherwise(0)).over(
            by_user.rowsBetween(Window.unboundedPreceding, Window.currentRow)
        ),
    )
    in_session = Window.partitionBy("user_id", "session_no")
    ordered = in_session.orderBy("played_at_utc", "play_id")
    third = F.ceil(F.col("session_plays") / 3)
    placed = (
        numbered.withColumn("session_plays", F.count("*").over(in_session))
        .withColumn("position", F.row_number().over(ordered))
        .withColumn(
            "valence_first",
            F.when((F.col("position") <= third) & (F.col("session_plays") >= 3), F.col("valence")),
        )
        .withColumn(
            "valence_last",
            F.when(
                (F.col("position") > F.col("session_plays") - third)
                & (F.col("session_plays") >= 3),
                F.col("valence"),
            ),
        )
    )
    return (
        placed.groupBy("user_id", "session_no")
        .agg(
            F.min("started_at_utc").alias("started_at_utc"),
            F.min_by("played_at_local", "played_at_utc").alias("started_at_local"),
            F.min_by("day_part", "played_at_utc").alias("day_part"),
            F.min_by("local_date", "played_at_utc").alias("local_date"),
            (
                (F.max("played_at_utc").cast("long") - F.min("started_at_utc").cast("long")) / 60
            ).alias("length_minutes"),
            F.count("*").alias("plays"),
            F.avg(F.col("skipped").cast("double")).alias("skip_rate"),
            F.count("valence").alias("plays_with_features"),
            F.avg("valence").alias("valence_mean"),
            F.avg("energy").alias("energy_mean"),
            (F.avg("valence_last") - F.avg("valence_first")).alias("valence_arc"),
            F.mode("platform").alias("platform"),
            F.avg(F.col("shuffle").cast("double")).alias("shuffle_share"),
        )
        .withColumn("high_energy", F.col("energy_mean") >= HIGH_ENERGY)
        .withColumn("as_of_date", F.lit(as_of))
    )


def session_summary(by_session: DataFrame, as_of: dt.date) -> DataFrame:
    """Per listener and day part: how many sessions, how long, and what share were
    high-energy or brightened as they went ("60 % of your evening sessions are high-energy")."""
    judged = F.col("energy_mean").isNotNull()
    arcs = F.col("valence_arc").isNotNull()
    return (
        by_session.groupBy("user_id", "day_part")
        .agg(
            F.count("*").alias("sessions"),
            F.median("length_minutes").alias("median_length_minutes"),
            F.avg("plays").alias("mean_plays"),
            F.sum(judged.cast("int")).alias("sessions_with_features"),
            # A day part with no session to judge has no share (null), not a division by zero.
            F.try_divide(
                F.sum((judged & F.col("high_energy")).cast("int")), F.sum(judged.cast("int"))
            ).alias("high_energy_share"),
            F.sum(arcs.cast("int")).alias("sessions_with_arc"),
            F.try_divide(
                F.sum((arcs & (F.col("valence_arc") > 0)).cast("int")), F.sum(arcs.cast("int"))
            ).alias("brightening_share"),
        )
        .withColumn("as_of_date", F.lit(as_of))
    )

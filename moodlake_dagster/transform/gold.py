"""Gold analytics in Spark, one function per question the product answers.

Each takes Silver DataFrames (plays up to the as-of day, the tracks snapshot) and returns a
small table. Statistics Spark lacks (p-values) are finished in SciPy on the aggregated rows.
"""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from scipy import stats

from moodlake_dagster.transform.silver import measured
from moodlake_dagster.vocabulary import AUDIO_FEATURES, ESTIMATE, MOOD_FEATURES, TASTE_FEATURES

CORRELATION_FEATURES = AUDIO_FEATURES
QUARTILE_COLUMNS = ("user_p25", "user_median", "user_p75")


def unpivot(columns, key: str) -> Column:
    """One (key, value) struct per column, exploded: a wide row becomes a row per column."""
    pairs = [F.struct(F.lit(c).alias(key), F.col(c).cast("double").alias("value")) for c in columns]
    return F.explode(F.array(*pairs))


def plays_with_features(plays: DataFrame, tracks: DataFrame) -> DataFrame:
    feature_cols = [F.col(c) for c in (*CORRELATION_FEATURES, "genres")]
    return plays.join(tracks.select("track_id", *feature_cols), "track_id", "left")


def _listening_summary(
    enriched: DataFrame, keys: list[str], features: tuple[str, ...], as_of: dt.date
) -> DataFrame:
    """Plays, minutes, skip rate and mean mood features per user and `keys`."""
    return (
        enriched.groupBy("user_id", *keys)
        .agg(
            F.count("*").alias("plays"),
            (F.sum("ms_played") / 60_000).alias("minutes"),
            F.avg(F.col("skipped").cast("double")).alias("skip_rate"),
            F.count("valence").alias("plays_with_features"),
            *[F.avg(c).alias(f"avg_{c}") for c in features],
        )
        .withColumn("as_of_date", F.lit(as_of))
    )


def listening_by_daypart(enriched: DataFrame, as_of: dt.date) -> DataFrame:
    """When do I listen and in what mood: plays, minutes, skips and mood per day part × weekday."""
    return _listening_summary(enriched, ["day_part", "weekday"], MOOD_FEATURES, as_of)


def mood_by_hour(enriched: DataFrame, as_of: dt.date) -> DataFrame:
    """When in the day is my music brighter or calmer: plays and mood per local hour (0–23)."""
    features = ("valence", "energy", "danceability")
    return _listening_summary(enriched, ["local_hour"], features, as_of)


# lcm(1, …, 20): a play's share of it is a whole number for a track of up to 20 genres, and
# whole numbers sum to the same total in any order, as floating-point fractions do not. (A
# track of more genres gives each a share rounded down: still the same in any order.)
PLAY_UNITS = 232_792_560


def genre_mix(enriched: DataFrame, as_of: dt.date) -> DataFrame:
    """What do I listen to: a resolved play counts once, split evenly over its track's genres.

    Genres are ranked by their exact share of plays: summed as fractions, tied genres came
    out 1e-16 apart in an order that changed with the files' layout, and swapped ranks."""
    resolved = enriched.filter(F.col("genres").isNotNull() & (F.size("genres") > 0))
    weighted = resolved.select(
        "user_id",
        "track_id",
        "ms_played",
        F.explode("genres").alias("genre"),
        (F.lit(1.0) / F.size("genres")).alias("weight"),
        F.expr(f"{PLAY_UNITS} div size(genres)").alias("units"),
    )
    per_user = Window.partitionBy("user_id")
    by_exact_plays = per_user.orderBy(F.desc("units"), "genre")
    return (
        weighted.groupBy("user_id", "genre")
        .agg(
            F.sum("weight").alias("plays"),
            (F.sum(F.col("weight") * F.col("ms_played")) / 60_000).alias("minutes"),
            F.countDistinct("track_id").alias("distinct_tracks"),
            F.sum("units").alias("units"),
        )
        .withColumn("share", F.col("plays") / F.sum("plays").over(per_user))
        .withColumn("rank", F.row_number().over(by_exact_plays))
        .withColumn("as_of_date", F.lit(as_of))
        .drop("units")
    )


def track_engagement(plays: DataFrame, as_of: dt.date) -> DataFrame:
    """How do I engage with each track: plays, skip rate, completion, minutes, first/last play.

    Unresolved plays are kept, keyed by their normalized (artist, title).
    """
    return (
        plays.withColumn("track_key", F.coalesce("track_id", F.concat(F.lit("name:"), "dedup_key")))
        .groupBy("user_id", "track_key")
        .agg(
            F.first("track_id", ignorenulls=True).alias("track_id"),
            F.min_by("artist_name", "played_at_utc").alias("artist_name"),
            F.min_by("track_name", "played_at_utc").alias("track_name"),
            F.count("*").alias("plays"),
            F.sum(F.col("skipped").cast("int")).alias("skips"),
            F.avg(F.col("skipped").cast("double")).alias("skip_rate"),
            F.avg("completion").alias("avg_completion"),
            (F.sum("ms_played") / 60_000).alias("minutes"),
            F.min("played_at_utc").alias("first_played_utc"),
            F.max("played_at_utc").alias("last_played_utc"),
        )
        .withColumn("as_of_date", F.lit(as_of))
    )


def _p_value(r: float | None, n: int) -> float | None:
    """Two-sided p-value of Pearson's r under H0: r = 0 (t-distribution, n − 2 dof)."""
    if r is None or n < 3 or math.isnan(r):
        return None
    if abs(r) >= 1.0:
        return 0.0
    t = r * math.sqrt((n - 2) / (1 - r * r))
    return float(2 * stats.t.sf(abs(t), n - 2))


def feature_correlations(engagement: DataFrame, tracks: DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Which features go with what I play: Pearson r, p-value and n per feature and metric.

    The unit is a played catalog track: its audio feature against how often it was played
    and how often it was skipped. r is None (with a note) where n < 3 or a side is constant.
    """
    joined = engagement.filter(F.col("track_id").isNotNull()).join(
        measured(tracks).select("track_id", *CORRELATION_FEATURES), "track_id"
    )
    aggs = [F.count("*").alias("n")]
    for feature in CORRELATION_FEATURES:
        aggs.append(F.corr(feature, F.col("plays").cast("double")).alias(f"{feature}__play_count"))
        aggs.append(F.corr(feature, "skip_rate").alias(f"{feature}__skip_rate"))
    wide = joined.groupBy("user_id").agg(*aggs).toPandas()
    rows = []
    for record in wide.to_dict("records"):
        n = int(record["n"])
        for feature in CORRELATION_FEATURES:
            for metric in ("play_count", "skip_rate"):
                r = record[f"{feature}__{metric}"]
                # n < 3 makes r trivially ±1; float error can push it past ±1.
                r = None if n < 3 or r is None or pd.isna(r) else min(1.0, max(-1.0, float(r)))
                rows.append(
                    {
                        "user_id": record["user_id"],
                        "feature": feature,
                        "metric": metric,
                        "pearson_r": r,
                        "p_value": _p_value(r, n),
                        "n": n,
                        "note": None if r is not None else "n < 3 or no variation",
                        "as_of_date": as_of,
                    }
                )
    return pd.DataFrame(
        rows,
        columns=[
            "user_id",
            "feature",
            "metric",
            "pearson_r",
            "p_value",
            "n",
            "note",
            "as_of_date",
        ],
    )


def feature_gaps(enriched: DataFrame, tracks: DataFrame, as_of: dt.date) -> DataFrame:
    """Where my listening differs from the catalog: per feature, my play-weighted distribution
    against the catalog's (means, quartiles, and the gap in catalog standard deviations)."""
    mine = enriched.filter(F.col("valence").isNotNull())
    catalog_stats = (
        measured(tracks)
        .select(unpivot(CORRELATION_FEATURES, "feature").alias("kv"))
        .select("kv.feature", "kv.value")
        .groupBy("feature")
        .agg(
            F.avg("value").alias("catalog_mean"),
            F.stddev("value").alias("catalog_std"),
            F.percentile_approx("value", 0.5).alias("catalog_median"),
        )
    )
    user_long = mine.select(
        "user_id",
        unpivot(CORRELATION_FEATURES, "feature").alias("kv"),
    ).select("user_id", "kv.feature", "kv.value")
    # The three quartiles from one digest per group, not three (the same values; at 300k
    # plays the table took 7.8 s with three, 4.5 s with one).
    quartiles = F.percentile_approx("value", [0.25, 0.5, 0.75])
    user_stats = (
        user_long.groupBy("user_id", "feature")
        .agg(
            F.count("*").alias("n_plays"),
            F.avg("value").alias("user_mean"),
            F.stddev("value").alias("user_std"),
            quartiles.alias("quartiles"),
        )
        .select(
            "user_id",
            "feature",
            "n_plays",
            "user_mean",
            "user_std",
            *(F.col("quartiles")[i].alias(n) for i, n in enumerate(QUARTILE_COLUMNS)),
        )
    )
    return (
        user_stats.join(catalog_stats, "feature")
        .withColumn("gap", F.col("user_mean") - F.col("catalog_mean"))
        .withColumn("gap_in_catalog_std", F.col("gap") / F.col("catalog_std"))
        .withColumn("as_of_date", F.lit(as_of))
    )


def genre_discovery(enriched: DataFrame, tracks: DataFrame, as_of: dt.date) -> DataFrame:
    """Which catalog genres I have not explored, ranked by how close they sit to my taste.

    Taste is the mean of my played tracks' valence, energy, danceability and acousticness;
    affinity = 1 / (1 + Euclidean distance) between that point and each genre's mean.
    """
    genre_profile = (
        tracks.select(F.explode("genres").alias("genre"), "track_id", *TASTE_FEATURES)
        .groupBy("genre")
        .agg(
            F.countDistinct("track_id").alias("catalog_tracks"),
            *[F.avg(f).alias(f"genre_{f}") for f in TASTE_FEATURES],
        )
    )
    resolved = enriched.filter(F.col("valence").isNotNull())
    taste = resolved.groupBy("user_id").agg(*[F.avg(f).alias(f"user_{f}") for f in TASTE_FEATURES])
    played = (
        resolved.select("user_id", F.explode("genres").alias("genre"))
        .groupBy("user_id", "genre")
        .agg(F.count("*").alias("user_plays"))
    )
    distance = F.sqrt(sum((F.col(f"genre_{f}") - F.col(f"user_{f}")) ** 2 for f in TASTE_FEATURES))
    per_user = Window.partitionBy("user_id", "explored").orderBy(F.desc("affinity"), "genre")
    return (
        taste.crossJoin(genre_profile)
        .join(played, ["user_id", "genre"], "left")
        .withColumn("user_plays", F.coalesce("user_plays", F.lit(0)))
        .withColumn("explored", F.col("user_plays") > 0)
        .withColumn("affinity", 1 / (1 + distance))
        .withColumn("rank", F.row_number().over(per_user))
        .select(
            "user_id",
            "genre",
            "explored",
            "user_plays",
            "catalog_tracks",
            "affinity",
            "rank",
            *[f"genre_{f}" for f in TASTE_FEATURES],
        )
        .withColumn("as_of_date", F.lit(as_of))
    )


def feature_coverage(plays: DataFrame) -> dict:
    """Plays, plays with audio features and their share, overall and per listener."""
    rows = (
        plays.groupBy("user_id")
        .agg(
            F.count("*").alias("plays"),
            F.sum(F.col("has_features").cast("long")).alias("with"),
            F.sum((F.col("resolution") == ESTIMATE).cast("long")).alias("estimated"),
        )
        .collect()
    )
    total = sum(r["plays"] for r in rows)
    covered = sum(r["with"] or 0 for r in rows)
    return {
        "plays": total,
        "plays_with_features": covered,
        "plays_with_estimated_features": sum(r["estimated"] or 0 for r in rows),
        "feature_coverage": round(covered / total, 4) if total else 0.0,
        "feature_coverage_by_listener": {
            r["user_id"]: round((r["with"] or 0) / r["plays"], 4) for r in rows
        },
    }

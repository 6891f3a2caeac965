"""Gold feature gaps in Spark: a listener's quartiles come from one digest per feature, and are
the very values three separate percentile aggregations give."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from moodlake_dagster.transform import gold

AS_OF = dt.date(2026, 6, 1)
pytestmark = pytest.mark.spark


def test_quartiles_from_one_digest_are_those_of_three(spark, extended_plays, sample_tracks):
    tracks = sample_tracks.drop(columns=["as_of_date"]).assign(as_of_date=AS_OF)
    tracks_df = spark.createDataFrame(tracks)
    plays = spark.createDataFrame(extended_plays[["user_id", "track_id"]])
    enriched = gold.plays_with_features(plays, tracks_df)
    gaps = gold.feature_gaps(enriched, tracks_df, AS_OF).toPandas()

    long = enriched.filter(F.col("valence").isNotNull()).select(
        "user_id", gold.unpivot(gold.CORRELATION_FEATURES, "feature").alias("kv")
    )
    one_at_a_time = (
        long.groupBy("user_id", F.col("kv.feature").alias("feature"))
        .agg(
            *(
                F.percentile_approx("kv.value", q).alias(name)
                for q, name in zip((0.25, 0.5, 0.75), gold.QUARTILE_COLUMNS, strict=True)
            )
        )
        .toPandas()
    )
    merged = gaps.merge(one_at_a_time, on=["user_id", "feature"], suffixes=("", "_alone"))
    assert len(merged) == len(gaps) == len(gold.CORRELATION_FEATURES)  # one listener
    for name in gold.QUARTILE_COLUMNS:
        np.testing.assert_array_equal(merged[name], merged[f"{name}_alone"])
    assert (merged["user_p25"] <= merged["user_median"]).all()
    assert (merged["user_median"] <= merged["user_p75"]).all()
    # Approximate, but close to pandas' exact median of the same plays.
    exact = (
        extended_plays[["track_id"]]
        .merge(tracks[["track_id", "energy"]], on="track_id")["energy"]
        .median()
    )
    energy = merged.set_index("feature").loc["energy", "user_median"]
    assert energy == pytest.approx(exact, abs=0.02)
    assert pd.notna(merged["gap_in_catalog_std"]).all()

"""Gold genre mix ranks genres by their exact share of plays: ties are ties in any order of
summing, and are broken by the genre's name."""

from __future__ import annotations

import datetime as dt

import pytest

from moodlake_dagster.transform import gold

AS_OF = dt.date(2026, 6, 1)
pytestmark = pytest.mark.spark

TEN_GENRES = ["x", *(f"g{i}" for i in range(9))]


def enriched_rows() -> list[tuple]:
    """Ten plays of a ten-genre track give x a tenth ten times over (0.9999999999999999 in
    floating point); one play of a one-genre track gives y exactly 1: an exact tie."""
    ten = [("u", "t10", 200_000, TEN_GENRES)] * 10
    return [*ten, ("u", "t1", 200_000, ["y"])]


def ranks(spark, rows, partitions: int) -> dict[str, int]:
    frame = spark.createDataFrame(
        rows, "user_id string, track_id string, ms_played long, genres array<string>"
    ).repartition(partitions)
    mix = gold.genre_mix(frame, AS_OF).toPandas()
    return dict(zip(mix["genre"], mix["rank"], strict=True))


def test_an_exact_tie_is_broken_by_name_whatever_the_order_of_summing(spark):
    rows = enriched_rows()
    one = ranks(spark, rows, 1)
    assert one["x"] < one["y"]  # tied at one play each: x before y by name
    assert ranks(spark, rows[::-1], 3) == one == ranks(spark, rows[5:] + rows[:5], 2)
    assert sorted(one.values()) == list(range(1, 12))

"""Gold over time in Spark: the daily mood series, against numbers worked out by hand."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from moodlake_dagster.transform import over_time

D = dt.date


def test_a_run_rebuilds_the_local_days_its_utc_days_reach():
    assert over_time.local_days(D(2024, 7, 21), D(2024, 7, 23)) == (D(2024, 7, 20), D(2024, 7, 24))
    # ...and reads every play those local days hold: one day further on each side.
    assert over_time.play_days_to_read(D(2024, 7, 21), D(2024, 7, 21)) == (
        D(2024, 7, 19),
        D(2024, 7, 23),
    )


def test_each_local_day_is_summed_by_hand(spark):
    plays = pd.DataFrame(
        {
            "user_id": ["u_a", "u_a", "u_a", "u_b", "u_a"],
            "local_date": [D(2024, 7, 21)] * 4 + [D(2024, 7, 25)],  # the last is out of range
            "ms_played": [60_000, 120_000, 30_000, 90_000, 60_000],
            "skipped": [False, True, False, False, False],
            "track_id": ["t1", "t2", "unknown", "t1", "t1"],
        }
    )
    tracks = pd.DataFrame(
        {
            "track_id": ["t1", "t2"],
            "valence": [0.2, 0.6],
            "energy": [0.5, 0.9],
            "danceability": [0.4, 0.4],
        }
    )
    rows = (
        over_time.mood_by_day(
            spark.createDataFrame(plays),
            spark.createDataFrame(tracks),
            D(2024, 7, 20),
            D(2024, 7, 24),
        )
        .toPandas()
        .set_index("user_id")
    )
    assert sorted(rows.index) == ["u_a", "u_b"]  # the play of the 25th is outside the run
    a = rows.loc["u_a"]
    assert (a["plays"], a["plays_with_features"]) == (3, 2)
    assert a["minutes"] == pytest.approx(3.5)  # (60 + 120 + 30) s
    assert a["skip_rate"] == pytest.approx(1 / 3)
    assert a["valence_mean"] == pytest.approx(0.4)  # the unknown track has no features
    assert a["valence_std"] == pytest.approx(pd.Series([0.2, 0.6]).std())
    assert a["danceability_std"] == pytest.approx(0.0)
    assert a["feature_coverage"] == pytest.approx(2 / 3)
    b = rows.loc["u_b"]
    assert b["plays"] == 1 and pd.isna(b["valence_std"])  # one play: no spread to speak of

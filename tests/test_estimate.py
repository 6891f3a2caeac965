"""Estimated features: leave-one-out by artist, one row per song, scored against a baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from moodlake_dagster.ml import estimate


def _tracks():
    return pd.DataFrame(
        {
            "track_id": ["a1", "a1b", "a2", "a3", "b1", "c1"],
            "song_key": ["a|one", "a|one", "a|two", "a|three", "b|one", "c|one"],
            "primary_artist": ["A", "A", "A", "A", "B", "C"],
            "valence": [0.2, 0.9, 0.4, 0.6, 0.5, 0.7],
            "energy": [0.1, 0.9, 0.3, 0.5, 0.5, 0.9],
            "features_source": ["catalog"] * 5 + ["api"],
        }
    )


def test_a_song_under_two_ids_counts_once_and_lookups_are_left_out():
    songs = estimate.songs(_tracks())
    assert sorted(songs["track_id"]) == ["a1", "a2", "a3", "b1"]  # a1b is a1's song; c1 is API


def test_each_estimate_uses_only_the_artists_other_songs():
    songs = estimate.songs(_tracks())
    loo = estimate.leave_one_out(songs, ["valence"]).set_index(songs["track_id"])["valence"]
    assert loo["a1"] == pytest.approx((0.4 + 0.6) / 2)
    assert loo["a2"] == pytest.approx((0.2 + 0.6) / 2)
    assert np.isnan(loo["b1"])  # an artist with one song cannot be estimated from others

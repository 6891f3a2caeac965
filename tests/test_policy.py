"""Which plays a model may learn from (transform/policy.py), on pandas frames."""

from __future__ import annotations

import pandas as pd

from moodlake_dagster.transform.policy import canonical, training_plays


def plays() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "play_id": ["e1", "a1", "b1", "a2"],
            "source_format": ["extended", "api", "basic", "api"],
        }
    )


def test_api_plays_stay_out_of_training_by_default():
    kept = training_plays(plays(), include_api_plays=False)
    assert kept["play_id"].tolist() == ["b1", "e1"]  # in canonical order
    assert (kept["source_format"] != "api").all()


def test_the_owner_may_opt_api_plays_in():
    frame = plays()
    assert training_plays(frame, include_api_plays=True).equals(canonical(frame))
    assert len(canonical(frame)) == 4


def test_no_api_play_means_nothing_is_dropped():
    frame = plays().query("source_format != 'api'")
    assert training_plays(frame, include_api_plays=False).equals(canonical(frame))
    assert len(frame) == 2


def test_rows_in_any_order_come_out_in_one():
    frame = pd.DataFrame(
        {
            "user_id": ["u_b", "u_a", "u_a", "u_b", "u_a"],
            "played": pd.to_datetime(
                ["2024-01-02", "2024-01-01", None, "2024-01-01", "2024-01-01"]
            ),
            "track_id": ["t2", "t1", "t3", None, "t0"],
            "genres": [["pop"], ["rock", "pop"], [], None, ["jazz"]],  # lists: not sorted on
        }
    )
    expected = canonical(frame)
    assert expected["user_id"].tolist() == ["u_a", "u_a", "u_a", "u_b", "u_b"]
    assert expected["track_id"].tolist()[:3] == ["t0", "t1", "t3"]  # the missing time last
    for seed in range(5):
        shuffled = frame.sample(frac=1.0, random_state=seed)
        pd.testing.assert_frame_equal(canonical(shuffled), expected)
        assert (
            training_plays(shuffled.assign(source_format="extended"), include_api_plays=False)
            .drop(columns="source_format")
            .equals(expected)
        )


def test_a_model_fitted_on_the_same_plays_in_another_order_is_the_same():
    """The listening modes of three builds differed (silhouette 0.352 / 0.288 / 0.300) when
    the plays' files were read in another order."""
    import numpy as np
    from test_model_runs import AS_OF, A, _mode_plays, _mode_tracks

    from moodlake_dagster.ml import modes

    tracks = _mode_tracks(np.random.default_rng(3))
    plays = _mode_plays(A, tracks["track_id"]).assign(
        local_hour=np.random.default_rng(4).integers(0, 24, len(tracks))
    )
    runs = [
        modes.fit_listeners(
            training_plays(plays.sample(frac=1.0, random_state=seed), include_api_plays=False),
            canonical(tracks.sample(frac=1.0, random_state=seed)),
            AS_OF,
        ).out.rows.to_pandas()
        for seed in (1, 2)
    ]
    pd.testing.assert_frame_equal(runs[0], runs[1], check_exact=True)  # to the last bit

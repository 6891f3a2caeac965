"""Which plays a model may learn from (transform/policy.py), on pandas frames."""

from __future__ import annotations

import pandas as pd

from moodlake_dagster.transform.policy import training_plays


def plays() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "play_id": ["e1", "a1", "b1", "a2"],
            "source_format": ["extended", "api", "basic", "api"],
        }
    )


def test_api_plays_stay_out_of_training_by_default():
    kept = training_plays(plays(), include_api_plays=False)
    assert kept["play_id"].tolist() == ["e1", "b1"]
    assert (kept["source_format"] != "api").all()


def test_the_owner_may_opt_api_plays_in():
    frame = plays()
    assert training_plays(frame, include_api_plays=True) is frame


def test_no_api_play_means_nothing_is_dropped():
    frame = plays().query("source_format != 'api'")
    assert training_plays(frame, include_api_plays=False).equals(frame)

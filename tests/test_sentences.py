"""Insights in words: a sentence carries its table's numbers, and nothing is said that the data
does not support (tests, false discovery control, minimum samples)."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from test_thresholds import _listener

from moodlake_dagster.checks.schemas import Insights
from moodlake_dagster.transform import sentences, thresholds

AS_OF = dt.date(2024, 4, 9)
WEEK = dt.date(2024, 4, 1)


def _week_rows(measure: str, value: float, before: list[float], user="u_a") -> pd.DataFrame:
    mean, std = float(np.mean(before)), float(np.std(before, ddof=1))
    row = {
        "user_id": user,
        "period": "week",
        "period_start": WEEK,
        "complete": True,
        "measure": measure,
        "value": value,
        "baseline_mean": mean,
        "baseline_std": std,
        "baseline_n": len(before),
        "z_score": (value - mean) / std,
        "as_of_date": AS_OF,
    }
    current = row | {"period_start": WEEK + dt.timedelta(weeks=1), "complete": False}
    return pd.DataFrame([row, current | {"z_score": None}])


def _said(**sources) -> pd.DataFrame:
    return sentences.insights({f"gold/{k}": v for k, v in sources.items()}, AS_OF)


def test_an_unusual_week_is_said_with_the_tables_numbers():
    before = [10, 12, 9, 11, 10, 8, 12, 10, 11, 9, 10, 12]
    trends = _week_rows("plays", 40.0, before)
    said = _said(mood_trends=trends)
    (row,) = said.to_dict("records")
    table = trends.iloc[0]
    evidence = json.loads(row["evidence"])
    for column in ("value", "baseline_mean", "baseline_std", "baseline_n", "z_score"):
        assert evidence[column] == pytest.approx(table[column])
    t = (40 - np.mean(before)) / (np.std(before, ddof=1) * math.sqrt(1 + 1 / 12))
    assert row["p_value"] == pytest.approx(2 * stats.t.sf(t, 11))
    assert row["p_adjusted"] == pytest.approx(row["p_value"])  # a family of one
    assert row["kind"] == "week" and row["sources"] == ["gold/mood_trends"]
    assert "40 plays" in row["sentence"] and f"usual {np.mean(before):.0f}" in row["sentence"]
    assert "played more than usual" in row["sentence"]
    Insights.validate(said)


def test_an_ordinary_week_says_nothing():
    trends = _week_rows("valence", 0.52, [0.5, 0.55, 0.48, 0.51, 0.53, 0.49, 0.5, 0.52, 0.5])
    assert _said(mood_trends=trends).empty


def _thresholds(p_values: list[float]) -> pd.DataFrame:
    rows = []
    for i, p in enumerate(p_values):
        rows.append(
            {
                "user_id": "u_a",
                "feature": f"feature{i}",
                "outcome": "skipped",
                "split_point": 0.5,
                "n_above": 100,
                "n_below": 120,
                "rate_above": 0.4,
                "rate_below": 0.3,
                "relative_difference": 1 / 3,
                "effect_size": 0.1,
                "p_value": p,
                "test": thresholds.TEST,
            }
        )
    return pd.DataFrame(rows)


def test_the_tests_of_a_listeners_day_are_one_family():
    p_values = [0.001, 0.004, 0.04] + [0.5] * 15
    said = _said(feature_thresholds=_thresholds(p_values))
    # Benjamini-Hochberg over 18: 0.001 × 18 / 1 and 0.004 × 18 / 2 pass, 0.04 × 18 / 3 does not.
    assert said["p_value"].tolist() == [0.001, 0.004]
    assert said["p_adjusted"].tolist() == pytest.approx([0.018, 0.036])
    assert said["rank"].tolist() == [1, 2]
    assert "above 0.5" in said["sentence"].iloc[0] and "40% against 30%" in said["sentence"].iloc[0]
    assert sentences.benjamini_hochberg([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.04, 0.04])


def test_a_history_with_no_effect_gets_no_threshold_sentence():
    plays = _listener(11, skip_above=0.3, skip_below=0.3)
    found = thresholds.feature_thresholds(plays, AS_OF)
    assert found["p_value"].notna().sum() == 18  # every row was tested...
    assert _said(feature_thresholds=found).empty  # ...and none is said
    planted = thresholds.feature_thresholds(_listener(0), AS_OF)
    said = _said(feature_thresholds=planted)
    assert "instrumentalness/skipped" in set(said["subject"])
    row = said[said["subject"] == "instrumentalness/skipped"].iloc[0]
    source = planted[(planted["feature"] == "instrumentalness") & (planted["outcome"] == "skipped")]
    evidence = json.loads(row["evidence"])
    for column in ("split_point", "rate_above", "rate_below", "n_above", "n_below"):
        assert evidence[column] == pytest.approx(source[column].iloc[0])


def _sessions(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"user_id": "u_a", "day_part": "evening", "sessions_with_features": n},
            {"user_id": "u_a", "day_part": "morning", "sessions_with_features": n},
        ]
    ).assign(high_energy_share=[0.6, 0.25])


def test_a_habit_needs_enough_sessions():
    assert _said(session_summary=_sessions(sentences.MIN_SESSIONS - 1)).empty
    (row,) = _said(session_summary=_sessions(25)).to_dict("records")
    assert row["sentence"].startswith("60% of your evening sessions are high-energy (of 25")
    assert row["test"] is None and pd.isna(row["p_adjusted"]) and row["n"] == 25


def test_sentences_are_ranked_by_kind_and_capped():
    before = [10, 12, 9, 11, 10, 8, 12, 10, 11, 9, 10, 12]
    said = _said(
        mood_trends=_week_rows("plays", 40.0, before),
        feature_thresholds=_thresholds([0.0001] * 12),
        session_summary=_sessions(30),
    )
    assert len(said) == sentences.MAX_SENTENCES
    assert said["kind"].iloc[0] == "week"
    assert said["rank"].tolist() == list(range(1, sentences.MAX_SENTENCES + 1))
    Insights.validate(said)

"""Weeks and months against the listener's usual, and the trend tests over the year: each
number against one worked out by hand."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from moodlake_dagster.transform import trends

D = dt.date
MONDAY = D(2024, 1, 1)  # weeks start on Mondays


def _day(week: int, weekday: int, plays: int, valence: float | None, covered: int | None = None):
    covered = plays if covered is None else covered
    return {
        "user_id": "u_a",
        "local_date": MONDAY + dt.timedelta(weeks=week, days=weekday),
        "plays": plays,
        "minutes": plays * 3.0,
        "skip_rate": 0.25,
        "plays_with_features": covered,
        "valence_mean": valence if covered else None,
        "energy_mean": 0.5 if covered else None,
        "danceability_mean": 0.5 if covered else None,
    }


@pytest.fixture(scope="module")
def weekly(spark):
    """Thirteen weeks of ordinary listening with a week off (week 5), then a bright, busy
    week 13, then two days of week 14 (still under way on the as-of day)."""
    days = [_day(w, 0, 10, 0.40 + 0.01 * w) for w in range(13) if w != 5]
    days += [_day(13, 1, 30, 0.90), _day(13, 3, 10, 0.70, covered=5)]
    days += [_day(14, 0, 4, 0.5)]
    daily = spark.createDataFrame(pd.DataFrame(days))
    as_of = MONDAY + dt.timedelta(weeks=14, days=1)  # a Tuesday
    frame = trends.mood_trends(daily, as_of).toPandas()
    return frame.set_index(["period", "period_start", "measure"]).sort_index()


def test_weeks_are_summed_and_the_week_off_counts_as_zero(weekly):
    weeks = weekly.loc["week"]
    starts = sorted({start for start, _ in weeks.index})
    assert starts == [MONDAY + dt.timedelta(weeks=w) for w in range(15)]
    off = MONDAY + dt.timedelta(weeks=5)
    assert weeks.loc[(off, "plays"), "value"] == 0
    assert pd.isna(weeks.loc[(off, "valence"), "value"])
    busy = MONDAY + dt.timedelta(weeks=13)
    assert weeks.loc[(busy, "plays"), "value"] == 40
    # Play-weighted over the plays with features: (30 × 0.9 + 5 × 0.7) / 35.
    assert weeks.loc[(busy, "valence"), "value"] == pytest.approx((27 + 3.5) / 35)
    assert weeks.loc[(busy, "feature_coverage"), "value"] == pytest.approx(35 / 40)


def test_a_week_is_judged_against_the_twelve_before_it(weekly):
    weeks = weekly.loc["week"]
    busy = MONDAY + dt.timedelta(weeks=13)
    before = [10.0 if w != 5 else 0.0 for w in range(1, 13)]  # weeks 1–12, the week off is 0
    row = weeks.loc[(busy, "plays")]
    assert row["baseline_n"] == 12
    assert row["baseline_mean"] == pytest.approx(np.mean(before))
    assert row["baseline_std"] == pytest.approx(np.std(before, ddof=1))
    assert row["z_score"] == pytest.approx((40 - np.mean(before)) / np.std(before, ddof=1))
    # Valence: the week off has none, so 11 of the 12 weeks stand in the baseline.
    mood = weeks.loc[(busy, "valence")]
    valences = [0.40 + 0.01 * w for w in range(1, 13) if w != 5]
    assert mood["baseline_n"] == 11
    assert mood["z_score"] == pytest.approx(
        (mood["value"] - np.mean(valences)) / np.std(valences, ddof=1)
    )


def test_only_complete_periods_with_a_long_enough_past_get_a_z_score(weekly):
    weeks = weekly.loc["week"]
    current = weeks.loc[(MONDAY + dt.timedelta(weeks=14), "plays")]
    assert not current["complete"] and pd.isna(current["z_score"])
    early = weeks.loc[(MONDAY + dt.timedelta(weeks=4), "plays")]
    assert early["baseline_n"] == 4 and pd.isna(early["z_score"])  # fewer than 8 weeks before


def test_months_weigh_each_day_by_its_plays(weekly):
    months = weekly.loc["month"]
    january = months.loc[(D(2024, 1, 1), "valence")]
    days = [(10, 0.40 + 0.01 * w) for w in range(5)]  # weeks 0–4 start in January
    assert january["value"] == pytest.approx(sum(n * v for n, v in days) / sum(n for n, _ in days))
    assert january["complete"]
    assert not months.loc[(D(2024, 4, 1), "plays"), "complete"]  # April is under way


def _monthly(values, user="u_a", measure="valence"):
    """Monthly rows from January 2023 on."""
    rows = []
    for i, value in enumerate(values):
        month = D(2023 + i // 12, i % 12 + 1, 1)
        row = {"user_id": user, "period": "month", "period_start": month, "complete": True}
        rows.append(row | {"measure": measure, "value": value})
    return pd.DataFrame(rows)


def test_a_rising_year_is_a_trend_with_its_test_and_slope():
    values = [0.30, 0.33, 0.31, 0.36, 0.38, 0.37, 0.41, 0.44, 0.43, 0.47, 0.49, 0.52, 0.55, 0.2]
    frame = _monthly(values)
    frame.loc[frame.index[-1], "complete"] = False  # the month under way is left out
    (row,) = trends.trend_tests(frame, D(2024, 2, 10)).to_dict("records")
    year = values[1:13]  # the last 12 complete months
    tau = stats.kendalltau(range(12), year)
    assert row["months"] == 12 and row["first_month"] == D(2023, 2, 1)
    assert row["kendall_tau"] == pytest.approx(tau.statistic)
    assert row["p_value"] == pytest.approx(tau.pvalue) and row["p_value"] < 0.001
    assert row["slope_per_month"] == pytest.approx(stats.theilslopes(year).slope)
    assert row["test"] == trends.TREND_TEST


def test_no_trend_is_claimed_from_too_few_months_or_a_flat_line():
    short = trends.trend_tests(_monthly([0.3, 0.4, 0.5, 0.6, 0.7]), D(2024, 1, 1))
    assert pd.isna(short["p_value"].iloc[0]) and "fewer than 6" in short["note"].iloc[0]
    flat = trends.trend_tests(_monthly([0.4] * 8), D(2024, 1, 1))
    assert pd.isna(flat["p_value"].iloc[0]) and flat["note"].iloc[0] == "the value did not change"
    rng = np.random.default_rng(3)
    noise = trends.trend_tests(_monthly(list(0.5 + 0.05 * rng.standard_normal(12))), D(2024, 1, 1))
    assert noise["p_value"].iloc[0] > 0.05

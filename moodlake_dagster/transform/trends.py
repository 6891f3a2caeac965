"""Gold trends: each listener's weeks and months against their own usual.

A period is judged against the 12 periods before it (the rolling baseline): its z-score says how
unusual it is, and the insights test it before saying so. Weeks start on Monday, in the
listener's local days; a period without plays counts 0 plays and 0 minutes and has no mood. The
series is built in Spark from `gold/mood_by_day`; the trend tests over months run in SciPy on
the few monthly rows.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from scipy import stats

from moodlake_dagster.transform.gold import unpivot
from moodlake_dagster.transform.over_time import DAILY_FEATURES

BASELINE_PERIODS = 12
MIN_BASELINE = 8  # periods with a value in the baseline before a z-score is given
# A listener who stopped is followed this many empty periods on, then the series ends.
TRAIL_PERIODS = BASELINE_PERIODS
MEASURES = ("plays", "minutes", "skip_rate", *DAILY_FEATURES, "feature_coverage")
PERIODS = {"week": "7 days", "month": "1 month"}

TREND_MONTHS = 12  # the trend test looks at the last year of complete months
MIN_TREND_MONTHS = 6
TREND_TEST = "Mann-Kendall (Kendall's tau of monthly values against time), Theil-Sen slope"


def _weighted(value: str, weight: str) -> F.Column:
    """The mean of daily means, weighted by the plays each stands on (null with no weight)."""
    total = F.sum(weight)
    return F.when(total > 0, F.sum(F.col(value) * F.col(weight)) / total)


def _next(start: F.Column, period: str, periods: int = 1) -> F.Column:
    """The start of the period `periods` after the one starting at `start`."""
    return F.date_add(start, 7 * periods) if period == "week" else F.add_months(start, periods)


def _per_period(daily: DataFrame, period: str) -> DataFrame:
    return daily.groupBy("user_id", F.trunc("local_date", period).alias("period_start")).agg(
        F.sum("plays").alias("plays"),
        F.coalesce(F.sum("minutes"), F.lit(0.0)).alias("minutes"),
        _weighted("skip_rate", "plays").alias("skip_rate"),
        F.sum("plays_with_features").alias("plays_with_features"),
        *[_weighted(f"{f}_mean", "plays_with_features").alias(f) for f in DAILY_FEATURES],
    )


def _calendar(per_period: DataFrame, period: str, as_of: dt.date) -> DataFrame:
    """Every period from a listener's first until now (or until they have been away a while)."""
    step = F.expr(f"INTERVAL {PERIODS[period]}")
    until = _next(F.max("period_start"), period, TRAIL_PERIODS)
    now = F.trunc(F.lit(as_of), period)
    bounds = per_period.groupBy("user_id").agg(
        F.min("period_start").alias("first"), F.least(until, now).alias("last")
    )
    return bounds.select(
        "user_id", F.explode(F.sequence("first", "last", step)).alias("period_start")
    )


def _series(daily: DataFrame, period: str, as_of: dt.date) -> DataFrame:
    per_period = _per_period(daily, period)
    filled = (
        _calendar(per_period, period, as_of)
        .join(per_period, ["user_id", "period_start"], "left")
        .fillna(0, subset=["plays", "minutes", "plays_with_features"])
        .withColumn(
            "feature_coverage",
            F.when(F.col("plays") > 0, F.col("plays_with_features") / F.col("plays")),
        )
        .withColumn("complete", _next(F.col("period_start"), period) <= F.date_add(F.lit(as_of), 1))
    )
    long = filled.select(
        "user_id",
        F.lit(period).alias("period"),
        "period_start",
        "complete",
        unpivot(MEASURES, "measure").alias("m"),
    ).select("user_id", "period", "period_start", "complete", "m.measure", "m.value")
    before = (
        Window.partitionBy("user_id", "measure")
        .orderBy("period_start")
        .rowsBetween(-BASELINE_PERIODS, -1)
    )
    return (
        long.withColumn("baseline_mean", F.avg("value").over(before))
        .withColumn("baseline_std", F.stddev_samp("value").over(before))
        .withColumn("baseline_n", F.count("value").over(before))
        .withColumn(
            "z_score",
            F.when(
                F.col("complete")
                & (F.col("baseline_n") >= MIN_BASELINE)
                & (F.col("baseline_std") > 0),
                (F.col("value") - F.col("baseline_mean")) / F.col("baseline_std"),
            ),
        )
    )


def mood_trends(mood_by_day: DataFrame, as_of: dt.date) -> DataFrame:
    """Per listener, week and month: plays, minutes, skip rate, mood and feature coverage,
    each beside the mean and spread of the 12 periods before it and its z-score against them.

    Only complete periods get a z-score: a week still under way is not yet unusual."""
    daily = mood_by_day.filter(F.col("local_date") <= F.lit(as_of))
    series = [_series(daily, period, as_of) for period in PERIODS]
    return (
        series[0]
        .unionByName(series[1])
        .withColumn("as_of_date", F.lit(as_of))
        .orderBy("user_id", "period", "period_start", "measure")
    )


TREND_COLUMNS = [
    "user_id",
    "measure",
    "test",
    "months",
    "first_month",
    "last_month",
    "mean_value",
    "kendall_tau",
    "slope_per_month",
    "p_value",
    "note",
    "as_of_date",
]


def _trend(values: pd.Series, months: pd.Series) -> dict:
    index = months.map(lambda d: d.year * 12 + d.month).to_numpy()
    row = {
        "months": len(values),
        "first_month": months.iloc[0] if len(months) else None,
        "last_month": months.iloc[-1] if len(months) else None,
        "mean_value": float(values.mean()) if len(values) else None,
    }
    if len(values) < MIN_TREND_MONTHS:
        return row | {"note": f"fewer than {MIN_TREND_MONTHS} complete months with a value"}
    if values.nunique() < 2:
        return row | {"note": "the value did not change"}
    tau = stats.kendalltau(index, values.to_numpy())
    slope = stats.theilslopes(values.to_numpy(), index)
    return row | {
        "test": TREND_TEST,
        "kendall_tau": float(tau.statistic),
        "slope_per_month": float(slope.slope),
        "p_value": float(tau.pvalue),
    }


def trend_tests(trends: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Per listener and measure: is there a monotonic trend over the last year of complete
    months? Kendall's tau against time (the Mann-Kendall test) with its two-sided p-value, and
    the Theil-Sen slope per month; months are not independent, so read p as a screen."""
    monthly = trends[(trends["period"] == "month") & trends["complete"]]
    rows = []
    for (user, measure), group in monthly.groupby(["user_id", "measure"], sort=True):
        recent = group.dropna(subset=["value"]).sort_values("period_start").tail(TREND_MONTHS)
        row = {"user_id": user, "measure": measure, "as_of_date": as_of}
        rows.append(row | _trend(recent["value"], recent["period_start"]))
    return pd.DataFrame(rows, columns=TREND_COLUMNS)

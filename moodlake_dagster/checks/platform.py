"""Pandera models of the many-listener tables: profiles, platform analytics, crowd models."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from moodlake_dagster.checks.schemas import UNIT, _Model
from moodlake_dagster.vocabulary import DAY_PARTS, MOODS

PSEUDONYM = r"^u_[0-9a-f]{16}$"
PLANS = ["free", "premium", "family", "student", "duo"]
AGE_BANDS = ["under 18", "18-24", "25-34", "35-44", "45-54", "55-64", "65+"]


class BronzeProfiles(_Model):
    as_of_date: Series[object]
    user_id: Series[str] = pa.Field(str_matches=PSEUDONYM)
    # The clear address never lands: a masked form (a***e@example.org) and a keyed token.
    email_masked: Series[str] = pa.Field(nullable=True, str_contains=r"\*\*\*")
    email_token: Series[str] = pa.Field(nullable=True, str_matches=r"^e_[0-9a-f]{16}$")


class Profiles(_Model):
    as_of_date: Series[object]
    user_id: Series[str] = pa.Field(unique=True, str_matches=PSEUDONYM)
    email_masked: Series[str] = pa.Field(str_contains=r"\*\*\*")
    email_token: Series[str] = pa.Field(str_matches=r"^e_[0-9a-f]{16}$")
    age_band: Series[str] = pa.Field(isin=AGE_BANDS)
    country: Series[str] = pa.Field(str_matches=r"^[A-Z]{2}$")
    plan: Series[str] = pa.Field(isin=PLANS)
    signup_date: Series[object]


class ActiveListeners(_Model):
    day: Series[object] = pa.Field(unique=True)
    dau: Series[int] = pa.Field(ge=0)
    wau: Series[int] = pa.Field(ge=0)
    mau: Series[int] = pa.Field(ge=0)
    stickiness: Series[float] = pa.Field(nullable=True, **UNIT)

    @pa.dataframe_check(error="active listeners must nest: DAU ≤ WAU ≤ MAU")
    def nested(cls, df: pd.DataFrame) -> Series[bool]:
        return (df["dau"] <= df["wau"]) & (df["wau"] <= df["mau"])


class RetentionCohorts(_Model):
    cohort_month: Series[object]
    cohort_basis: Series[str] = pa.Field(isin=["signup", "first play"])
    months_since: Series[int] = pa.Field(ge=0)
    cohort_size: Series[int] = pa.Field(ge=1)
    active: Series[int] = pa.Field(ge=0)
    retention: Series[float] = pa.Field(**UNIT)


class PlanCountryMix(_Model):
    plan: Series[str] = pa.Field(isin=[*PLANS, "unknown"])
    country: Series[str]
    listeners: Series[int] = pa.Field(ge=0)
    active_listeners: Series[int] = pa.Field(ge=0)
    plays: Series[int] = pa.Field(ge=0)
    skip_rate: Series[float] = pa.Field(nullable=True, **UNIT)
    estimated_monthly_revenue: Series[float] = pa.Field(nullable=True, ge=0)


class CrowdTop(_Model):
    week_start: Series[object]
    kind: Series[str] = pa.Field(isin=["track", "artist", "genre"])
    item: Series[str]
    rank: Series[int] = pa.Field(ge=1)
    plays: Series[int] = pa.Field(ge=1)
    listeners: Series[int] = pa.Field(ge=1)


class ListenerSegments(_Model):
    user_id: Series[str] = pa.Field(unique=True, str_matches=PSEUDONYM)
    segment_id: Series[int] = pa.Field(ge=0)
    segment: Series[str] = pa.Field(str_length={"min_value": 3})
    skip_rate: Series[float] = pa.Field(**UNIT)
    night_share: Series[float] = pa.Field(**UNIT)
    morning_share: Series[float] = pa.Field(**UNIT)
    afternoon_share: Series[float] = pa.Field(**UNIT)
    evening_share: Series[float] = pa.Field(**UNIT)


class ChurnRisk(_Model):
    user_id: Series[str] = pa.Field(unique=True, str_matches=PSEUDONYM)
    risk: Series[float] = pa.Field(**UNIT)
    risk_band: Series[str] = pa.Field(isin=["low", "medium", "high"])
    days_since_last_play: Series[int] = pa.Field(ge=0)
    reasons: Series[str] = pa.Field(str_length={"min_value": 3})


class FarmFlags(_Model):
    user_id: Series[str] = pa.Field(unique=True, str_matches=PSEUDONYM)
    flagged_days: Series[int] = pa.Field(ge=1)
    reason: Series[str] = pa.Field(str_length={"min_value": 3})

    @pa.dataframe_check(error="first flagged day must not be after the last")
    def ordered(cls, df: pd.DataFrame) -> Series[bool]:
        return df["first_flagged"] <= df["last_flagged"]


class PopularityPredictions(_Model):
    track_id: Series[str] = pa.Field(unique=True)
    probability: Series[float] = pa.Field(**UNIT)
    top_quartile: Series[bool]
    popularity: Series[int] = pa.Field(ge=0, le=100)
    fold: Series[int] = pa.Field(ge=0)


class MoodPlaylists(_Model):
    user_id: Series[str] = pa.Field(str_matches=PSEUDONYM)
    mood: Series[str] = pa.Field(isin=list(MOODS))
    day_part: Series[str] = pa.Field(isin=DAY_PARTS)
    position: Series[int] = pa.Field(ge=1, le=20)
    track_id: Series[str]
    source: Series[str] = pa.Field(isin=["favourite", "new"])

    @pa.dataframe_check(error="a playlist holds a track once")
    def distinct_tracks(cls, df: pd.DataFrame) -> Series[bool]:
        return ~df.duplicated(["user_id", "mood", "day_part", "track_id"])

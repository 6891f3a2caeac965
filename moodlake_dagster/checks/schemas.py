"""Pandera models, one per table: the contract each layer promises the next."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from moodlake_dagster.vocabulary import AUDIO_FEATURES, DAY_PARTS

UTC = {"dtype_kwargs": {"unit": "us", "tz": "UTC"}}
UNIT = {"ge": 0.0, "le": 1.0}
SOURCE_FORMATS = ["basic", "extended", "endsong", "api"]


class _Model(pa.DataFrameModel):
    """Extra columns allowed; dtypes coerced so Spark's int32 and int64 both pass."""

    class Config:
        strict = False
        coerce = True


class CatalogTracks(_Model):
    as_of_date: Series[object] = pa.Field(nullable=False)
    track_id: Series[str] = pa.Field(str_matches=r"^[0-9A-Za-z]{22}$")
    artists: Series[str] = pa.Field(str_length={"min_value": 1})
    track_name: Series[str] = pa.Field(str_length={"min_value": 1})
    # Null for catalog layouts without genre or popularity (songs_1_2m, tracks_600k).
    track_genre: Series[str] = pa.Field(str_length={"min_value": 1}, nullable=True)
    popularity: Series[pd.Int64Dtype] = pa.Field(ge=0, le=100, nullable=True)
    duration_ms: Series[int] = pa.Field(ge=0)
    danceability: Series[float] = pa.Field(**UNIT)
    energy: Series[float] = pa.Field(**UNIT)
    valence: Series[float] = pa.Field(**UNIT)
    acousticness: Series[float] = pa.Field(**UNIT)
    speechiness: Series[float] = pa.Field(**UNIT)
    instrumentalness: Series[float] = pa.Field(**UNIT)
    liveness: Series[float] = pa.Field(**UNIT)
    loudness: Series[float] = pa.Field(ge=-60.0, le=5.0)
    tempo: Series[float] = pa.Field(ge=0.0, le=300.0)
    key: Series[int] = pa.Field(ge=-1, le=11)
    mode: Series[int] = pa.Field(isin=[0, 1])
    _source_file: Series[str]
    _source_row: Series[int] = pa.Field(ge=1)


class ListeningEvents(_Model):
    play_date: Series[object]
    ts: Series[pd.DatetimeTZDtype] = pa.Field(**UTC)
    user_id: Series[str] = pa.Field(str_matches=r"^u_[0-9a-f]{16}$")
    ms_played: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True)
    content_type: Series[str] = pa.Field(isin=["track", "episode", "audiobook", "video", "unknown"])
    source_format: Series[str] = pa.Field(isin=SOURCE_FORMATS)
    _source_file: Series[str]
    _record_index: Series[int] = pa.Field(ge=0)

    @pa.dataframe_check(error="only Web API plays may lack ms played")
    def ms_played_known_for_exports(cls, df: pd.DataFrame) -> Series[bool]:
        return df["ms_played"].notna() | (df["source_format"] == "api")

    @pa.dataframe_check(error="play_date must be the UTC day the play started (ts − ms_played)")
    def play_date_is_the_start_day(cls, df: pd.DataFrame) -> Series[bool]:
        started = df["ts"] - pd.to_timedelta(df["ms_played"].fillna(0), unit="ms")
        return started.dt.date == df["play_date"]


class SpotifyTracks(_Model):
    track_id: Series[str] = pa.Field(unique=True, str_matches=r"^[0-9A-Za-z]{22}$")
    lookup_status: Series[str] = pa.Field(isin=["found", "not_found"])
    features_source: Series[str] = pa.Field(isin=["api"], nullable=True)
    valence: Series[float] = pa.Field(nullable=True, **UNIT)
    energy: Series[float] = pa.Field(nullable=True, **UNIT)
    tempo: Series[float] = pa.Field(nullable=True, ge=0.0, le=300.0)


class Tracks(_Model):
    as_of_date: Series[object]
    track_id: Series[str] = pa.Field(unique=True, str_matches=r"^[0-9A-Za-z]{22}$")
    genres: Series[object]
    song_key: Series[str] = pa.Field(str_length={"min_value": 2})
    danceability: Series[float] = pa.Field(**UNIT)
    energy: Series[float] = pa.Field(**UNIT)
    valence: Series[float] = pa.Field(**UNIT)
    acousticness: Series[float] = pa.Field(**UNIT)
    tempo: Series[float] = pa.Field(ge=0.0, le=300.0)

    features_source: Series[str] = pa.Field(isin=["catalog", "api", "artist_estimate"])

    @pa.dataframe_check(error="tracks from the Kaggle catalog need a non-empty genre list")
    def genres_non_empty(cls, df: pd.DataFrame) -> Series[bool]:
        known = df["genres"].map(lambda g: g is not None and len(g) > 0)
        # The 1.2M-song and 600k-track datasets carry no genre.
        layout = df.get("catalog_layout", pd.Series("kaggle_tracks", index=df.index))
        catalog = df["features_source"] == "catalog"
        return known | ~catalog | (layout.fillna("") != "kaggle_tracks")

    @pa.dataframe_check(error="an artist estimate has no title, genre or album")
    def estimates_are_no_songs(cls, df: pd.DataFrame) -> Series[bool]:
        estimate = df["features_source"] == "artist_estimate"
        bare = df["track_name"].isna() & df["genres"].map(lambda g: g is None or len(g) == 0)
        return ~estimate | (bare & df["track_id"].str.startswith("EST"))


class Plays(_Model):
    play_date: Series[object]
    play_id: Series[str] = pa.Field(unique=True)
    user_id: Series[str] = pa.Field(str_matches=r"^u_[0-9a-f]{16}$")
    played_at_utc: Series[pd.DatetimeTZDtype] = pa.Field(**UTC)
    local_hour: Series[int] = pa.Field(ge=0, le=23)
    weekday: Series[int] = pa.Field(ge=1, le=7)
    day_part: Series[str] = pa.Field(isin=DAY_PARTS)
    # A record of 0 ms never sounded: it stays in Bronze and is no play.
    ms_played: Series[pd.Int64Dtype] = pa.Field(gt=0, nullable=True)
    timezone_source: Series[str] = pa.Field(isin=["configured", "country", "default"])
    skipped: Series[bool] = pa.Field(nullable=False)
    skip_source: Series[str] = pa.Field(isin=["flag", "reason_end", "threshold", "api"])
    completion: Series[float] = pa.Field(nullable=True, **UNIT)
    resolution: Series[str] = pa.Field(isin=["id", "name", "artist_estimate", "unresolved"])
    has_features: Series[bool]
    duplicates_merged: Series[int] = pa.Field(ge=0)

    @pa.dataframe_check(error="resolved plays need a track_id, unresolved ones none")
    def resolution_consistent(cls, df: pd.DataFrame) -> Series[bool]:
        return (df["resolution"] == "unresolved") == df["track_id"].isna()


class Users(_Model):
    as_of_date: Series[object]
    user_id: Series[str] = pa.Field(unique=True, str_matches=r"^u_[0-9a-f]{16}$")
    timezone: Series[str]
    plays: Series[int] = pa.Field(ge=1)
    feature_coverage: Series[float] = pa.Field(**UNIT)

    @pa.dataframe_check(error="first play must not be after last play")
    def ordered(cls, df: pd.DataFrame) -> Series[bool]:
        return df["first_play_utc"] <= df["last_play_utc"]


class ListeningByDaypart(_Model):
    user_id: Series[str]
    day_part: Series[str] = pa.Field(isin=DAY_PARTS)
    weekday: Series[int] = pa.Field(ge=1, le=7)
    plays: Series[int] = pa.Field(ge=1)
    skip_rate: Series[float] = pa.Field(**UNIT)
    avg_valence: Series[float] = pa.Field(nullable=True, **UNIT)
    avg_energy: Series[float] = pa.Field(nullable=True, **UNIT)


class MoodByHour(_Model):
    user_id: Series[str]
    local_hour: Series[int] = pa.Field(ge=0, le=23)
    plays: Series[int] = pa.Field(ge=1)
    skip_rate: Series[float] = pa.Field(**UNIT)
    avg_valence: Series[float] = pa.Field(nullable=True, **UNIT)
    avg_energy: Series[float] = pa.Field(nullable=True, **UNIT)

    @pa.dataframe_check(error="one row per user and hour")
    def one_row_per_hour(cls, df: pd.DataFrame) -> Series[bool]:
        return ~df.duplicated(["user_id", "local_hour"], keep=False)


class MoodByDay(_Model):
    user_id: Series[str]
    local_date: Series[object]
    plays: Series[int] = pa.Field(ge=1)
    minutes: Series[float] = pa.Field(ge=0.0, nullable=True)
    skip_rate: Series[float] = pa.Field(**UNIT)
    plays_with_features: Series[int] = pa.Field(ge=0)
    feature_coverage: Series[float] = pa.Field(**UNIT)
    valence_mean: Series[float] = pa.Field(nullable=True, **UNIT)
    energy_mean: Series[float] = pa.Field(nullable=True, **UNIT)
    danceability_mean: Series[float] = pa.Field(nullable=True, **UNIT)
    valence_std: Series[float] = pa.Field(nullable=True, ge=0.0)

    @pa.dataframe_check(error="one row per listener and local day")
    def one_row_per_day(cls, df: pd.DataFrame) -> Series[bool]:
        return ~df.duplicated(["user_id", "local_date"], keep=False)

    @pa.dataframe_check(error="plays with features cannot outnumber plays")
    def covered_plays_are_plays(cls, df: pd.DataFrame) -> Series[bool]:
        return df["plays_with_features"] <= df["plays"]


class Sessions(_Model):
    user_id: Series[str]
    session_no: Series[int] = pa.Field(ge=1)
    day_part: Series[str] = pa.Field(isin=DAY_PARTS)
    length_minutes: Series[float] = pa.Field(ge=0.0)
    plays: Series[int] = pa.Field(ge=1)
    skip_rate: Series[float] = pa.Field(**UNIT)
    valence_arc: Series[float] = pa.Field(nullable=True, ge=-1.0, le=1.0)
    shuffle_share: Series[float] = pa.Field(nullable=True, **UNIT)

    class Config(_Model.Config):
        # One row per listener and session; Spark writes it, so it is also counted across files.
        unique = ["user_id", "session_no", "as_of_date"]


class SessionSummary(_Model):
    user_id: Series[str]
    day_part: Series[str] = pa.Field(isin=DAY_PARTS)
    sessions: Series[int] = pa.Field(ge=1)
    high_energy_share: Series[float] = pa.Field(nullable=True, **UNIT)
    brightening_share: Series[float] = pa.Field(nullable=True, **UNIT)


class _TopList(_Model):
    """A listener's top 20 in each window (transform/habits.py)."""

    user_id: Series[str]
    period: Series[str] = pa.Field(isin=["week", "month", "all_time"])
    rank: Series[int] = pa.Field(ge=1, le=20)
    plays: Series[int] = pa.Field(ge=1)
    minutes: Series[float] = pa.Field(ge=0.0, nullable=True)


class TopArtists(_TopList):
    artist_name: Series[str]


class TopTracks(_TopList):
    track_key: Series[str]


class ListeningContext(_Model):
    user_id: Series[str]
    context: Series[str] = pa.Field(isin=["platform", "shuffle"])
    value: Series[str]
    plays: Series[int] = pa.Field(ge=1)
    skip_rate: Series[float] = pa.Field(**UNIT)
    share: Series[float] = pa.Field(**UNIT)


class FeatureThresholds(_Model):
    user_id: Series[str]
    feature: Series[str] = pa.Field(isin=list(AUDIO_FEATURES))
    outcome: Series[str] = pa.Field(isin=["skipped", "completion"])
    split_point: Series[float] = pa.Field(nullable=True)
    n_discovery: Series[int] = pa.Field(ge=0)
    rate_above: Series[float] = pa.Field(nullable=True, **UNIT)
    rate_below: Series[float] = pa.Field(nullable=True, **UNIT)
    effect_size: Series[float] = pa.Field(nullable=True, ge=-1.0, le=1.0)
    p_value: Series[float] = pa.Field(nullable=True, **UNIT)

    @pa.dataframe_check(error="a tested row has both sides counted, a row without a test a note")
    def tested_or_explained(cls, df: pd.DataFrame) -> Series[bool]:
        tested = df["p_value"].notna()
        return (tested & df["n_above"].notna() & df["n_below"].notna()) | (
            ~tested & df["note"].notna()
        )


TREND_MEASURES = ["plays", "minutes", "skip_rate", "valence", "energy", "danceability"]
TREND_MEASURES += ["feature_coverage"]


class MoodTrends(_Model):
    user_id: Series[str]
    period: Series[str] = pa.Field(isin=["week", "month"])
    period_start: Series[object]
    complete: Series[bool]
    measure: Series[str] = pa.Field(isin=TREND_MEASURES)
    value: Series[float] = pa.Field(nullable=True, ge=0.0)
    baseline_n: Series[int] = pa.Field(ge=0, le=12)
    z_score: Series[float] = pa.Field(nullable=True)

    @pa.dataframe_check(error="one row per listener, period and measure")
    def one_row_per_period(cls, df: pd.DataFrame) -> Series[bool]:
        return ~df.duplicated(["user_id", "period", "period_start", "measure"], keep=False)

    @pa.dataframe_check(error="a z-score only for a complete period")
    def z_only_when_complete(cls, df: pd.DataFrame) -> Series[bool]:
        return df["complete"] | df["z_score"].isna()


class MoodTrendTests(_Model):
    user_id: Series[str]
    measure: Series[str] = pa.Field(isin=TREND_MEASURES)
    months: Series[int] = pa.Field(ge=0, le=12)
    kendall_tau: Series[float] = pa.Field(nullable=True, ge=-1.0, le=1.0)
    p_value: Series[float] = pa.Field(nullable=True, **UNIT)

    @pa.dataframe_check(error="a trend test needs at least six months")
    def enough_months(cls, df: pd.DataFrame) -> Series[bool]:
        return df["p_value"].isna() | (df["months"] >= 6)


class Insights(_Model):
    user_id: Series[str]
    rank: Series[int] = pa.Field(ge=1)
    kind: Series[str] = pa.Field(isin=["week", "trend", "threshold", "correlation", "habit"])
    sentence: Series[str] = pa.Field(str_length={"min_value": 10})
    p_value: Series[float] = pa.Field(nullable=True, **UNIT)
    p_adjusted: Series[float] = pa.Field(nullable=True, le=0.05, ge=0.0)

    @pa.dataframe_check(error="one rank per sentence of a listener")
    def ranks_unique(cls, df: pd.DataFrame) -> Series[bool]:
        return ~df.duplicated(["user_id", "rank"], keep=False)

    @pa.dataframe_check(error="a tested sentence carries its adjusted p-value")
    def tested_sentences_adjusted(cls, df: pd.DataFrame) -> Series[bool]:
        return df["p_value"].isna() == df["p_adjusted"].isna()


class GenreMix(_Model):
    user_id: Series[str]
    genre: Series[str]
    plays: Series[float] = pa.Field(gt=0)
    share: Series[float] = pa.Field(gt=0, le=1)

    @pa.dataframe_check(error="genre shares must sum to 1 per user")
    def shares_sum_to_one(cls, df: pd.DataFrame) -> Series[bool]:
        totals = df.groupby("user_id")["share"].transform("sum")
        return (totals - 1).abs() < 1e-6


class TrackEngagement(_Model):
    user_id: Series[str]
    track_key: Series[str]
    plays: Series[int] = pa.Field(ge=1)
    skips: Series[int] = pa.Field(ge=0)
    skip_rate: Series[float] = pa.Field(**UNIT)
    avg_completion: Series[float] = pa.Field(nullable=True, **UNIT)

    @pa.dataframe_check(error="skips cannot exceed plays")
    def skips_le_plays(cls, df: pd.DataFrame) -> Series[bool]:
        return df["skips"] <= df["plays"]


class FeatureCorrelations(_Model):
    user_id: Series[str]
    feature: Series[str]
    metric: Series[str] = pa.Field(isin=["play_count", "skip_rate"])
    pearson_r: Series[float] = pa.Field(nullable=True, ge=-1.0, le=1.0)
    p_value: Series[float] = pa.Field(nullable=True, **UNIT)
    n: Series[int] = pa.Field(ge=0)


class FeatureGaps(_Model):
    user_id: Series[str]
    feature: Series[str]
    n_plays: Series[int] = pa.Field(ge=1)
    user_mean: Series[float]
    catalog_mean: Series[float]
    gap: Series[float]


class GenreDiscovery(_Model):
    user_id: Series[str]
    genre: Series[str]
    explored: Series[bool]
    user_plays: Series[int] = pa.Field(ge=0)
    affinity: Series[float] = pa.Field(gt=0, le=1)


class TrackMoods(_Model):
    as_of_date: Series[object]
    track_id: Series[str] = pa.Field(unique=True)
    mood: Series[str] = pa.Field(
        isin=["happy", "sad", "chill", "party", "sleep", "study", "romance"]
    )
    probability: Series[float] = pa.Field(**UNIT)
    in_training: Series[bool]


class ListeningModes(_Model):
    as_of_date: Series[object]
    user_id: Series[str] = pa.Field(str_matches=r"^u_[0-9a-f]{16}$")
    mode_id: Series[int] = pa.Field(ge=0)
    name: Series[str] = pa.Field(str_length={"min_value": 3})
    plays: Series[int] = pa.Field(ge=1)
    share: Series[float] = pa.Field(**UNIT)
    typical_day_part: Series[str] = pa.Field(isin=DAY_PARTS)
    centroid_valence: Series[float] = pa.Field(**UNIT)
    centroid_energy: Series[float] = pa.Field(**UNIT)

    @pa.dataframe_check(error="each listener's mode shares sum to 1")
    def shares_sum_to_one(cls, df: pd.DataFrame) -> Series[bool]:
        return (df.groupby("user_id")["share"].transform("sum") - 1).abs() < 1e-6


class PreferenceModel(_Model):
    as_of_date: Series[object]
    user_id: Series[str] = pa.Field(unique=True, str_matches=r"^u_[0-9a-f]{16}$")
    status: Series[str] = pa.Field(isin=["trained", "skipped"])
    auc: Series[float] = pa.Field(nullable=True, **UNIT)
    baseline_auc: Series[float] = pa.Field(nullable=True, **UNIT)

    @pa.dataframe_check(error="a skipped listener needs a reason, a trained one an AUC")
    def explained(cls, df: pd.DataFrame) -> Series[bool]:
        trained = df["status"] == "trained"
        return (trained & df["auc"].notna()) | (~trained & df["reason"].notna())


class AlsRecommendations(_Model):
    as_of_date: Series[object]
    user_id: Series[str] = pa.Field(str_matches=r"^u_[0-9a-f]{16}$")
    rank: Series[int] = pa.Field(ge=1)
    track_id: Series[str] = pa.Field(str_matches=r"^[0-9A-Za-z]{22}$")
    als_score: Series[float] = pa.Field(**UNIT)
    unit: Series[str] = pa.Field(isin=["user", "session"])
    basis: Series[str] = pa.Field(str_length={"min_value": 3})

    @pa.dataframe_check(error="one row per listener and rank, one rank per listener and track")
    def ranked_once(cls, df: pd.DataFrame) -> Series[bool]:
        by_rank = ~df.duplicated(["user_id", "rank"], keep=False)
        by_track = ~df.duplicated(["user_id", "track_id"], keep=False)
        return by_rank & by_track


class Recommendations(_Model):
    as_of_date: Series[object]
    user_id: Series[str] = pa.Field(str_matches=r"^u_[0-9a-f]{16}$")
    day_part: Series[str] = pa.Field(isin=DAY_PARTS)
    mode: Series[str] = pa.Field(isin=["mirror", "coach"])
    rank: Series[int] = pa.Field(ge=1)
    track_id: Series[str] = pa.Field(str_matches=r"^[0-9A-Za-z]{22}$")
    match_score: Series[float] = pa.Field(**UNIT)
    improvement_score: Series[float] = pa.Field(**UNIT)
    als_score: Series[float] = pa.Field(nullable=True, **UNIT)
    low_valence_days: Series[int] = pa.Field(ge=0)

    @pa.dataframe_check(error="a list holds a track once and each rank once")
    def ranked_once(cls, df: pd.DataFrame) -> Series[bool]:
        keys = ["user_id", "day_part", "mode"]
        return ~df.duplicated([*keys, "rank"], keep=False) & ~df.duplicated(
            [*keys, "track_id"], keep=False
        )

    @pa.dataframe_check(error="coach picks must improve on the recent mean")
    def coach_improves(cls, df: pd.DataFrame) -> Series[bool]:
        return (df["mode"] != "coach") | (df["improvement_score"] > 0)


SUBJECTS = ["recommendation", "mood"]


class ShapValues(_Model):
    as_of_date: Series[object]
    subject: Series[str] = pa.Field(isin=SUBJECTS)
    track_id: Series[str] = pa.Field(str_matches=r"^[0-9A-Za-z]{22}$")
    feature: Series[str]
    shap_value: Series[float]
    share: Series[float] = pa.Field(**UNIT)


class Explanations(_Model):
    as_of_date: Series[object]
    subject: Series[str] = pa.Field(isin=SUBJECTS)
    track_id: Series[str] = pa.Field(str_matches=r"^[0-9A-Za-z]{22}$")
    label: Series[str]
    sentence: Series[str] = pa.Field(str_length={"min_value": 20})

    @pa.dataframe_check(error="a recommendation is explained for its listener, day part and list")
    def recommendation_keys(cls, df: pd.DataFrame) -> Series[bool]:
        recs = df["subject"] == "recommendation"
        keyed = df[["user_id", "day_part", "mode", "rank"]].notna().all(axis=1)
        return ~recs | keyed


class Quarantine(_Model):
    asset: Series[str] = pa.Field(str_length={"min_value": 1})
    source_file: Series[str] = pa.Field(nullable=True)
    record_index: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True)
    reason: Series[str] = pa.Field(str_length={"min_value": 1})


class ModelMetrics(_Model):
    as_of_date: Series[object]
    model: Series[str] = pa.Field(str_length={"min_value": 1})
    metric: Series[str] = pa.Field(str_length={"min_value": 1})
    value: Series[float] = pa.Field(nullable=True)
    baseline: Series[float] = pa.Field(nullable=True)
    n_eval: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True)


class AuditEvents(_Model):
    event_id: Series[str] = pa.Field(unique=True, str_matches=r"^[0-9a-f-]{36}$")
    at_utc: Series[pd.DatetimeTZDtype] = pa.Field(**UTC)
    action: Series[str] = pa.Field(str_matches=r"^[a-z][a-z_]*$")
    # A pseudonym or an erasure token, never an account name; null for lake-wide events.
    subject: Series[str] = pa.Field(str_matches=r"^(u_|erased:)[0-9a-f]{16}$", nullable=True)
    rows: Series[pd.Int64Dtype] = pa.Field(ge=0, nullable=True)
    detail: Series[str]
    actor: Series[str] = pa.Field(str_length={"min_value": 1})

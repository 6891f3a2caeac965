"""A generated crowd built end to end with `moodlake demo --crowd` and `moodlake build`: the
profiles land masked, every platform table and crowd model is written and scored beside its
baseline, the farms are found and kept out of the crowd's top lists and of ALS, and no crowd
row rests on fewer than MOODLAKE_MIN_GROUP listeners."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from deltalake import DeltaTable
from helpers import cli_env, run_cli

from moodlake_dagster.ingest.privacy import pseudonymize
from moodlake_dagster.tables import TABLES

KEY = "crowd-test-key"
LISTENERS, DAYS = 80, 120
CLEAR_EMAIL = re.compile(r"[A-Za-z0-9._-]{3,}@example\.org")


def _read(lake, path: str) -> pd.DataFrame:
    return DeltaTable(str(lake / path)).to_pandas()


@pytest.fixture(scope="module")
def crowd(spark_url, tmp_path_factory):
    root = tmp_path_factory.mktemp("crowd")
    with cli_env(root, spark_url, KEY):
        code, out = run_cli(
            "demo", "--crowd", str(LISTENERS), "--days", str(DAYS), "--out", str(root / "landing")
        )
        assert code == 0, out
        answers = json.loads((root / "home" / "demo" / "crowd_answers_GENERATED.json").read_text())
        code, out = run_cli("build")
        assert code == 0, out
        yield {"root": root, "lake": root / "home" / "lake", "answers": answers, "out": out}


def _metrics(lake, model: str) -> dict[str, pd.Series]:
    rows = _read(lake, "gold/model_metrics")
    rows = rows[(rows["model"] == model) & (rows["as_of_date"] == rows["as_of_date"].max())]
    return {row["metric"]: row for _, row in rows.iterrows()}


def test_profiles_land_masked_and_no_table_holds_a_clear_email(crowd):
    lake = crowd["lake"]
    profiles = _read(lake, "silver/profiles")
    assert len(profiles) == LISTENERS
    assert profiles["email_masked"].str.fullmatch(r"\w\*\*\*\w?@example\.org").all()
    assert "birth_year" not in profiles.columns
    for path in TABLES:
        if DeltaTable.is_deltatable(str(lake / path)):
            frame = _read(lake, path).astype(str)
            assert not frame.apply(lambda c: c.str.contains(CLEAR_EMAIL).any()).any(), path


def test_farms_are_flagged_and_scored_against_the_answer_file(crowd):
    lake, key = crowd["lake"], KEY.encode()
    farms = {pseudonymize(account, key) for account in crowd["answers"]["farms"]}
    flagged = set(_read(lake, "gold/farm_flags")["user_id"])
    recall = len(flagged & farms) / len(farms)
    assert recall >= 0.8
    scored = _metrics(lake, "stream_farming")
    assert scored["recall"]["value"] == pytest.approx(recall)
    # Their plays teach ALS nothing, so nothing is recommended to them from it either.
    als = _read(lake, "gold/als_recommendations")
    assert not set(als["user_id"]) & flagged


def test_crowd_top_rows_stand_on_min_group_people_without_the_farms(crowd):
    lake = crowd["lake"]
    top = _read(lake, "gold/crowd_top")
    assert len(top) and (top["listeners"] >= 5).all()
    flagged = set(_read(lake, "gold/farm_flags")["user_id"])
    plays = _read(lake, "silver/plays")
    plays = plays[~plays["user_id"].isin(flagged) & plays["track_id"].notna()]
    week = pd.to_datetime(plays["local_date"])
    plays["week_start"] = (week - pd.to_timedelta(week.dt.weekday, unit="D")).dt.date
    counted = plays.groupby(["week_start", "track_id"]).agg(
        plays=("play_id", "size"), listeners=("user_id", "nunique")
    )
    tracks = top[top["kind"] == "track"].set_index(["week_start", "item"])
    expected = counted.loc[tracks.index]
    assert (expected["listeners"].to_numpy() == tracks["listeners"].to_numpy()).all()
    assert (expected["plays"].to_numpy() == tracks["plays"].to_numpy()).all()


def test_every_crowd_model_is_written_beside_its_baseline(crowd):
    lake = crowd["lake"]
    segments = _read(lake, "gold/listener_segments")
    assert segments["segment"].nunique() == segments["segment_id"].nunique() >= 2
    churn = _metrics(lake, "churn")
    assert churn["roc_auc"]["baseline"] is not None and churn["roc_auc"]["n_eval"] >= 30
    assert len(_read(lake, "gold/churn_risk"))
    popularity = _metrics(lake, "popularity")
    assert popularity["roc_auc"]["value"] > popularity["roc_auc"]["baseline"]
    playlists = _read(lake, "gold/mood_playlists")
    sizes = playlists.groupby(["user_id", "mood", "day_part"]).size()
    assert sizes.max() <= 20 and sizes.min() >= 5
    for table in ("active_listeners", "retention_cohorts", "plan_country_mix"):
        assert len(_read(lake, f"gold/{table}")), table
    mix = _read(lake, "gold/plan_country_mix")
    assert mix["listeners"].sum() == LISTENERS

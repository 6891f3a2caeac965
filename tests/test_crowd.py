"""The seeded crowd generator (demo/crowd.py): deterministic, farms and churners shaped as the
models expect, nobody plays before signing up, and the files say what the frames say."""

from __future__ import annotations

import csv
import datetime as dt
import ipaddress
import json

import pandas as pd
import pytest
from helpers import CATALOG_SAMPLE, NOW

from moodlake_dagster.demo.crowd import COUNTRY_OFFSETS, PLAYS_COLUMNS, crowd, write_crowd
from moodlake_dagster.demo.generator import GENERATOR_PLATFORM
from moodlake_dagster.ingest.history import parse_history
from moodlake_dagster.ingest.privacy import pseudonymize

START = dt.date(2025, 1, 1)
DAYS = 120
END = START + dt.timedelta(days=DAYS - 1)
KEY = b"test-key"


@pytest.fixture(scope="module")
def made():
    return crowd(CATALOG_SAMPLE, listeners=60, start=START, days=DAYS, seed=11)


def test_the_same_seed_gives_the_same_crowd(made):
    again = crowd(CATALOG_SAMPLE, listeners=60, start=START, days=DAYS, seed=11)
    other = crowd(CATALOG_SAMPLE, listeners=60, start=START, days=DAYS, seed=12)
    pd.testing.assert_frame_equal(made.plays, again.plays)
    pd.testing.assert_frame_equal(made.profiles, again.profiles)
    assert made.answers == again.answers
    assert len(made.plays) != len(other.plays) or not made.plays.equals(other.plays)
    assert made.answers["churners"] != other.answers["churners"]


def test_plays_frame_has_the_shared_shape(made):
    plays = made.plays
    assert list(plays.columns) == PLAYS_COLUMNS
    assert str(plays["played_at_utc"].dtype) == "datetime64[us, UTC]"
    assert plays["track_id"].notna().all()
    assert set(plays["track_id"]) <= set(made.tracks["track_id"])
    assert set(plays["user_id"]) <= set(made.profiles["user_id"])
    started = plays["played_at_utc"] - pd.to_timedelta(plays["ms_played"], unit="ms")
    assert (plays["play_date"] == started.dt.date).all()
    # Local time is the start shifted by the country's fixed offset.
    country = plays["user_id"].map(made.profiles.set_index("user_id")["country"])
    local = started + pd.to_timedelta(country.map(COUNTRY_OFFSETS), unit="h")
    assert (plays["local_date"] == local.dt.date).all()
    assert (plays["local_hour"] == local.dt.hour).all()
    assert (plays["weekday"] == local.dt.dayofweek + 1).all()
    expected_part = local.dt.hour.floordiv(6).map(
        dict(enumerate(["night", "morning", "afternoon", "evening"]))
    )
    assert (plays["day_part"] == expected_part).all()
    assert plays["completion"].between(0, 1).all()
    ordinary = plays[~plays["user_id"].isin(made.answers["farms"])]
    per_day = len(ordinary) / (ordinary["user_id"].nunique() * DAYS)
    assert 5 <= per_day <= 12


def test_tracks_frame_lists_every_genre_of_a_track(made):
    # A catalog row without artist or title names no track: the generator drops it.
    catalog = pd.read_csv(CATALOG_SAMPLE).dropna(subset=["track_id", "artists", "track_name"])
    tracks = made.tracks
    assert tracks["track_id"].is_unique
    assert len(tracks) == catalog["track_id"].nunique()
    repeated = catalog["track_id"][catalog["track_id"].duplicated()].iloc[0]
    genres = tracks.set_index("track_id").loc[repeated, "genres"]
    assert sorted(genres) == sorted(
        set(catalog.loc[catalog["track_id"] == repeated, "track_genre"])
    )
    row = tracks.iloc[0]
    assert row["primary_artist"] == row["artists"].split(";")[0]


def test_farm_accounts_loop_few_tracks_round_the_clock_just_past_30_s(made):
    farms = made.answers["farms"]
    assert len(farms) == 3  # max(3, 2% of 60)
    plays = made.plays
    for account in farms:
        own = plays[plays["user_id"] == account]
        assert own["ms_played"].between(30_000, 40_000).all()
        assert own["local_hour"].nunique() >= 20
        assert own["track_id"].nunique() <= 15
        assert own.groupby("local_date").size().median() >= 100
        assert own["skipped"].mean() < 0.1
    # Three farms make one ring: every account loops the same pool.
    pools = plays[plays["user_id"].isin(farms)].groupby("user_id")["track_id"].agg(frozenset)
    assert pools.nunique() == 1
    profiles = made.profiles.set_index("user_id").loc[farms]
    assert set(profiles["plan"]) <= {"free", "premium"}
    ordinary = plays[~plays["user_id"].isin(farms)]
    assert ordinary.groupby("user_id")["track_id"].nunique().min() > 15


def test_churners_fade_then_stop(made):
    plays, answers = made.plays, made.answers
    churners = answers["churners"]
    ordinary = made.profiles["user_id"].nunique() - len(answers["farms"])
    assert 0.1 <= len(churners) / ordinary <= 0.45  # ~25% of the ordinary listeners
    last = plays.groupby("user_id")["local_date"].max()
    before, final, stopped = 0, 0, 0
    for account in churners:
        own = plays.loc[plays["user_id"] == account, "local_date"]
        start = dt.date.fromisoformat(answers["churn_start"][account])
        stop = dt.date.fromisoformat(answers["churn_end"][account])
        if stop <= END:
            stopped += 1
            assert last[account] < stop
        before += int(
            own.between(start - dt.timedelta(days=14), start - dt.timedelta(days=1)).sum()
        )
        final += int(own.between(last[account] - dt.timedelta(days=13), last[account]).sum())
    assert stopped >= len(churners) // 2
    assert before > 1.3 * final
    # A long gap alone is no churn: some listeners who stay took a break of 2+ weeks.
    stayers = plays[~plays["user_id"].isin(churners + answers["farms"])]
    days = stayers.drop_duplicates(["user_id", "local_date"])[["user_id", "local_date"]]
    gaps = pd.to_datetime(days["local_date"]).groupby(days["user_id"]).diff().dt.days
    assert (gaps.groupby(days["user_id"]).max() >= 14).sum() >= 3


def test_nobody_plays_before_signing_up(made):
    signup = made.plays["user_id"].map(made.profiles.set_index("user_id")["signup_date"])
    assert (made.plays["local_date"] > signup).all()
    assert (made.plays["play_date"] >= signup).all()
    rows = made.profile_rows
    assert rows["signup_date"].min() >= START - dt.timedelta(days=548)
    assert rows["signup_date"].max() <= END - dt.timedelta(days=60)
    assert "email" not in made.profiles.columns and "birth_year" not in made.profiles.columns
    assert rows["email"].str.endswith("@example.org").all()


def test_written_files_parse_to_the_same_plays(tmp_path):
    landing, answer_file = tmp_path / "landing", tmp_path / "answers" / "crowd.json"
    # Across new year: one file per account and year, as Spotify ships them.
    kwargs = {"listeners": 12, "start": dt.date(2025, 12, 1), "days": 60, "seed": 3, "farms": 1}
    counts = write_crowd(CATALOG_SAMPLE, landing, answer_file, **kwargs)
    frames = crowd(CATALOG_SAMPLE, **kwargs)
    assert counts["plays"] == len(frames.plays) and counts["farms"] == 1
    batch = parse_history(
        landing, key=KEY, default_user="me", now=NOW, batch_id="t", ingested_at=NOW
    )
    assert not batch.bad
    events = pd.DataFrame(batch.events)
    assert len(events) == len(frames.plays)
    expected = frames.plays.assign(
        user_id=frames.plays["user_id"].map(lambda a: pseudonymize(a, KEY))
    )
    for frame, time_column in ((events, "ts"), (expected, "played_at_utc")):
        frame.sort_values(["user_id", time_column], inplace=True, ignore_index=True)
    assert events.groupby("user_id").size().equals(expected.groupby("user_id").size())
    assert (pd.to_datetime(events["ts"], utc=True) == expected["played_at_utc"]).all()
    assert (events["ms_played"] == expected["ms_played"]).all()
    assert (events["skipped"] == expected["skipped"]).all()
    assert (events["play_date"] == expected["play_date"]).all()
    country = expected["user_id"].map(
        dict(
            zip(
                frames.profiles["user_id"].map(lambda a: pseudonymize(a, KEY)),
                frames.profiles["country"],
                strict=True,
            )
        )
    )
    assert (events["conn_country"] == country).all()
    assert set(events["platform"]) == {GENERATOR_PLATFORM}
    record = json.loads(next(landing.glob("crowd-0001/*_GENERATED.json")).read_text())[0]
    assert ipaddress.ip_address(record["ip_addr"]) in ipaddress.ip_network("192.0.2.0/24")
    written = sorted(landing.glob("*/Streaming_History_Audio_*_GENERATED.json"))
    assert counts["files"] == len(written)
    assert {path.name.split("_")[3] for path in written} == {"2025", "2026"}
    assert (landing / "GENERATED.md").exists()
    assert json.loads(answer_file.read_text()) == json.loads(json.dumps(frames.answers))
    with open(landing / "profiles_GENERATED.csv", newline="") as handle:
        reader = csv.reader(handle)
        assert next(reader) == ["account", "email", "birth_year", "country", "plan", "signup_date"]
        assert sum(1 for _ in reader) == 12


def test_the_answer_file_is_refused_inside_the_landing(tmp_path):
    landing = tmp_path / "landing"
    with pytest.raises(ValueError, match="must not be inside"):
        write_crowd(CATALOG_SAMPLE, landing, landing / "sub" / "answers.json", listeners=5, days=30)
    assert not (landing / "sub" / "answers.json").exists()

"""Mood playlists (ml/playlists.py) on small hand-built listeners and on the crowd: length,
artist spacing, the energy arc, favourites and new tracks, the held-out hit rate, M3U/JSON."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from moodlake_dagster.ml import playlists
from moodlake_dagster.vocabulary import DAY_PARTS, MOODS

AS_OF = dt.date(2025, 3, 31)
FEATURES = list(playlists.FEATURES)


def small_world(listeners: int = 12, days: int = 90, seed: int = 3):
    """A catalog of 700 tracks (100 per mood, 40 artists) and listeners who each like a few
    dozen tracks of two or three moods, replayed (mostly through) across the days, with a
    little random catalog listening on top."""
    rng = np.random.default_rng(seed)
    n = 700
    mood = np.repeat(MOODS, n // len(MOODS))
    tracks = pd.DataFrame(
        {
            "track_id": [f"t{i:04d}" for i in range(n)],
            "track_name": [f"Song {i}" for i in range(n)],
            "primary_artist": [f"Artist {i % 40}" for i in range(n)],
            "album_name": "Album",
            "duration_ms": 200_000,
            "popularity": 50,
            "genres": [["pop"]] * n,
        }
    )
    tracks["artists"] = tracks["primary_artist"]
    centre = {m: rng.uniform(0.1, 0.9, len(FEATURES)) for m in MOODS}
    feats = np.vstack([centre[m] + rng.normal(0, 0.12, len(FEATURES)) for m in mood])
    tracks[FEATURES] = np.clip(feats, 0, 1)
    tracks["tempo"] = 60 + 120 * tracks["tempo"]
    tracks["loudness"] = -30 + 28 * tracks["loudness"]
    moods = pd.DataFrame(
        {"track_id": tracks["track_id"], "mood": mood, "probability": rng.uniform(0.3, 1.0, n)}
    )
    moods.loc[:20, "probability"] = 0.9
    rows = []
    start = AS_OF - dt.timedelta(days=days - 1)
    for u in range(listeners):
        liked_moods = rng.choice(MOODS, size=3, replace=False)
        liked = tracks[np.isin(mood, liked_moods)].sample(45, random_state=u)["track_id"]
        for d in range(days):
            k = rng.integers(3, 12)
            own = rng.choice(liked.to_numpy(), size=k)
            other = rng.choice(tracks["track_id"].to_numpy(), size=rng.integers(0, 3))
            for tid in [*own, *other]:
                hour = int(rng.integers(0, 24))
                skipped = bool(rng.random() < (0.15 if tid in set(own) else 0.6))
                rows.append(
                    {
                        "user_id": f"u{u:02d}",
                        "track_id": tid,
                        "play_date": start + dt.timedelta(days=d),
                        "local_hour": hour,
                        "day_part": DAY_PARTS[hour // 6],
                        "skipped": skipped,
                        "completion": rng.uniform(0.1, 0.5) if skipped else 1.0,
                    }
                )
    return pd.DataFrame(rows), tracks, moods


@pytest.fixture(scope="module")
def world():
    plays, tracks, moods = small_world()
    out = playlists.build(plays, tracks, moods, AS_OF)
    return plays, tracks, moods, out, out.rows.to_pandas()


def check_playlists(rows, plays, tracks, moods, length=20):
    """The properties every playlist must have, checked over all of them at once; returns
    how many there are."""
    assert len(rows), "no playlist at all"
    keys = ["user_id", "mood", "day_part"]
    rows = rows.sort_values([*keys, "position"]).reset_index(drop=True)
    size = rows.groupby(keys)["position"].transform("size")
    assert size.between(5, length).all()
    assert (rows["position"] == rows.groupby(keys).cumcount() + 1).all()
    assert not rows.duplicated([*keys, "track_id"]).any()
    mood_of = moods[moods["probability"] >= 0.5].set_index("track_id")["mood"]
    assert (rows["track_id"].map(mood_of) == rows["mood"]).all()
    artist = tracks.drop_duplicates("track_id").set_index("track_id")["primary_artist"]
    rows["artist"] = rows["track_id"].map(artist)
    group = rows.groupby(keys).ngroup()
    for lag in (1, 2):  # no artist twice within any three consecutive tracks
        clash = (group.shift(lag) == group) & (rows["artist"].shift(lag) == rows["artist"])
        assert not clash.any(), rows[clash]
    through = plays[(plays["completion"] >= 0.9) | ~plays["skipped"].astype(bool)]
    pairs = through[["user_id", "track_id"]].drop_duplicates().assign(through=True)
    fav = rows[rows["source"] == "favourite"].merge(pairs, on=["user_id", "track_id"], how="left")
    assert fav["through"].notna().all(), "a favourite the listener never played through"
    ever = plays[["user_id", "track_id"]].drop_duplicates().assign(played=True)
    new = rows[rows["source"] == "new"].merge(ever, on=["user_id", "track_id"], how="left")
    assert new["played"].isna().all(), "a new track the listener had played"
    peak = rows.loc[rows.groupby(group)["energy"].idxmax()]
    share = peak["position"] / size[peak.index]
    # The peak sits in the middle third (spacing swaps may dent a few lists).
    assert (share.gt(1 / 3) & share.le(2 / 3 + 1e-9)).mean() >= 0.9, share.describe()
    return int(group.nunique())


def test_playlists_have_their_shape(world):
    plays, tracks, moods, _, rows = world
    assert list(rows.columns) == playlists.SCHEMA.names
    checked = check_playlists(rows, plays, tracks, moods)
    assert checked >= 12 * 4, checked
    full = rows.groupby(["user_id", "mood", "day_part"]).size()
    assert (full == 20).mean() > 0.5
    halves = rows.groupby(["user_id", "mood", "day_part"])["source"].agg(
        lambda s: (s == "new").mean()
    )
    assert halves.between(0.5, 1.0).all()


def test_energy_arc_rises_then_eases():
    n = np.full(20, 20)
    t = playlists.arc_targets(n, np.arange(20))
    peak = int(t.argmax())
    assert peak == 11  # position 12 of 20: the middle third
    assert (np.diff(t[: peak + 1]) > 0).all() and (np.diff(t[peak:]) < 0).all()
    assert t[0] == 0 and t[-1] == pytest.approx(playlists.END)


def test_favourites_prefer_the_day_part():
    """Two equally loved tracks: the one played at night leads the night playlist's
    favourites, the one played in the morning the morning's."""
    plays, tracks, moods = small_world(listeners=1, days=20)
    moods["probability"] = 0.9
    cat = playlists.labelled_catalog(tracks, moods)
    night, morning = cat[cat["mood"] == "happy"]["track_id"].iloc[[0, 1]]
    extra = pd.DataFrame(
        [
            {"track_id": tid, "day_part": part, "local_hour": hour}
            for tid, part, hour in ((night, "night", 2), (morning, "morning", 8))
            for _ in range(60)
        ]
    ).assign(user_id="u00", play_date=AS_OF, skipped=False, completion=1.0)
    fav = playlists._favourites(pd.concat([plays, extra]), cat)
    top = fav[fav["mood"] == "happy"].sort_values("score", ascending=False)
    assert top[top["day_part"] == "night"]["track_id"].iloc[0] == night
    assert top[top["day_part"] == "morning"]["track_id"].iloc[0] == morning


def test_space_artists_removes_every_clash():
    names = ["a", "a", "b", "b", "c", "a", "c", "d", "e"]
    order = playlists.space_artists(names)
    assert playlists.clashes([names[i] for i in order]) == []
    assert sorted(order) == list(range(len(names)))
    assert playlists.space_artists(["a", "a", "a"]) == [0]


def test_hit_rate_beats_random(world):
    _, _, _, out, _ = world
    row, new = out.metrics["mood_playlists"]
    assert row["metric"] == "hit_rate" and row["n_eval"] > 100
    assert row["value"] > row["baseline"] + 0.1, row
    assert out.metadata["hit_rate"] == row["value"]
    assert "plot" in out.figures


def test_holdout_is_each_listeners_last_two_weeks():
    plays = pd.DataFrame(
        {
            "user_id": ["a"] * 3 + ["b"] * 2,
            "play_date": [AS_OF - dt.timedelta(days=d) for d in (0, 13, 14)]
            + [AS_OF - dt.timedelta(days=d) for d in (30, 50)],
        }
    )
    before, later = playlists.holdout(plays)
    assert later["user_id"].tolist() == ["a", "a", "b"]
    assert before["play_date"].tolist() == [AS_OF - dt.timedelta(days=14), AS_OF - dt.timedelta(50)]


def test_nothing_after_as_of_is_used(world):
    plays, tracks, moods, _, rows = world
    early = AS_OF - dt.timedelta(days=30)
    out = playlists.build(plays, tracks, moods, early).rows.to_pandas()
    later_only = set(plays.loc[plays["play_date"] > early, "track_id"]) - set(
        plays.loc[plays["play_date"] <= early, "track_id"]
    )
    assert not set(out.loc[out["source"] == "favourite", "track_id"]) & later_only
    assert (out["as_of_date"] == early).all()


def test_m3u_and_json_round_trip(world):
    *_, rows = world
    one = rows[(rows["user_id"] == rows["user_id"].iloc[0])]
    one = one[(one["mood"] == one["mood"].iloc[0]) & (one["day_part"] == one["day_part"].iloc[0])]
    text = playlists.to_m3u(one.sample(frac=1.0, random_state=1))
    assert text.startswith("#EXTM3U\n")
    back = playlists.from_m3u(text)
    ordered = one.sort_values("position")
    assert [b["track_id"] for b in back] == ordered["track_id"].tolist()
    assert [b["track_name"] for b in back] == ordered["track_name"].tolist()
    payload = json.loads(playlists.to_json(one))
    assert payload["user_id"] == one["user_id"].iloc[0]
    assert [t["position"] for t in payload["tracks"]] == list(range(1, len(one) + 1))
    assert [t["track_id"] for t in payload["tracks"]] == ordered["track_id"].tolist()
    assert payload["tracks"][0]["energy"] == pytest.approx(ordered["energy"].iloc[0])


def test_too_little_makes_no_playlist():
    plays, tracks, moods = small_world(listeners=1, days=3)
    moods["probability"] = 0.2  # nothing has a mood
    out = playlists.build(plays, tracks, moods, AS_OF)
    assert out.rows.num_rows == 0
    assert out.metrics["mood_playlists"][0]["n_eval"] == 0


@pytest.fixture(scope="module")
def crowd_world():
    """80 crowd listeners over 100 days, tracks labelled by the mood model's linear half."""
    from helpers import CATALOG_SAMPLE

    from moodlake_dagster.demo.crowd import crowd
    from moodlake_dagster.ml import mood

    people = crowd(CATALOG_SAMPLE, listeners=80, days=100, seed=7)
    labelled = mood.labelled_tracks(people.tracks)
    features = labelled[list(mood.FEATURES)].to_numpy(dtype=float)
    estimator = mood.baseline().fit(features, labelled["label"])
    known = people.tracks.dropna(subset=list(mood.FEATURES))
    moods = mood.label(estimator, known)
    as_of = people.plays["play_date"].max()
    out = playlists.build(people.plays, people.tracks, moods, as_of)
    return people, moods, out


def test_crowd_playlists_hold_and_beat_random(crowd_world):
    people, moods, out = crowd_world
    rows = out.rows.to_pandas()
    checked = check_playlists(rows, people.plays, people.tracks, moods)
    assert rows["user_id"].nunique() >= 60 and checked >= 400
    row, new = out.metrics["mood_playlists"]
    assert row["n_eval"] >= 1_000
    assert row["value"] > 2 * row["baseline"], row

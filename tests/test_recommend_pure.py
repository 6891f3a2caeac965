"""Mirror and coach without a trained model (ml/recommend.py): the coach's step and caps, the
recent means it starts from, candidates, and the lists built from a stand-in match score."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from moodlake_dagster.ml import recommend
from moodlake_dagster.vocabulary import DAY_PARTS

AS_OF = dt.date(2025, 4, 30)


def test_the_step_gain_peaks_at_a_tenth_and_ends_at_the_band_edges():
    deltas = np.array([-0.10, 0.0, 0.04, 0.05, 0.075, 0.10, 0.125, 0.15, 0.16, 0.45 - 0.40])
    expected = [0.0, 0.0, 0.0, 0.5, 0.75, 1.0, 0.75, 0.5, 0.0, 0.5]
    assert recommend.step_gain(deltas).tolist() == pytest.approx(expected)


def test_a_jump_in_either_feature_beyond_the_cap_scores_nothing():
    valence, energy = np.array([0.50, 0.50, 0.50]), np.array([0.50, 0.70, 0.30])
    gain, dv, de = recommend.improvement(valence, energy, 0.40, 0.50, streak=False)
    assert dv.tolist() == pytest.approx([0.1, 0.1, 0.1])
    assert de.tolist() == pytest.approx([0.0, 0.2, -0.2])
    # A perfect valence step is void when energy jumps or drops by 0.2.
    assert gain.tolist() == pytest.approx([1.0, 0.0, 0.0])


def test_after_a_low_valence_streak_only_valence_steps_count():
    valence, energy = np.array([0.40, 0.50]), np.array([0.60, 0.50])
    normal, *_ = recommend.improvement(valence, energy, 0.40, 0.50, streak=False)
    nudging, *_ = recommend.improvement(valence, energy, 0.40, 0.50, streak=True)
    assert normal.tolist() == pytest.approx([1.0, 1.0])  # energy +0.10, valence +0.10
    assert nudging.tolist() == pytest.approx([0.0, 1.0])


def _plays(rows: list[tuple[str, str, float, float]]) -> pd.DataFrame:
    """(play day, day part, valence, energy) per play."""
    frame = pd.DataFrame(rows, columns=["play_date", "day_part", "valence", "energy"])
    frame["play_date"] = pd.to_datetime(frame["play_date"]).dt.date
    return frame


def test_the_coach_starts_from_the_nearest_mean_with_enough_plays():
    recent = str(AS_OF - dt.timedelta(days=2))
    old = str(AS_OF - dt.timedelta(days=60))
    plays = _plays(
        [(recent, "evening", 0.2, 0.3)] * 12  # enough recent evenings
        + [(recent, "morning", 0.9, 0.9)] * 3  # a few recent mornings
        + [(old, "night", 0.5, 0.1)] * 10  # nights only long ago
        + [(old, "afternoon", 0.7, 0.6)] * 4
    )
    means = recommend.recent_means(plays, AS_OF)
    assert set(means) == set(DAY_PARTS)
    assert means["evening"] == pytest.approx((0.2, 0.3, "your evenings of the last 14 days"))
    last_days = (np.mean([0.2] * 12 + [0.9] * 3), np.mean([0.3] * 12 + [0.9] * 3))
    assert means["morning"][:2] == pytest.approx(last_days)
    assert means["morning"][2] == "your last 14 days"
    assert means["night"][2] == "your last 14 days"  # 15 recent plays beat 10 old nights


def test_without_recent_plays_the_part_then_everything_is_the_start():
    old = str(AS_OF - dt.timedelta(days=60))
    plays = _plays([(old, "night", 0.5, 0.1)] * 10 + [(old, "afternoon", 0.7, 0.6)] * 4)
    means = recommend.recent_means(plays, AS_OF)
    assert means["night"] == pytest.approx((0.5, 0.1, "your nights"))
    overall = (plays["valence"].mean(), plays["energy"].mean(), "all your listening")
    assert means["afternoon"] == pytest.approx(overall)
    assert means["morning"] == pytest.approx(overall)


def test_the_streak_counts_back_from_the_latest_day():
    plays = _plays(
        [
            ("2025-04-01", "night", 0.2, 0.5),  # low, but before a bright day
            ("2025-04-02", "night", 0.6, 0.5),
            ("2025-04-03", "night", 0.3, 0.5),
            ("2025-04-03", "night", 0.45, 0.5),  # day mean 0.375: low
            ("2025-04-05", "night", 0.1, 0.5),
            ("2025-04-06", "night", 0.39, 0.5),
        ]
    )
    assert recommend.low_valence_streak(plays) == 3
    assert recommend.low_valence_streak(plays[plays["play_date"] <= dt.date(2025, 4, 2)]) == 0


def _tracks() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "track_id": ["t1", "t1b", "t2", "t3", "t4", "t5", "t6"],
            "song_key": ["s1", "s1", "s2", "s3", "s4", "s5", "s6"],
            "primary_artist": ["A", "A", "B", "C", "C", "D", "E"],
            "genres": [["rock"], ["rock"], ["jazz"], ["rock", "pop"], ["pop"], ["jazz"], ["folk"]],
        }
    )


def test_a_song_played_under_one_id_is_played_under_all():
    plays = pd.DataFrame({"track_id": ["t1", "zz"]})
    assert recommend.unplayed(plays, _tracks()).tolist() == [False, False] + [True] * 5


def test_a_play_without_catalog_genres_takes_its_artists_main_genre():
    plays = pd.DataFrame(
        {"track_id": ["t2", "EST_c", "EST_x"], "primary_artist": ["B", "C", "Nobody"]}
    )
    genres = recommend.play_genres(plays, _tracks())
    # C is filed under rock once and pop twice: pop. An unknown artist has no genre.
    assert genres.tolist() == [["jazz"], ["pop"]]


def test_liked_genres_grow_until_the_pool_is_big_enough(monkeypatch):
    plays = pd.DataFrame({"track_id": ["t2", "t2", "t3"]})
    monkeypatch.setattr(recommend, "LIKED_GENRES", 1)
    monkeypatch.setattr(recommend, "MIN_POOL", 1)
    assert recommend.liked_genres(plays, _tracks()) == ["jazz"]  # t5 is an unplayed jazz song
    monkeypatch.setattr(recommend, "MIN_POOL", 3)
    # jazz holds 1 unplayed track, then rock (t1, t1b) makes 3.
    assert recommend.liked_genres(plays, _tracks()) == ["jazz", "rock"]


def test_candidates_are_unplayed_songs_of_liked_genres_or_from_als(monkeypatch):
    monkeypatch.setattr(recommend, "LIKED_GENRES", 1)
    monkeypatch.setattr(recommend, "MIN_POOL", 1)
    plays = pd.DataFrame({"track_id": ["t2", "t2", "t3"], "primary_artist": ["B", "B", "C"]})
    als = pd.DataFrame({"track_id": ["t6"], "als_score": [0.7]})
    pool = recommend.candidates(plays, _tracks(), als).set_index("track_id")
    assert set(pool.index) == {"t5", "t6"}  # jazz's unplayed t5, and ALS's folk t6
    assert pool.loc["t5", "source"] == "liked genre" and pool.loc["t6", "source"] == "als"
    assert pool.loc["t5", "genre"] == "jazz" and pool.loc["t6", "genre"] == "folk"
    assert pool["new_artist"].all()
    no_als = recommend.candidates(plays, _tracks(), None)
    assert no_als["track_id"].tolist() == ["t5"]
    everything = pd.DataFrame({"track_id": _tracks()["track_id"]})
    with pytest.raises(recommend.CannotRecommend, match="no unplayed catalog track"):
        recommend.candidates(everything, _tracks(), None)


def test_the_design_puts_the_day_part_last_as_a_code():
    tracks = pd.DataFrame({f: [0.1, 0.2] for f in recommend.AUDIO})
    X = recommend.design(tracks, "evening")
    assert X.shape == (2, len(recommend.FEATURES))
    assert X[:, -1].tolist() == [3.0, 3.0] and X[:, 0].tolist() == [0.1, 0.2]
    per_row = recommend.design(tracks, pd.Series(["night", "afternoon"]))
    assert per_row[:, -1].tolist() == [0.0, 2.0]


class ValenceIsTheMatch:
    """A stand-in match model: its probability is the track's valence."""

    def predict_proba(self, X):
        return np.column_stack([1 - X[:, 0], X[:, 0]])


def _pool(n: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(8)
    pool = pd.DataFrame({f: rng.random(n) for f in recommend.AUDIO})
    pool["valence"] = np.linspace(0.30, 0.74, n)
    pool["energy"] = 0.5
    pool["track_id"] = [f"t{i:02d}" for i in range(n)]
    pool["primary_artist"] = [f"artist{i // 2}" for i in range(n)]  # two tracks each
    return pool


def test_lists_rank_by_their_score_one_track_per_artist():
    match = recommend.MatchModel("u_1", ValenceIsTheMatch(), {"evening": 1.0})
    plays = _plays([(str(AS_OF), part, 0.40, 0.50) for part in DAY_PARTS for _ in range(10)])
    lists = recommend.recommend_user(match, plays, _pool(), AS_OF, per_list=3)
    assert set(lists["day_part"]) == set(DAY_PARTS)
    evening = lists[lists["day_part"] == "evening"]
    mirror = evening[evening["mode"] == "mirror"]
    # Highest valence first, and only each artist's better track.
    assert mirror["track_id"].tolist() == ["t11", "t09", "t07"]
    assert mirror["rank"].tolist() == [1, 2, 3]
    assert mirror["match_score"].is_monotonic_decreasing
    # From the evenings' mean valence 0.40: t04 (+0.06, gain 0.6), t05 (+0.10, gain 1) and
    # t06 (+0.14, gain 0.6) are in the band; t04 and t05 share an artist, t05 scores higher.
    coach = evening[evening["mode"] == "coach"]
    assert coach["track_id"].tolist() == ["t05", "t06"]
    assert coach["improvement_score"].tolist() == pytest.approx([1.0 * 0.50, 0.6 * 0.54])
    assert coach["delta_valence"].tolist() == pytest.approx([0.10, 0.14])
    assert set(lists["user_id"]) == {"u_1"} and not lists["coach_nudging"].any()


def test_equal_scores_go_by_track_id_and_tracks_without_an_artist_count_as_one_artist():
    """The order of the old sort (score down, then track id up) and its drop_duplicates, which
    kept one row of the missing artist too."""
    match = recommend.MatchModel("u_1", ValenceIsTheMatch(), {"evening": 1.0})
    plays = _plays([(str(AS_OF), part, 0.40, 0.50) for part in DAY_PARTS for _ in range(10)])
    pool = _pool(6).assign(
        valence=[0.7, 0.7, 0.7, 0.6, 0.6, 0.5],
        track_id=["t5", "t3", "t4", "t2", "t1", "t0"],
        primary_artist=["a", "b", None, None, "c", "d"],
    )
    lists = recommend.recommend_user(match, plays, pool, AS_OF, per_list=4)
    mirror = lists[(lists["day_part"] == "evening") & (lists["mode"] == "mirror")]
    assert mirror["track_id"].tolist() == ["t3", "t4", "t5", "t1"]


def _plain_candidates(plays, tracks, als, wanted):
    """What `candidates` computed before the genre index: a Python call per catalog track."""
    fresh = recommend.unplayed(plays, tracks)
    known = set(tracks.loc[tracks["track_id"].isin(plays["track_id"]), "primary_artist"])
    pool = tracks[fresh].merge(als[["track_id", "als_score"]], on="track_id", how="left")
    in_liked = pool["genres"].map(lambda g: any(x in wanted for x in g))
    pool = pool[in_liked | pool["als_score"].notna()]
    return pool.assign(
        genre=pool["genres"].map(
            lambda g: next((x for x in g if x in wanted), g[0] if len(g) else "")
        ),
        source=np.where(in_liked[pool.index], "liked genre", "als"),
        new_artist=~pool["primary_artist"].isin(known),
    ).reset_index(drop=True)


def _plain_liked(plays, tracks):
    """What `liked_genres` computed before the genre index: the unplayed tracks' genre lists
    exploded per listener."""
    ranked = recommend.play_genres(plays, tracks).explode().value_counts().index.tolist()
    per_genre = tracks.loc[recommend.unplayed(plays, tracks), "genres"].explode().value_counts()
    liked, pool = [], 0
    for genre in ranked:
        if len(liked) >= recommend.LIKED_GENRES and pool >= recommend.MIN_POOL:
            break
        liked.append(genre)
        pool += int(per_genre.get(genre, 0))
    return liked


def test_candidates_from_the_genre_index_equal_a_call_per_track(monkeypatch):
    """Random catalogs (several genres a track, none, a gap-ridden index, songs under several
    ids): the same pool, row for row, as the per-track judgement, and the same liked genres."""
    monkeypatch.setattr(recommend, "MIN_POOL", 40)
    rng = np.random.default_rng(11)
    names = [f"g{i}" for i in range(12)]
    sources = set()
    for _ in range(25):
        n = 300
        tracks = pd.DataFrame(
            {
                "track_id": [f"t{i}" for i in range(n)],
                "song_key": [f"s{i // 2 if i % 7 == 0 else i}" for i in range(n)],
                "primary_artist": [f"a{i}" for i in rng.integers(0, 60, n)],
                # Lists, and numpy arrays as Arrow hands them to pandas (some empty).
                "genres": [
                    (list, np.array)[i % 2](
                        rng.choice(names, int(rng.integers(0, 4)), replace=False)
                    )
                    for i in range(n)
                ],
            },
            index=rng.permutation(n * 3)[:n],  # as a filtered catalog's would be
        )
        tracks = tracks[tracks.index % 5 != 0]  # and a gap-ridden one
        played = rng.choice(tracks["track_id"], 80)
        plays = pd.DataFrame(
            {
                "track_id": played,
                "primary_artist": tracks.set_index("track_id")
                .loc[played, "primary_artist"]
                .to_numpy(),
            }
        )
        als = pd.DataFrame(
            {
                "track_id": rng.choice(tracks["track_id"], 30, replace=False),
                "als_score": rng.random(30),
            }
        )
        index = recommend.GenreIndex.of(tracks)
        liked = recommend.liked_genres(plays, tracks, genre_index=index)
        assert liked == _plain_liked(plays, tracks)
        expected = _plain_candidates(plays, tracks, als, set(liked))
        got = recommend.candidates(plays, tracks, als, genre_index=index)
        pd.testing.assert_frame_equal(got, expected)
        sources.update(got["source"])
    assert sources == {"liked genre", "als"}  # both kinds of row were compared


def test_a_missing_genre_list_or_genre_is_no_genre_and_an_index_fits_one_catalog():
    tracks = pd.DataFrame({"genres": [[None, "rock"], None, np.array([], dtype=object)]})
    index = recommend.GenreIndex.of(tracks)
    assert index.in_any({"rock"}).tolist() == [True, False, False]
    assert index.first_in({"jazz"}).tolist() == ["rock", "", ""]
    assert index.counts(np.array([True, True, True])).to_dict() == {"rock": 1}
    with pytest.raises(ValueError, match="genre index of 3 tracks for 2 tracks"):
        index.of_catalog(tracks.head(2))

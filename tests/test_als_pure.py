"""The parts of ALS that need no Spark (ml/als.py): rows and ratings, the fold-in step checked
against the implicit-ALS objective, ranking, scaling, and the later-window cases."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from moodlake_dagster.ml import als


def test_a_crowd_is_listeners_and_a_few_people_are_sessions():
    crowd = pd.DataFrame({"user_id": [f"u{i}" for i in range(als.MIN_USERS)]})
    assert als.unit_for(crowd) == "user"
    assert als.unit_for(crowd.head(als.MIN_USERS - 1)) == "session"


def test_units_use_the_exports_own_id_and_drop_plays_without_any():
    times = ["2025-01-01 08:00", "2025-01-01 08:05", "2025-01-01 09:00"]
    plays = pd.DataFrame(
        {
            "user_id": ["u", "u", "u"],
            "played_at_utc": pd.to_datetime(times, utc=True),
            "track_id": ["catalog1", None, None],
            "spotify_track_id": [None, "export2", None],
        }
    )
    by_user = als.with_units(plays, "user")
    assert by_user["track_id"].tolist() == ["catalog1", "export2"]
    assert by_user["unit_id"].tolist() == ["u", "u"]
    by_session = als.with_units(plays, "session")
    assert by_session["unit_id"].nunique() == 1  # five minutes apart: one sitting


def test_a_skip_rates_a_quarter_of_a_play_through():
    plays = pd.DataFrame(
        {
            "unit_id": ["s1", "s1", "s1", "s2"],
            "track_id": ["a", "a", "b", "a"],
            "skipped": [False, True, True, False],
        }
    )
    ratings = als.interactions(plays).set_index(["unit_id", "track_id"])["rating"]
    assert ratings.to_dict() == {("s1", "a"): 1.25, ("s1", "b"): 0.25, ("s2", "a"): 1.0}


def test_top_k_leaves_out_what_was_played_and_keeps_ties_in_order():
    scores = np.array([0.5, 0.9, 0.9, 0.1, 0.7])
    assert als.top_k(scores, exclude=set(), k=3) == [1, 2, 4]
    assert als.top_k(scores, exclude={1, 4}, k=3) == [2, 0, 3]
    assert als.top_k(scores, exclude=set(range(5)), k=3) == []


def test_top_k_ranks_as_a_filter_of_the_whole_order_does():
    """The vectorised top_k against the plain filter it replaced: ties, never-seen tracks
    (-inf), NaN, and a ranking given once for many calls."""
    rng = np.random.default_rng(5)
    for _ in range(200):
        n = int(rng.integers(1, 60))
        scores = rng.integers(0, 6, n).astype(float)  # many ties
        scores[rng.random(n) < 0.1] = -np.inf
        scores[rng.random(n) < 0.05] = np.nan
        exclude = {int(i) for i in rng.integers(0, n, int(rng.integers(0, n + 1)))}
        k = int(rng.integers(1, 15))
        order = np.argsort(-scores, kind="stable")
        plain = [int(i) for i in order if int(i) not in exclude][:k]
        assert als.top_k(scores, exclude, k) == plain
        assert als.top_k(scores, exclude, k, order=order) == plain


def test_ranking_metrics_at_the_edges():
    assert als.ndcg_at_k(["a", "b"], set(), k=2) == 0.0  # nothing relevant: no ideal
    assert als.precision_at_k(["a"], {"a"}, k=10) == 0.1  # k, not the list's length
    assert als.ndcg_at_k(["x", "a"], {"a"}, k=2) == pytest.approx(1 / np.log2(3))


def test_the_cutoff_holds_the_last_fifth_of_the_days_out():
    days = [dt.date(2025, 1, 1) + dt.timedelta(days=i) for i in range(10)]
    plays = pd.DataFrame({"play_date": days + days[:3]})
    assert als.cutoff_day(plays) == days[8]  # days 9 and 10 are the later window
    with pytest.raises(als.CannotFit, match="4 listening days: need at least 5"):
        als.cutoff_day(plays[plays["play_date"] < days[4]])


def _factors(rank: int = 3, items: int = 6) -> als.Factors:
    rng = np.random.default_rng(10)
    return als.Factors(
        "session",
        np.array(["s1", "s2"]),
        np.array([f"t{i}" for i in range(items)]),
        rng.normal(size=(2, rank)),
        rng.normal(size=(items, rank)),
        {"alpha": 5.0, "regParam": 1.0},
    )


def test_fold_in_minimises_the_implicit_als_loss_for_the_new_row():
    """The gradient of Σ c_i (p_i − x·y_i)² + λ·n·|x|² vanishes at the folded-in x
    (c = 1 + α·r on rated tracks and 1 elsewhere, p = 1 on rated tracks)."""
    factors = _factors()
    rated = {"t1": 1.0, "t4": 2.5, "unknown": 3.0}  # a track the model never saw is ignored
    (x,) = als.fold_in(factors, [rated])
    Y = factors.items
    p = np.array([1.0 if f"t{i}" in rated else 0.0 for i in range(len(Y))])
    r = np.array([rated.get(f"t{i}", 0.0) for i in range(len(Y))])
    c = 1 + factors.params["alpha"] * r
    n = 2  # known ratings
    gradient = -2 * (Y.T * c) @ (p - Y @ x) + 2 * factors.params["regParam"] * n * x
    assert np.abs(gradient).max() < 1e-9
    assert np.abs(x).sum() > 0


def test_a_row_with_no_known_track_folds_in_to_nothing():
    vectors = als.fold_in(_factors(), [{"nope": 1.0}, {"t0": 1.0}])
    assert vectors.shape == (2, 3)
    assert (vectors[0] == 0).all() and (vectors[1] != 0).any()


def test_recommendations_leave_out_played_tracks_and_scale_to_one():
    factors = als.Factors(
        "user",
        np.array(["u"]),
        np.array(["a", "b", "c", "d"]),
        np.zeros((1, 1)),
        np.array([[4.0], [1.0], [3.0], [2.0]]),
    )
    recs = als.recommend(factors, np.array([1.0]), exclude={"a", "zzz"}, k=3)
    assert recs["track_id"].tolist() == ["c", "d", "b"]
    assert recs["als_score"].tolist() == pytest.approx([1.0, 0.5, 0.0])
    assert recs["rank"].tolist() == [1, 2, 3]
    (only,) = als.recommend(factors, np.array([1.0]), exclude={"a", "b", "c"}, k=3)[
        "als_score"
    ].tolist()
    assert only == 1.0  # one track: nothing to scale against


def test_factor_rows_are_placed_by_their_id():
    frame = pd.DataFrame({"id": [2, 0], "features": [[1.0, 2.0], [3.0, 4.0]]})
    dense = als._dense(frame, 3, 2)
    assert dense.tolist() == [[3.0, 4.0], [0.0, 0.0], [1.0, 2.0]]  # id 1 was dropped (cold)


def test_a_listeners_case_is_what_they_found_later():
    index = {"a": 0, "b": 1, "c": 2}
    train = pd.DataFrame({"unit_id": ["u", "u", "v"], "track_id": ["a", "b", "a"]})
    later = pd.DataFrame(
        {"unit_id": ["u", "u", "v", "w"], "track_id": ["a", "c", "a", "c"]}
    )  # u found c; v only replayed a; w is new
    assert als._user_cases(train, later, index) == [("u", {0, 1}, {2})]


def test_a_later_session_is_split_in_time_into_query_and_answer():
    index = {t: i for i, t in enumerate("abcde")}
    at = pd.Timestamp("2025-02-01 10:00", tz="UTC")
    later = pd.DataFrame(
        {
            "unit_id": ["s"] * 5 + ["short"] * 2,
            "track_id": ["a", "b", "a", "c", "zz"] + ["d", "d"],
            "played_at_utc": [at + pd.Timedelta(minutes=m) for m in (*range(5), 0, 1)],
        }
    )
    # s plays a, b, c known (a twice, zz unknown): query a; answer b and c. "short" knows one.
    assert als._session_cases(later, index) == [({"a": 1.0}, {0}, {1, 2})]


def test_the_recent_sessions_are_the_last_ones_played():
    at = pd.Timestamp("2025-02-01", tz="UTC")
    plays = pd.DataFrame(
        {
            "unit_id": ["s1", "s1", "s2", "s3", "s3"],
            "played_at_utc": [at + pd.Timedelta(hours=h) for h in (0, 1, 5, 9, 10)],
        }
    )
    assert als.recent_sessions(plays, n=2)["unit_id"].tolist() == ["s2", "s3", "s3"]


def test_popularity_counts_earlier_listeners_not_plays():
    train = pd.DataFrame({"unit_id": ["u", "u", "u", "v"], "track_id": ["a", "a", "a", "b"]})
    assert als.popularity(train, {"b": 0, "a": 1, "c": 2}).tolist() == [1.0, 1.0, 0.0]


def test_popularity_misses_every_listener_of_disjoint_taste_groups():
    """Groups {u1, u2} on a, b and {v1, v2} on c, d: v2 has yet to play d, which has one earlier
    listener, while a, b (every member of the other group) and c lead the ranking."""
    train = pd.DataFrame(
        {
            "unit_id": ["u1", "u1", "u2", "u2", "v1", "v1", "v2"],
            "track_id": ["a", "b", "a", "b", "c", "d", "c"],
        }
    )
    later = pd.DataFrame({"unit_id": ["v2", "u1"], "track_id": ["d", "a"]})
    index = {t: i for i, t in enumerate("abcd")}
    popular = als.popularity(train, index)
    ((user, exclude, relevant),) = als._user_cases(train, later, index)
    assert user == "v2" and relevant == {index["d"]}
    assert als.ndcg_at_k(als.top_k(popular, exclude, k=2), relevant, k=2) == 0.0
    assert als.top_k(popular, exclude, k=3)[-1] == index["d"]  # found only past the others

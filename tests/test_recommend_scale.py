"""Recommendations and their SHAP explanations at scale (ml/recommend.py, ml/explain.py): the
fast path — catalog-wide work done once, inputs split by listener once, listeners fitted and
explained in parallel processes — gives the same tables as the old one-listener-at-a-time
loop, serially or in parallel."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from helpers import CATALOG_SAMPLE

from moodlake_dagster.demo.crowd import crowd
from moodlake_dagster.ml import explain, recommend
from moodlake_dagster.ml.parallel import MIN_LISTENERS
from moodlake_dagster.tables import RECOMMENDATIONS
from moodlake_dagster.vocabulary import ESTIMATE

NO_NAMES = pd.DataFrame(columns=["user_id", "mode_id", "name"])


def _silver_tracks(tracks: pd.DataFrame) -> pd.DataFrame:
    """Stand-in for Silver tracks without Spark: a song key linking a song's ids, sorted genre
    arrays, and one artist-estimate row that must never be recommended."""
    norm = lambda s: s.fillna("").str.lower().str.replace(r"[^a-z0-9]+", " ", regex=True)  # noqa: E731
    tracks = tracks.assign(
        song_key=norm(tracks["primary_artist"]) + "|" + norm(tracks["track_name"]),
        features_source="catalog",
        genres=tracks["genres"].map(lambda g: np.array(sorted(g), dtype=object)),
    )
    estimate = tracks.iloc[[0]].assign(track_id="estimate-0", features_source=ESTIMATE)
    return pd.concat([tracks, estimate], ignore_index=True)


@pytest.fixture(scope="module")
def small_crowd():
    """Enough listeners for the parallel path to start processes; few plays, so it is quick."""
    people = crowd(CATALOG_SAMPLE, listeners=MIN_LISTENERS + 2, days=21, seed=20251, farms=0)
    plays = people.plays[["user_id", "track_id", "play_date", "day_part", "skipped"]]
    tracks = _silver_tracks(people.tracks)
    users = sorted(plays["user_id"].unique())
    rng = np.random.default_rng(5)
    some = pd.DataFrame(
        {
            "user_id": np.repeat(users[1:-1], 4),  # the last listener has no ALS suggestion
            "track_id": rng.choice(tracks["track_id"].iloc[:-1], 4 * (len(users) - 2)),
            "als_score": rng.random(4 * (len(users) - 2)),
        }
    )
    # The first is suggested every track: all their candidates carry an ALS score.
    every = pd.DataFrame({"user_id": users[0], "track_id": tracks["track_id"], "als_score": 0.5})
    als = pd.concat([every, some], ignore_index=True)
    return plays, tracks, als, [*users, "nobody"], plays["play_date"].max()


def _old_loop(plays, tracks, als_rows, as_of, only) -> tuple[pd.DataFrame, dict]:
    """The loop recommend_all ran before: one listener after another, filtering the whole
    ALS frame and recomputing the catalog-wide genre table for each (for the listeners in
    `only`: it is slow, and listeners are independent)."""
    catalog = tracks[tracks["features_source"] != ESTIMATE]
    plays = plays.merge(tracks[["track_id", "primary_artist", *recommend.AUDIO]], on="track_id")
    lists, aucs = [], {}
    for user_id, own in plays.groupby("user_id"):
        if user_id not in only:
            continue
        try:
            match = recommend.train_match(str(user_id), own, catalog)
            pool = recommend.candidates(own, catalog, als_rows[als_rows["user_id"] == user_id])
        except recommend.CannotRecommend:
            continue
        aucs[match.user_id] = (match.auc, match.baseline_auc, match.n_eval)
        picks = recommend.recommend_user(match, own, pool, as_of)
        lists.append(recommend.with_mode_names(picks, None, NO_NAMES))
    table = pd.concat(lists, ignore_index=True).reindex(columns=RECOMMENDATIONS.schema.names)
    return table.assign(as_of_date=as_of), aucs


@pytest.fixture(scope="module")
def runs(small_crowd):
    plays, tracks, als, listeners, as_of = small_crowd
    return {
        n: recommend.recommend_all(plays, tracks, als, listeners, {}, NO_NAMES, as_of, n_workers=n)
        for n in (1, 2)
    }


def test_parallel_lists_and_metrics_equal_serial(runs):
    serial, parallel = runs[1], runs[2]
    assert len(serial.table) > 0
    pd.testing.assert_frame_equal(serial.table, parallel.table, check_exact=True)
    assert serial.output.metrics == parallel.output.metrics
    assert serial.output.rows.equals(parallel.output.rows)
    skipped = serial.output.metadata["listeners_skipped"]
    assert skipped == parallel.output.metadata["listeners_skipped"]
    assert skipped["nobody"] == "no play through with audio features; at least 50 needed"
    assert any("plays through" in why for why in skipped.values())  # a light listener, told why


def test_the_fast_path_gives_the_old_loops_table_and_scores(small_crowd, runs):
    plays, tracks, als, _, as_of = small_crowd
    users = sorted(plays["user_id"].unique())
    only = {users[0], users[-1]}  # every track suggested by ALS; none
    old_table, old_aucs = _old_loop(plays, tracks, als, as_of, only)
    assert len(old_table)
    new_table = runs[2].table[runs[2].table["user_id"].isin(only)].reset_index(drop=True)
    pd.testing.assert_frame_equal(new_table, old_table, check_exact=True)
    new_aucs = {
        m["note"]: (m["value"], m["baseline"], m["n_eval"])
        for m in runs[2].output.metrics[recommend.MATCH_MODEL]
        if m["metric"] == "auc" and m["note"] in only
    }
    assert new_aucs == {u: a for u, a in old_aucs.items() if a[0] is not None}
    # Each listener's ALS rows reached them and no one else.
    assert new_table.loc[new_table["user_id"] == users[0], "als_score"].notna().all()
    assert new_table.loc[new_table["user_id"] == users[-1], "als_score"].isna().all()
    assert "estimate-0" not in set(runs[2].table["track_id"])


def test_main_genres_once_equal_the_per_listener_count(small_crowd):
    """Vectorized per-artist genre (ties: first listed) equals each artist's value_counts."""
    tracks = small_crowd[1]
    filed = tracks[["primary_artist", "genres"]].explode("genres").dropna()
    old = filed.groupby("primary_artist")["genres"].agg(lambda g: [g.value_counts().index[0]])
    new = recommend.main_genres(tracks)
    pd.testing.assert_series_equal(new.map(tuple), old.map(tuple), check_names=False)


def test_the_baseline_centre_falls_back_to_the_overall_mean():
    rng = np.random.default_rng(3)
    train = pd.DataFrame(rng.random((30, len(recommend.AUDIO))), columns=list(recommend.AUDIO))
    train["day_part"] = ["morning", "evening"] * 15
    frame = pd.DataFrame(rng.random((6, len(recommend.AUDIO))), columns=list(recommend.AUDIO))
    frame["day_part"] = ["morning", "night", "evening", "night", "afternoon", "morning"]
    scale = train[list(recommend.AUDIO)].std()
    means = train.groupby("day_part")[list(recommend.AUDIO)].mean()
    overall = train[list(recommend.AUDIO)].mean()
    expected = [
        -np.sqrt(
            (((row[list(recommend.AUDIO)] - means.loc[row.day_part]) / scale) ** 2).sum()
            if row.day_part in means.index
            else (((row[list(recommend.AUDIO)] - overall) / scale) ** 2).sum()
        )
        for _, row in frame.iterrows()
    ]
    assert recommend._profile_score(train, frame) == pytest.approx(expected, abs=1e-12)


def test_parallel_explanations_equal_serial_and_add_up(small_crowd, runs):
    tracks = small_crowd[1]
    matches = runs[1].output.artifact
    serial = explain.explain_recommendations(runs[1].table, tracks, matches, n_workers=1)
    parallel = explain.explain_recommendations(runs[1].table, tracks, matches, n_workers=2)
    for one, other in zip(serial, parallel, strict=True):
        pd.testing.assert_frame_equal(
            pd.concat(one, ignore_index=True), pd.concat(other, ignore_index=True), check_exact=True
        )
    shap_rows = pd.concat(serial[0], ignore_index=True)
    sentences = pd.concat(serial[1], ignore_index=True)
    assert len(sentences) == len(runs[1].table)
    keys = ["user_id", "day_part", "mode", "rank"]
    sums = shap_rows.groupby(keys)["shap_value"].sum()
    joined = sentences.set_index(keys)
    gap = (joined["base_value"] + sums.reindex(joined.index) - joined["output"]).abs()
    assert gap.max() < 1e-9
    # The output SHAP adds up to is the match model's own log-odds for that pick.
    first = runs[1].table.iloc[0]
    score = sentences.set_index(keys).loc[tuple(first[keys]), "output"]
    assert 1 / (1 + np.exp(-score)) == pytest.approx(first["match_score"], abs=1e-9)


def test_as_of_is_stamped_on_every_row(runs, small_crowd):
    assert set(runs[2].table["as_of_date"]) == {small_crowd[4]}
    assert isinstance(small_crowd[4], dt.date)


def test_the_faster_match_model_scores_as_the_old_one_on_the_same_split(
    small_crowd, runs, monkeypatch
):
    """The one design change (histogram boosting for the old GradientBoostingClassifier) is
    scored on the same later days, negatives and baseline: no listener's AUC falls far, and
    both stay above the nearest-profile baseline on average."""
    from sklearn.ensemble import GradientBoostingClassifier

    plays, tracks, *_ = small_crowd
    catalog = tracks[tracks["features_source"] != ESTIMATE]
    plays = plays.merge(tracks[["track_id", "primary_artist", *recommend.AUDIO]], on="track_id")
    scored = [m for m in runs[2].output.metrics[recommend.MATCH_MODEL] if m["metric"] == "auc"]
    assert len(scored) >= 3
    new = [runs[2].output.artifact[m["note"]] for m in scored[:3]]
    users = [match.user_id for match in new]

    def old_fit(positives, background):
        X = np.vstack(
            [
                recommend.design(positives, positives["day_part"]),
                recommend.design(background, background["day_part"]),
            ]
        )
        y = np.r_[np.ones(len(positives)), np.zeros(len(background))]
        model = GradientBoostingClassifier(
            n_estimators=150, max_depth=3, learning_rate=0.05, subsample=0.8, random_state=13
        )
        return model.fit(X, y)

    monkeypatch.setattr(recommend, "_fit", old_fit)
    old = [recommend.train_match(u, plays[plays["user_id"] == u], catalog) for u in users]
    pairs = [(n, o) for n, o in zip(new, old, strict=True) if n.auc is not None]
    assert pairs
    for n, o in pairs:
        assert (n.n_eval, n.baseline_auc) == (o.n_eval, o.baseline_auc)  # same split
        assert n.auc >= o.auc - 0.05
    assert np.mean([n.auc for n, _ in pairs]) > np.mean([n.baseline_auc for n, _ in pairs])
    assert np.mean([o.auc for _, o in pairs]) > np.mean([o.baseline_auc for _, o in pairs])

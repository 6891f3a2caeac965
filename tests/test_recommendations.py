"""ALS, mirror and coach recommendations, and their SHAP explanations, on real parts:
the real catalog sample, the real Extended Streaming History, a generated crowd over the
catalog, and ALS fitted on the shared Spark Connect server."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from helpers import CATALOG_SAMPLE

from moodlake_dagster.demo.generator import generate_plays
from moodlake_dagster.ml import als, explain, mood, recommend
from moodlake_dagster.model_plots import als_ranking_plot

AS_OF = dt.date(2025, 4, 30)
DAY_PART_STARTS = ((0, "night"), (6, "morning"), (12, "afternoon"), (18, "evening"))


def day_part(hour: int) -> str:
    return [name for start, name in DAY_PART_STARTS if hour >= start][-1]


@pytest.fixture(scope="module")
def crowd():
    """Thirty generated listeners over the real catalog (seed unlike the tuning seeds)."""
    return generate_plays(CATALOG_SAMPLE, users=30, days=120, seed=4242)


@pytest.fixture(scope="module")
def listener(crowd, sample_tracks):
    """One generated listener's plays with audio features, as Silver would give them."""
    plays = crowd[crowd["user_id"] == "demo-listener-3"].copy()
    plays["day_part"] = plays["played_at_utc"].dt.hour.map(day_part)
    return plays.merge(sample_tracks[["track_id", *recommend.AUDIO]], on="track_id")


@pytest.fixture(scope="module")
def match(listener, sample_tracks):
    return recommend.train_match("u_listener", listener, sample_tracks)


# --- ALS -------------------------------------------------------------------------------


def test_ranking_metrics_by_hand():
    recommended = ["a", "b", "c", "d"]
    relevant = {"b", "d", "z"}
    assert als.precision_at_k(recommended, relevant, k=4) == 0.5
    dcg = 1 / np.log2(3) + 1 / np.log2(5)
    ideal = 1 + 1 / np.log2(3) + 1 / np.log2(4)
    assert als.ndcg_at_k(recommended, relevant, k=4) == pytest.approx(dcg / ideal)
    assert als.ndcg_at_k(["b", "d", "z"], relevant, k=3) == pytest.approx(1.0)


def test_sessions_split_at_half_hour_gaps():
    times = pd.to_datetime(
        ["2025-01-01 08:00", "2025-01-01 08:20", "2025-01-01 09:10", "2025-01-01 09:15"], utc=True
    )
    plays = pd.DataFrame({"user_id": "u", "played_at_utc": times})
    keys = als.sessions(plays)
    assert keys.nunique() == 2
    assert keys.iloc[0] == keys.iloc[1] != keys.iloc[2] == keys.iloc[3]


def test_fold_in_is_the_als_user_step(spark, crowd):
    """Folding a listener's own ratings in reproduces the user factors Spark fitted."""
    plays = als.with_units(crowd, "user")
    ratings = als.interactions(plays)
    factors = als.fit(spark, ratings, "user")
    by_user = [g.set_index("track_id")["rating"].to_dict() for _, g in ratings.groupby("unit_id")]
    folded = als.fold_in(factors, by_user)
    cosine = (folded * factors.users).sum(1) / (
        np.linalg.norm(folded, axis=1) * np.linalg.norm(factors.users, axis=1)
    )
    assert cosine.min() > 0.99


def test_als_fits_in_a_session_that_is_not_the_active_one(spark, spark_url):
    """An asset's own session beside another one (as in a test run or a sensor's process):
    pyspark's ML calls go through the active session, which holds no such model."""
    from pyspark.sql import SparkSession

    own = SparkSession.builder.remote(spark_url).create()
    try:
        assert SparkSession.getActiveSession() is not own
        rng = np.random.default_rng(1)
        ratings = pd.DataFrame(
            {
                "unit_id": [f"s{i % 12}" for i in range(200)],
                "track_id": [f"t{int(x)}" for x in rng.integers(0, 40, 200)],
                "rating": 1.0,
            }
        ).drop_duplicates(["unit_id", "track_id"])
        factors = als.fit(own, ratings, "session", {"rank": 4, "maxIter": 3})
        assert factors.items.shape == (ratings["track_id"].nunique(), 4)
        assert np.abs(factors.users).sum() > 0
    finally:
        own.stop()


def test_als_on_a_crowd_is_scored_on_later_days_only(spark, crowd):
    evaluation = als.evaluate(spark, crowd, "user")
    assert evaluation.unit == "user" and evaluation.n_eval == crowd["user_id"].nunique()
    assert max(evaluation.train_days) < evaluation.cutoff <= min(evaluation.eval_days)
    # Far better than drawing unheard tracks at random: the chance a random one is relevant.
    train = crowd[crowd["play_date"] < evaluation.cutoff]
    later = crowd[crowd["play_date"] >= evaluation.cutoff]
    items = set(train["track_id"])
    chance = []
    for user, seen in train.groupby("user_id")["track_id"].agg(set).items():
        new = (set(later.loc[later["user_id"] == user, "track_id"]) - seen) & items
        chance.append(len(new) / (len(items) - len(seen)))
    assert evaluation.precision > 2 * np.mean(chance)
    for value in (evaluation.precision, evaluation.ndcg, evaluation.baseline_ndcg):
        assert 0 <= value <= 1
    # The asset's plot: model bars, then popularity bars, at the measured heights.
    (axes, *_) = als_ranking_plot(evaluation).axes
    assert [bar.get_height() for bar in axes.patches] == [
        evaluation.precision,
        evaluation.ndcg,
        evaluation.baseline_precision,
        evaluation.baseline_ndcg,
    ]


def test_one_listener_uses_sessions_and_says_how(spark, extended_plays):
    plays = extended_plays
    assert als.unit_for(plays) == "session"
    # The export's own ids count: every music play, not only the ~9% the catalog sample holds.
    assert len(als.with_units(plays, "session")) == len(plays) > 6_000
    evaluation = als.evaluate(spark, plays, "session")
    assert evaluation.n_eval >= 30
    assert max(evaluation.train_days) < evaluation.cutoff <= min(evaluation.eval_days)
    served = als.serve(spark, plays, "session")
    (user,) = served.vectors
    assert "sessions stand in for listeners" in served.basis[user]
    recs = als.recommend(served.factors, served.vectors[user], served.exclude[user], 20)
    assert len(recs) == 20 and recs["als_score"].between(0, 1).all()
    assert recs["als_score"].is_monotonic_decreasing
    assert not set(recs["track_id"]) & served.exclude[user]


def test_later_sessions_never_overlap_training_sessions(extended_plays):
    plays = als.with_units(extended_plays, "session")
    cutoff = als.cutoff_day(plays)
    train = set(plays.loc[plays["play_date"] < cutoff, "unit_id"])
    later = plays[plays["play_date"] >= cutoff]
    straddling = set(later["unit_id"]) & train
    # evaluate() drops these from the later window; there are some in real listening.
    kept = later[~later["unit_id"].isin(train)]
    assert set(kept["unit_id"]).isdisjoint(train)
    assert len(straddling) <= later["unit_id"].nunique()


def test_too_few_days_is_a_clear_reason(spark, extended_plays):
    first_days = sorted(extended_plays["play_date"].unique())[:3]
    few = extended_plays[extended_plays["play_date"].isin(first_days)]
    with pytest.raises(als.CannotFit, match="need at least 5"):
        als.evaluate(spark, few, "session")


# --- Mirror and coach ---------------------------------------------------------------------


def test_coach_gain_is_zero_outside_the_caps():
    mean_v, mean_e = 0.40, 0.50
    valence = np.array([0.42, 0.45, 0.50, 0.55, 0.56, 0.70, 0.40, 0.50, 0.52])
    energy = np.array([0.50, 0.50, 0.50, 0.50, 0.50, 0.50, 0.60, 0.30, 0.80])
    gain, dv, de = recommend.improvement(valence, energy, mean_v, mean_e, streak=False)
    # +0.02 no step; +0.05 edge; +0.10 best; +0.15 edge; +0.16 beyond the cap; +0.30 capped;
    # +0.10 in energy counts too; a 0.20 drop in energy or a 0.30 jump in energy is capped.
    assert gain.tolist() == pytest.approx([0, 0.5, 1.0, 0.5, 0, 0, 1.0, 0, 0])
    cap = 0.15 + recommend.EPS
    assert (np.abs(dv[gain > 0]) <= cap).all() and (np.abs(de[gain > 0]) <= cap).all()
    streak, *_ = recommend.improvement(valence, energy, mean_v, mean_e, streak=True)
    assert streak[6] == 0  # after a low-valence streak only valence steps count
    assert streak[2] == pytest.approx(1.0)


def test_mirror_and_coach_differ_in_the_promised_direction(match, listener, sample_tracks):
    pool = recommend.candidates(listener, sample_tracks, None)
    assert not set(pool["track_id"]) & set(listener["track_id"])  # never played
    lists = recommend.recommend_user(match, listener, pool, AS_OF)
    coach, mirror = lists[lists["mode"] == "coach"], lists[lists["mode"] == "mirror"]
    assert len(mirror) == 40 and len(coach) >= 20
    # No coach pick jumps beyond the caps; every one is a step up of 0.05..0.15.
    low, high = 0.05 - recommend.EPS, 0.15 + recommend.EPS
    assert (coach["delta_valence"].abs() <= high).all()
    assert (coach["delta_energy"].abs() <= high).all()
    step = coach[["delta_valence", "delta_energy"]].max(axis=1)
    assert step.between(low, high).all()
    # Mirror is ranked by fit, coach by improvement: mirror fits better on average and
    # coach sits above the recent mean where mirror does not have to.
    assert mirror["match_score"].mean() > coach["match_score"].mean()
    mirror_step = mirror[["delta_valence", "delta_energy"]].max(axis=1)
    assert not mirror_step.between(low, high).all()  # mirror follows fit, not a step
    for _, one in lists.groupby(["day_part", "mode"]):
        assert one["primary_artist"].is_unique
        assert one["rank"].tolist() == list(range(1, len(one) + 1))


def test_a_low_valence_streak_makes_coach_nudge_valence(match, listener, sample_tracks):
    gloomy = sample_tracks[sample_tracks["valence"] < 0.2].head(60)
    later = AS_OF + dt.timedelta(days=10)  # four gloomy days after the generated history
    days = [later - dt.timedelta(days=n) for n in range(4)]
    streak = gloomy[["track_id", *recommend.AUDIO]].assign(
        user_id="demo-listener-3", play_date=np.repeat(days, 15), day_part="evening", skipped=False
    )
    plays = pd.concat([listener, streak], ignore_index=True)
    assert recommend.low_valence_streak(plays) == 4
    pool = recommend.candidates(plays, sample_tracks, None)
    lists = recommend.recommend_user(match, plays, pool, later)
    coach = lists[lists["mode"] == "coach"]
    assert coach["coach_nudging"].all() and len(coach)
    assert coach["delta_valence"].between(0.05 - recommend.EPS, 0.15 + recommend.EPS).all()


def test_the_match_model_is_scored_on_later_days(match, listener, sample_tracks):
    assert match.cutoff is not None and match.n_eval >= recommend.MIN_EVAL
    assert match.auc > 0.7 and match.auc > match.baseline_auc - 0.05
    with pytest.raises(recommend.CannotRecommend, match="at least 50 needed"):
        recommend.train_match("u_few", listener.head(30), sample_tracks)


# --- Explanations -------------------------------------------------------------------------


def test_recommendation_shap_sums_to_the_match_models_output(match, listener, sample_tracks):
    pool = recommend.candidates(listener, sample_tracks, None)
    lists = recommend.recommend_user(match, listener, pool, AS_OF).assign(
        listening_mode="calm acoustic evenings"
    )
    X = recommend.design(lists, lists["day_part"])
    base, values, output = explain.contributions(match.model, X)
    assert output == pytest.approx(match.model.decision_function(X), abs=1e-6)
    assert base + values.sum(axis=1) == pytest.approx(output)
    row = lists[lists["mode"] == "coach"].index[0]
    sentence = explain.recommendation_sentence(
        next(lists.loc[[row]].itertuples()),
        recommend.FEATURES,
        X[row],
        values[row],
        "calm acoustic evenings",
    )
    assert sentence.startswith("Recommended because its ")
    assert '"calm acoustic evenings" mode' in sentence and "%" in sentence
    assert "higher" in sentence and "over your" in sentence  # the coach's step, with its size


def test_mood_shap_sums_to_the_boosted_half(sample_tracks):
    labelled = mood.labelled_tracks(sample_tracks)
    estimator = mood.train(labelled)
    labels = mood.label(estimator, sample_tracks.head(300))
    boosted = estimator.named_estimators_["boosted"]
    X = sample_tracks.head(300)[list(mood.FEATURES)].to_numpy(float)
    classes = list(estimator.classes_)
    index = np.array([classes.index(m) for m in labels["mood"]])
    base, values, output = explain.contributions(boosted, X, index)
    raw = boosted.decision_function(X)[np.arange(len(X)), index]
    assert output == pytest.approx(raw, abs=1e-6)
    text = explain.mood_sentence(
        labels["mood"].iloc[0], labels["probability"].iloc[0], mood.FEATURES, X[0], values[0]
    )
    assert text.startswith(f"Labelled {labels['mood'].iloc[0]}") and "boosted half" in text
    importance = explain.global_importance(values, mood.FEATURES)
    assert importance.index[-1] in mood.FEATURES and (importance >= 0).all()


# --- The command that prints them --------------------------------------------------------


def test_moodlake_recommend_prints_picks_and_why_from_gold(
    match, listener, sample_tracks, tmp_path, monkeypatch, capsys
):
    """Lists and sentences written as the assets write them, read back by the command."""
    import pyarrow as pa

    from moodlake_dagster import cli, storage
    from moodlake_dagster.ingest.privacy import pseudonymize
    from moodlake_dagster.tables import EXPLANATIONS, RECOMMENDATIONS

    key = "test-key-not-secret"
    user_id = pseudonymize("efrrowini", key.encode())
    match = dataclasses.replace(match, user_id=user_id)
    pool = recommend.candidates(listener, sample_tracks, None)
    lists = recommend.recommend_user(match, listener, pool, AS_OF).assign(
        listening_mode="energetic danceable mornings"
    )
    _, sentences = explain.explain_recommendations(lists, sample_tracks, {user_id: match})
    lake = tmp_path / "home" / "lake"
    for name, frame, schema in (
        ("recommendations", lists, RECOMMENDATIONS.schema),
        ("explanations", pd.concat(sentences), EXPLANATIONS.schema),
    ):
        frame = frame.reindex(columns=schema.names).assign(as_of_date=AS_OF)
        table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
        uri = storage.table_uri(str(lake), "gold", name)
        storage.replace_range(uri, table, column="as_of_date", start=AS_OF, end=AS_OF)
    monkeypatch.setenv("MOODLAKE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MOODLAKE_PSEUDONYM_KEY", key)
    args = ["recommend", "--user", "efrrowini", "--day-part", "morning", "--limit", "3"]
    assert cli.main([*args, "--mode", "coach"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Coach picks for {user_id}, mornings, as of {AS_OF}")
    assert "one small step up from your mornings" in out
    assert out.count("Recommended because its ") == 3 and "higher" in out
    assert cli.main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    expected = lists[(lists["mode"] == "mirror") & (lists["day_part"] == "morning")].head(3)
    assert [p["track_id"] for p in report["picks"]] == expected["track_id"].tolist()
    assert all(p["sentence"].endswith(".") for p in report["picks"])
    assert cli.main(["recommend", "--user", "nobody"]) == 1
    assert "listeners: " + user_id in capsys.readouterr().err


def test_a_song_played_under_one_id_is_not_new_under_another(listener, sample_tracks):
    """Plays resolved by name land on one id of a song; its other ids are not 'never played'."""
    twins = sample_tracks[sample_tracks["song_track_ids"] > 1].sort_values(["song_key", "track_id"])
    song = twins["song_key"].iloc[0]
    played_id, other_id = twins.loc[twins["song_key"] == song, "track_id"].iloc[:2]
    plays = listener.copy()
    plays.loc[plays.index[0], "track_id"] = played_id
    # ALS suggestions enter the pool whatever their genre: suggest the other id outright.
    als_rows = pd.DataFrame({"track_id": [other_id], "als_score": [1.0]})
    pool = recommend.candidates(plays, sample_tracks, als_rows)
    assert other_id not in set(pool["track_id"]) and played_id not in set(pool["track_id"])
    # Without the play, the suggestion is a candidate.
    assert other_id in set(recommend.candidates(listener, sample_tracks, als_rows)["track_id"])

"""The models' plain parts on small hand-made frames (ml/metrics, store, estimate, mood,
modes, preference): what they compute, which rows they use, and why they refuse."""

from __future__ import annotations

import datetime as dt
import json
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from moodlake_dagster.ml import estimate, modes, mood, preference
from moodlake_dagster.ml.metrics import metric, metrics_table
from moodlake_dagster.ml.store import ModelStore
from moodlake_dagster.vocabulary import MODE_FEATURES, MOODS

D = dt.date


# --- metrics and the model store ---------------------------------------------------------


def test_metric_rows_share_the_model_and_day():
    rows = [metric("auc", 0.8, baseline=0.6, n_eval=120), metric("skipped", None, note="why")]
    table = metrics_table("preference", D(2025, 1, 31), rows)
    assert table.to_pylist() == [
        {
            "as_of_date": D(2025, 1, 31),
            "model": "preference",
            "metric": "auc",
            "value": 0.8,
            "baseline": 0.6,
            "n_eval": 120,
            "note": None,
        },
        {
            "as_of_date": D(2025, 1, 31),
            "model": "preference",
            "metric": "skipped",
            "value": None,
            "baseline": None,
            "n_eval": None,
            "note": "why",
        },
    ]


def test_the_store_serves_the_latest_model_trained_on_or_before_a_day(tmp_path):
    store = ModelStore(tmp_path)
    store.save("m", D(2025, 1, 1), {"weights": [1]}, {"n_train": 10})
    store.save("m", D(2025, 3, 1), {"weights": [3]}, {"n_train": 30})
    (tmp_path / "m" / "2025-02-01").mkdir()  # a folder without a model is no model
    assert store.latest_day("m", D(2025, 2, 15)) == D(2025, 1, 1)
    assert store.latest_day("m", D(2025, 3, 1)) == D(2025, 3, 1)
    model, card = store.load("m", D(2030, 1, 1))
    assert model == {"weights": [3]} and card["n_train"] == 30 and card["as_of"] == "2025-03-01"
    assert card["model"] == "m" and card["scikit_learn"]
    saved = json.loads((tmp_path / "m" / "2025-01-01" / "card.json").read_text())
    assert saved["n_train"] == 10
    with pytest.raises(LookupError, match="no m model trained as of 2024-12-31"):
        store.load("m", D(2024, 12, 31))
    assert store.latest_day("never", D(2030, 1, 1)) is None


def test_a_store_written_with_joblib_is_still_read_and_replaced_by_a_new_save(tmp_path):
    import joblib

    from moodlake_dagster.ml.store import model_files, read_model, write_model

    old = tmp_path / "m" / "2025-01-01"
    old.mkdir(parents=True)
    joblib.dump({"u_1": [1], "u_2": [2]}, old / "model.joblib")
    (old / "card.json").write_text('{"n_train": 5}')
    store = ModelStore(tmp_path)
    assert store.load("m", D(2025, 1, 2)) == ({"u_1": [1], "u_2": [2]}, {"n_train": 5})
    # An erasure rewrites an old file in its own format, whole.
    [path] = model_files(tmp_path)
    write_model({"u_2": [2]}, path)
    assert path.name == "model.joblib" and joblib.load(path) == {"u_2": [2]}
    assert sorted(p.name for p in old.iterdir()) == ["card.json", "model.joblib"]
    # A new save of the same day leaves one model, in the new format.
    store.save("m", D(2025, 1, 1), {"u_3": [3]}, {})
    assert [p.name for p in model_files(tmp_path)] == ["model.pickle"]
    assert read_model(old / "model.pickle") == {"u_3": [3]}
    assert not (old / "model.joblib").exists()


def test_a_dict_model_is_written_an_entry_at_a_time_and_read_back_whole(tmp_path):
    """A per-listener model is pickled a listener at a time (pickling holds what it wrote until
    it ends); a file of one whole pickle, as stores before wrote, is still read."""
    import pickle

    from moodlake_dagster.ml.store import ENTRIES, read_model, write_model

    models = {f"u_{i}": {"coef": np.arange(i, i + 3), "name": f"m{i}"} for i in range(5)}
    path = tmp_path / "model.pickle"
    write_model(models, path)
    with path.open("rb") as f:
        assert pickle.load(f) == (ENTRIES, 5)
        key, value = pickle.load(f)  # one listener's entry, on its own
        assert key == "u_0" and value["name"] == "m0"
    back = read_model(path)
    assert list(back) == list(models)
    assert all(np.array_equal(back[k]["coef"], v["coef"]) for k, v in models.items())
    assert not (tmp_path / "model.pickle.partial").exists()
    write_model({}, path)
    assert read_model(path) == {}
    whole = tmp_path / "whole.pickle"  # as written before 2026-12-01
    whole.write_bytes(pickle.dumps({"u_1": [1]}))
    assert read_model(whole) == {"u_1": [1]}
    write_model(["not", "a", "dict"], path)
    assert read_model(path) == ["not", "a", "dict"]


# --- estimated features ------------------------------------------------------------------


def _catalog() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "track_id": ["a1", "a2", "a3", "b1"],
            "song_key": ["a|1", "a|2", "a|3", "b|1"],
            "primary_artist": ["A", "A", "A", "B"],
            "valence": [0.2, 0.4, 0.6, 0.8],
            "energy": [0.5, 0.5, 0.8, 0.1],
            "features_source": "catalog",
        }
    )


def test_estimate_errors_by_hand():
    """Leave-one-out within artist A against the catalog-wide mean, computed by hand."""
    found = estimate.errors(_catalog())
    assert found.n_songs == 3  # B's only song cannot be estimated from others
    # valence: a1 ← (0.4+0.6)/2 = 0.5 (0.3 off), a2 ← 0.4 (0), a3 ← 0.3 (0.3 off)
    assert found.mae["valence"] == pytest.approx(0.2)
    # the catalog mean 0.5 is 0.3, 0.1 and 0.1 off those three songs
    assert found.baseline_mae["valence"] == pytest.approx((0.3 + 0.1 + 0.1) / 3)
    # energy: a1 ← 0.65 (0.15), a2 ← 0.65 (0.15), a3 ← 0.5 (0.3); mean 0.475 off by .025,.025,.325
    assert found.mae["energy"] == pytest.approx(0.2)
    assert found.baseline_mae["energy"] == pytest.approx((0.025 + 0.025 + 0.325) / 3)
    assert not found.clearly_better


def test_clearly_better_means_every_feature_beats_the_baseline_by_the_margin():
    margin = 1 - estimate.CLEAR_MARGIN
    good = estimate.FeatureErrors(9, {"v": margin * 0.2, "e": 0.1}, {"v": 0.2, "e": 0.3})
    assert good.clearly_better
    one_short = estimate.FeatureErrors(9, {"v": margin * 0.2 + 1e-6, "e": 0.1}, good.baseline_mae)
    assert not one_short.clearly_better


def test_songs_without_a_features_source_column_are_all_catalog_songs():
    assert len(estimate.songs(_catalog().drop(columns="features_source"))) == 4


# --- the mood classifier -----------------------------------------------------------------


def _features(n: int, rng) -> pd.DataFrame:
    return pd.DataFrame(rng.random((n, len(mood.FEATURES))), columns=list(mood.FEATURES))


def test_only_tracks_filed_under_exactly_one_mood_are_labelled():
    tracks = pd.DataFrame(
        {
            "track_id": ["t1", "t2", "t3", "t4"],
            "primary_artist": ["A", None, "C", "D"],
            "genres": [["pop", "happy"], ["sad"], ["sad", "happy"], ["rock"]],
        }
    )
    labelled = mood.labelled_tracks(tracks)
    assert labelled["track_id"].tolist() == ["t1", "t2"]
    assert labelled["label"].tolist() == ["happy", "sad"]
    assert labelled["artist_group"].tolist() == ["A", "t2"]  # no artist: the track is its group


@pytest.mark.parametrize(
    ("n", "artists", "labels", "why"),
    [
        (49, 10, 2, "49 labelled tracks by 10 artists in 2 mood(s)"),
        (60, 4, 2, "60 labelled tracks by 4 artists"),
        (60, 10, 1, "in 1 mood(s): need"),
    ],
)
def test_too_few_labels_artists_or_moods_is_refused_before_any_fit(n, artists, labels, why):
    rng = np.random.default_rng(0)
    labelled = _features(n, rng).assign(
        artist_group=[f"a{i % artists}" for i in range(n)],
        label=[MOODS[i % labels] for i in range(n)],
    )
    with pytest.raises(mood.NotEnoughLabels, match=re.escape(why)):
        mood.evaluate(labelled)


def test_labels_are_the_most_likely_class_with_its_probability():
    rng = np.random.default_rng(1)
    X = _features(90, rng)
    y = np.where(X["valence"] > 0.5, "happy", "sad")
    estimator = LogisticRegression().fit(X.to_numpy(), y)
    tracks = X.head(10).assign(track_id=[f"t{i}" for i in range(10)])
    labelled = mood.label(estimator, tracks)
    proba = estimator.predict_proba(tracks[list(mood.FEATURES)].to_numpy())
    assert labelled["track_id"].tolist() == tracks["track_id"].tolist()
    assert labelled["mood"].tolist() == list(estimator.classes_[proba.argmax(axis=1)])
    assert labelled["probability"].to_numpy() == pytest.approx(proba.max(axis=1))
    assert (labelled["probability"] >= 0.5).all()


def test_macro_auc_is_the_mean_of_one_vs_rest_aucs():
    y = np.array(["a", "a", "b", "b", "c", "c"])
    classes = np.array(["a", "b", "c"])
    perfect = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]], float)
    macro, per_class = mood._macro(y, perfect, classes)
    assert macro == 1.0 and per_class == {"a": 1.0, "b": 1.0, "c": 1.0}
    inverted, per_class = mood._macro(y, 1 - perfect, classes)
    assert inverted == 0.0


# --- listening modes ---------------------------------------------------------------------


def _centroid(energy, acousticness, danceability, valence) -> pd.Series:
    return pd.Series(
        {"energy": energy, "acousticness": acousticness, "danceability": danceability}
        | {"valence": valence}
    )


@pytest.mark.parametrize(
    ("centroid", "day_part", "name"),
    [
        (_centroid(0.2, 0.9, 0.3, 0.5), "night", "calm acoustic nights"),
        (_centroid(0.9, 0.1, 0.8, 0.5), "afternoon", "energetic danceable afternoons"),
        (_centroid(0.5, 0.1, 0.4, 0.2), "evening", "steady melancholic evenings"),
        (_centroid(0.5, 0.1, 0.4, 0.8), "morning", "steady upbeat mornings"),
        # On the thresholds: 0.4 energy is steady, 0.5 acousticness and 0.65 danceability
        # are not enough, 0.35 valence is not melancholic; an unknown part keeps its word.
        (_centroid(0.4, 0.5, 0.65, 0.35), "brunch", "steady mixed brunch"),
    ],
)
def test_a_mode_is_named_from_its_centroid_and_day_part(centroid, day_part, name):
    assert modes.mode_name(centroid, day_part) == name


def _two_kinds_of_listening(rng, n: int = 40) -> pd.DataFrame:
    quiet = pd.DataFrame(
        {
            "valence": rng.normal(0.3, 0.03, n),
            "energy": rng.normal(0.15, 0.03, n),
            "acousticness": rng.normal(0.9, 0.03, n),
            "danceability": rng.normal(0.3, 0.03, n),
            "tempo": rng.normal(80, 3, n),
            "day_part": "night",
            "local_hour": 1,
        }
    )
    loud = pd.DataFrame(
        {
            "valence": rng.normal(0.7, 0.03, n),
            "energy": rng.normal(0.9, 0.03, n),
            "acousticness": rng.normal(0.05, 0.02, n),
            "danceability": rng.normal(0.8, 0.03, n),
            "tempo": rng.normal(125, 3, n),
            "day_part": "afternoon",
            "local_hour": 15,
        }
    )
    return pd.concat([quiet, loud], ignore_index=True)


def test_two_clear_kinds_of_listening_are_two_named_modes():
    plays = _two_kinds_of_listening(np.random.default_rng(2))
    fitted = modes.fit_user("u_1", plays)
    assert fitted.k == 2 and fitted.curve[2] == max(fitted.curve.values())
    assert set(fitted.curve) <= set(modes.K_RANGE)
    by_name = fitted.modes.set_index("name")
    assert set(by_name.index) == {"calm acoustic nights", "energetic danceable afternoons"}
    assert by_name["plays"].tolist() == [40, 40] and by_name["share"].sum() == pytest.approx(1)
    assert by_name.loc["calm acoustic nights", "typical_hour"] == 1
    assert by_name.loc["calm acoustic nights", "centroid_tempo"] == pytest.approx(
        plays.loc[:39, "tempo"].mean()
    )
    fresh = _two_kinds_of_listening(np.random.default_rng(3), n=5)
    night = by_name.loc["calm acoustic nights", "mode_id"]
    assert (modes.assign(fitted, fresh)[:5] == night).all()
    assert (modes.assign(fitted, fresh)[5:] != night).all()


def test_modes_refuse_too_few_plays_and_plays_on_one_point():
    plays = _two_kinds_of_listening(np.random.default_rng(4))
    with pytest.raises(
        ValueError, match=f"29 plays with audio features; at least {modes.MIN_PLAYS}"
    ):
        modes.fit_user("u_1", plays.head(29))
    same = pd.concat([plays.head(1)] * 40, ignore_index=True)
    with pytest.raises(ValueError, match="all plays sit on one point"):
        modes.fit_user("u_1", same)
    assert set(MODE_FEATURES) <= set(plays.columns)


# --- the preference model ----------------------------------------------------------------


def test_before_is_the_mean_of_strictly_earlier_rows():
    values = pd.Series([1.0, 0.0, 1.0, 1.0])
    keys = pd.Series(["a", "a", "b", "a"])
    by_key = preference._before(values, keys)
    assert np.isnan(by_key[0]) and by_key[1] == 1.0 and np.isnan(by_key[2])
    assert by_key[3] == pytest.approx(0.5)
    overall = preference._before(values)
    assert np.isnan(overall[0])
    assert overall[1:].tolist() == pytest.approx([1.0, 0.5, 2 / 3])


def _plays(n: int, days: int, rng) -> pd.DataFrame:
    start = pd.Timestamp("2025-01-01", tz="UTC")
    times = start + pd.to_timedelta(np.sort(rng.uniform(0, days * 86_400, n)), unit="s")
    valence = rng.random(n)
    return pd.DataFrame(
        {
            "play_id": [f"p{i:04d}" for i in range(n)],
            "played_at_utc": times,
            "play_date": times.date,
            "artist_name": rng.choice(["A", "B", "C", None], n),
            "dedup_key": rng.choice(["s1", "s2", "s3", "s4", "s5"], n),
            "skipped": valence < 0.3,
            "day_part": rng.choice(["night", "morning", "afternoon", "evening"], n),
            "local_hour": rng.integers(0, 24, n),
            "shuffle": rng.random(n) < 0.5,
            "reason_start": rng.choice(["trackdone", "fwdbtn", "clickrow", "mystery"], n),
            "valence": valence,
            "energy": rng.random(n),
            "danceability": rng.random(n),
            "acousticness": rng.random(n),
            "tempo": rng.uniform(60, 180, n),
        }
    )


def test_behaviour_features_use_only_earlier_plays():
    plays = _plays(60, 6, np.random.default_rng(5)).sample(frac=1, random_state=1)
    p = preference.behaviour_features(plays)
    assert p["played_at_utc"].is_monotonic_increasing  # sorted back into time order
    for i in (0, 17, 59):
        row, earlier = p.iloc[i], p.iloc[:i]
        artist = row["artist_name"] if isinstance(row["artist_name"], str) else None
        same_artist = earlier[earlier["artist_name"].fillna("?") == (artist or "?")]
        assert row["artist_plays_before"] == len(same_artist)
        assert row["track_plays_before"] == (earlier["dedup_key"] == row["dedup_key"]).sum()
        recent = earlier["skipped"].astype(float).tail(preference.RECENT)
        if i:
            assert row["recent_skip_rate"] == pytest.approx(recent.mean())
            assert row["skip_rate_before"] == pytest.approx(earlier["skipped"].mean())
        else:
            assert np.isnan(row["recent_skip_rate"]) and np.isnan(row["skip_rate_before"])
    assert (p["enjoyed"] == ~p["skipped"]).all()
    assert set(p["day_part_code"]) == {0, 1, 2, 3}
    assert p.loc[p["reason_start"] == "mystery", "reason_start_code"].isna().all()
    assert (p.loc[p["reason_start"] == "fwdbtn", "reason_start_code"] == 1).all()


def test_the_baseline_falls_back_from_artist_to_overall_to_a_coin():
    p = pd.DataFrame(
        {
            "artist_skip_rate_before": [0.2, np.nan, np.nan],
            "skip_rate_before": [0.9, 0.4, np.nan],
        }
    )
    assert preference.baseline_score(p).tolist() == pytest.approx([0.8, 0.6, 0.5])


def test_features_missing_for_all_training_rows_are_left_out_and_named():
    train = pd.DataFrame({f: [1.0, 2.0] for f in preference.FEATURES})
    train["shuffle_flag"] = np.nan
    used, left_out = preference.usable_features(train)
    assert left_out == ("shuffle_flag",) and "shuffle_flag" not in used
    assert len(used) == len(preference.FEATURES) - 1
    with pytest.raises(preference.CannotTrain, match="every feature is missing"):
        preference.usable_features(train.assign(**{f: np.nan for f in preference.FEATURES}))


def test_the_preference_model_refuses_what_it_cannot_judge_honestly():
    rng = np.random.default_rng(6)
    with pytest.raises(preference.CannotTrain, match="150 plays; at least 200 needed"):
        preference.train_user("u", _plays(150, 30, rng))
    with pytest.raises(preference.CannotTrain, match=r"plays on 4 day\(s\)"):
        preference.train_user("u", _plays(240, 4, rng))
    plays = _plays(240, 30, rng)
    late = plays["play_date"] >= sorted(plays["play_date"].unique())[-6]
    plays.loc[late, "skipped"] = False  # nothing skipped on the later days
    with pytest.raises(preference.CannotTrain, match="evaluation days .* hold only one class"):
        preference.train_user("u", plays)


def test_the_preference_model_trains_before_the_cutoff_and_is_scored_after():
    plays = _plays(300, 30, np.random.default_rng(7))
    result = preference.train_user("u", plays)
    assert result.n_train + result.n_eval == len(plays)
    assert min(result.eval_days) >= result.cutoff
    train_days = {str(d) for d in plays["play_date"]} - set(result.eval_days)
    assert max(train_days) < result.cutoff
    # A skip here is exactly a low valence: the model finds it, the artist baseline cannot.
    assert result.auc > 0.9 > result.baseline_auc

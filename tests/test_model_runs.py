"""The model runs the thin assets call (ml/mood, modes, preference, als `run`/`fit_listeners`)
on small hand-made frames: the rows they hand back fit the catalog, the metrics rows and the
reasons a listener is skipped follow from the input. No Spark: ALS is run only where it
refuses before fitting."""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pandas as pd
import pytest

from moodlake_dagster.ml import als, estimate, modes, mood, preference
from moodlake_dagster.tables import (
    ALS_RECOMMENDATIONS,
    LISTENING_MODES,
    PREFERENCE_MODEL,
    TRACK_MOODS,
)
from moodlake_dagster.vocabulary import ESTIMATE, MODE_FEATURES

AS_OF = dt.date(2025, 3, 1)
A, B, C = (f"u_{c * 16}" for c in "abc")  # pseudonyms as the schemas want them


def _metric_names(rows: list[dict]) -> list[str]:
    return [r["metric"] for r in rows]


# --- the mood classifier -----------------------------------------------------------------


def _tracks(rng, per_artist: int = 10, artists: int = 8) -> pd.DataFrame:
    """Happy tracks are bright, sad ones dark; each artist files half its songs under each
    mood, a few under none (unlabelled) or both (ambiguous)."""
    n = per_artist * artists
    frame = pd.DataFrame(rng.random((n, len(mood.FEATURES))), columns=list(mood.FEATURES))
    happy = np.arange(n) % 2 == 0
    frame["valence"] = np.where(happy, 0.7, 0.2) + rng.normal(0, 0.05, n)
    genres = [["pop", "happy"] if h else ["sad"] for h in happy]
    genres[0], genres[1] = ["pop"], ["happy", "sad"]  # labelled neither way
    return frame.assign(
        track_id=[f"t{i:03d}" for i in range(n)],
        song_key=[f"s{i:03d}" for i in range(n)],
        primary_artist=[f"artist{i % artists}" for i in range(n)],
        genres=genres,
        features_source="catalog",
    )


def test_a_mood_run_labels_every_track_and_scores_on_held_out_artists():
    tracks = _tracks(np.random.default_rng(1))
    run = mood.run(tracks, AS_OF)
    out, evaluation = run.out, run.evaluation
    labelled = mood.labelled_tracks(tracks)
    rows = out.rows.to_pandas()
    assert rows.columns.tolist() == ["as_of_date", "track_id", "mood", "probability", "in_training"]
    assert rows["track_id"].tolist() == tracks["track_id"].tolist()
    assert set(rows["as_of_date"]) == {AS_OF}
    assert rows["in_training"].tolist() == tracks["track_id"].isin(labelled["track_id"]).tolist()
    assert not rows.loc[:1, "in_training"].any()  # the two tracks without one mood genre
    TRACK_MOODS.model.validate(rows)
    # The data separate by valence: every labelled track gets its own mood back.
    by_id = rows.set_index("track_id")["mood"]
    assert (by_id[labelled["track_id"]].to_numpy() == labelled["label"].to_numpy()).all()

    classifier = out.metrics["mood_classifier"]
    assert _metric_names(classifier) == ["macro_auc", "auc_happy", "auc_sad"]
    assert {r["n_eval"] for r in classifier} == {len(labelled)}
    assert classifier[0]["value"] == evaluation.macro_auc
    assert classifier[0]["baseline"] == evaluation.baseline_macro_auc
    found = estimate.errors(tracks)
    estimates = out.metrics["feature_estimate"]
    assert _metric_names(estimates)[:2] == ["mae_valence", "mae_energy"]
    assert estimates[0]["value"] == found.mae["valence"]
    assert estimates[0]["baseline"] == found.baseline_mae["valence"]
    assert estimates[0]["n_eval"] == found.n_songs == len(tracks)  # every artist has others

    assert out.store_name == "mood_classifier"
    assert list(out.artifact.classes_) == ["happy", "sad"]
    assert out.card["n_train"] == len(labelled) and out.card["n_artists"] == 8
    assert out.card["macro_auc"] == out.metadata["macro_auc"] == evaluation.macro_auc
    assert out.metadata["labelled_tracks"] == len(labelled)
    assert out.metadata["artists"] == 8
    assert out.metadata["tracks_labelled"] == len(tracks)
    assert out.metadata["mood_counts"] == rows["mood"].value_counts().to_dict()
    assert out.metadata["per_class_auc"] == evaluation.per_class_auc
    assert out.metadata["feature_estimates"] == {r["metric"]: r["value"] for r in estimates}


def test_a_mood_run_refuses_before_fitting_with_too_few_artists():
    tracks = _tracks(np.random.default_rng(2), per_artist=20, artists=mood.FOLDS - 1)
    with pytest.raises(mood.NotEnoughLabels, match=f"by {mood.FOLDS - 1} artists"):
        mood.run(tracks, AS_OF)


# --- listening modes ---------------------------------------------------------------------


def _mode_tracks(rng, n: int = 40) -> pd.DataFrame:
    """`n` quiet tracks (q…) and `n` loud ones (l…)."""

    def kind(prefix, valence, energy, acoustic, dance, tempo):
        return pd.DataFrame(
            {
                "track_id": [f"{prefix}{i:03d}" for i in range(n)],
                "valence": rng.normal(valence, 0.03, n),
                "energy": rng.normal(energy, 0.03, n),
                "acousticness": rng.normal(acoustic, 0.03, n),
                "danceability": rng.normal(dance, 0.03, n),
                "tempo": rng.normal(tempo, 3, n),
                "genres": [[]] * n,  # a Silver column the run must not need
            }
        )

    return pd.concat(
        [kind("q", 0.3, 0.15, 0.9, 0.3, 80), kind("l", 0.7, 0.9, 0.05, 0.8, 125)],
        ignore_index=True,
    )


def _mode_plays(user: str, track_ids, day_part: str = "night", hour: int = 1) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": user,
            "track_id": list(track_ids),
            "day_part": day_part,
            "local_hour": hour,
            "source_format": "extended",
        }
    )


def test_listening_modes_for_who_can_have_them_and_why_not_for_the_others():
    tracks = _mode_tracks(np.random.default_rng(3))
    plays = pd.concat(
        [
            _mode_plays(A, tracks["track_id"]),  # 80 plays, two clear kinds
            _mode_plays(B, tracks["track_id"].head(modes.MIN_PLAYS - 1)),
            _mode_plays(C, ["not-in-silver"] * 50),
        ],
        ignore_index=True,
    )
    run = modes.fit_listeners(plays, tracks, AS_OF)
    out = run.out
    assert out.rows.schema == LISTENING_MODES.schema
    rows = out.rows.to_pandas()
    assert set(rows["user_id"]) == {A} and set(rows["as_of_date"]) == {AS_OF}
    assert rows["plays"].sum() == len(tracks) and rows["share"].sum() == pytest.approx(1)
    LISTENING_MODES.model.validate(rows)
    why_b = f"{modes.MIN_PLAYS - 1} plays with audio features; at least {modes.MIN_PLAYS} needed"
    assert out.metadata["users_skipped"] == {B: why_b, C: "no play with audio features"}
    assert run.log == [
        (logging.WARNING, f"{B}: no listening modes: {why_b}"),
        (logging.WARNING, f"{C}: no listening modes: no play with audio features"),
    ]
    assert out.metadata["users_with_modes"] == 1
    assert out.metadata["plays_used"] == len(tracks) + modes.MIN_PLAYS - 1  # C's match nothing
    (fitted,) = run.fitted
    assert out.metadata["k"] == fitted.k == len(rows) == 2
    assert out.metadata["silhouette"] == fitted.silhouette
    assert out.metrics == {
        "listening_modes": [
            {"metric": "silhouette", "value": fitted.silhouette, "baseline": None}
            | {"n_eval": len(tracks), "note": A},
            {"metric": "k", "value": 2, "baseline": None, "n_eval": len(tracks), "note": A},
        ]
    }
    assert out.store_name == "listening_modes" and set(out.artifact) == {A}
    assert out.card == {
        "features": list(MODE_FEATURES),
        "k": {A: 2},
        # What a served day shows (ml/cadence.py): the fit's silhouettes and who has no modes.
        "silhouette": {A: fitted.silhouette},
        "curve": {A: fitted.curve},
        "skipped": {B: why_b},  # C, with no play with features, is told so on each day
    }
    # The map's sample: A's plays, each in the mode the model puts it in.
    assert len(run.sample) == len(tracks) and set(run.sample["user_id"]) == {A}
    quiet = run.sample["track_id"].str.startswith("q")
    assert run.sample.loc[quiet, "mode_id"].nunique() == 1
    assert set(run.sample.loc[quiet, "mode_id"]) != set(run.sample.loc[~quiet, "mode_id"])


def test_listening_modes_with_nobody_to_fit_write_an_empty_table_and_store_nothing():
    tracks = _mode_tracks(np.random.default_rng(4))
    run = modes.fit_listeners(_mode_plays(B, tracks["track_id"].head(5)), tracks, AS_OF)
    assert run.out.rows.num_rows == 0 and run.out.rows.schema == LISTENING_MODES.schema
    assert run.out.metrics == {"listening_modes": []}  # the day's earlier rows are cleared
    assert run.out.artifact is None and run.fitted == [] and run.sample is None
    assert "k" not in run.out.metadata
    assert run.out.empty_reason == f"no listener has {modes.MIN_PLAYS} plays with audio features"


# --- the preference model ----------------------------------------------------------------


def _preference_plays(user: str, n: int, days: int, rng, tracks: pd.DataFrame) -> pd.DataFrame:
    """`n` plays over `days` days; a play is skipped exactly when its track is dark."""
    start = pd.Timestamp("2025-01-01", tz="UTC")
    times = start + pd.to_timedelta(np.sort(rng.uniform(0, days * 86_400, n)), unit="s")
    track_ids = rng.choice(tracks["track_id"], n)
    dark = track_ids.astype(object) < "t050"
    return pd.DataFrame(
        {
            "user_id": user,
            "play_id": [f"{user}-{i:04d}" for i in range(n)],
            "track_id": track_ids,
            "played_at_utc": times,
            "play_date": times.date,
            "artist_name": rng.choice(["X", "Y", "Z"], n),
            "dedup_key": track_ids,
            "skipped": dark,
            "day_part": rng.choice(["night", "morning", "afternoon", "evening"], n),
            "local_hour": rng.integers(0, 24, n),
            "shuffle": rng.random(n) < 0.5,
            "reason_start": rng.choice(["trackdone", "fwdbtn", "clickrow"], n),
        }
    )


def _audio(rng, n: int = 100) -> pd.DataFrame:
    """Tracks t000…t099: the first half dark (low valence), the rest bright."""
    frame = pd.DataFrame({f: rng.random(n) for f in preference.AUDIO})
    frame["valence"] = np.where(np.arange(n) < n // 2, 0.1, 0.9)
    return frame.assign(track_id=[f"t{i:03d}" for i in range(n)], genres=[[]] * n)


def test_a_preference_run_trains_who_it_can_and_says_why_not_for_the_others():
    rng = np.random.default_rng(5)
    tracks = _audio(rng)
    bare = _preference_plays(C, 300, 30, rng, tracks).assign(shuffle=None, reason_start=None)
    plays = pd.concat(
        [
            _preference_plays(A, 300, 30, rng, tracks),
            _preference_plays(B, preference.MIN_PLAYS - 50, 30, rng, tracks),
            bare,
        ],
        ignore_index=True,
    )
    run = preference.fit_listeners(plays, tracks, AS_OF)
    out = run.out
    assert out.rows.schema == PREFERENCE_MODEL.schema
    rows = out.rows.to_pandas()
    PREFERENCE_MODEL.model.validate(rows)
    assert rows["user_id"].tolist() == [A, B, C]
    assert rows["status"].tolist() == ["trained", "skipped", "trained"]
    assert set(rows["as_of_date"]) == {AS_OF}
    why_b = f"{preference.MIN_PLAYS - 50} plays; at least {preference.MIN_PLAYS} needed"
    left_out = ("shuffle_flag", "reason_start_code")
    note_c = f"trained without {', '.join(left_out)}: missing for every training play"
    assert rows["reason"].tolist() == [None, why_b, note_c]
    assert (rows.loc[[0, 2], "n_train"] + rows.loc[[0, 2], "n_eval"] == 300).all()
    assert rows.loc[0, "auc"] > 0.9  # the skips follow valence, which the model reads
    assert run.log == [
        (logging.WARNING, f"{B}: preference model not trained: {why_b}"),
        (logging.INFO, f"{C}: preference model {note_c}"),
    ]
    assert [r.user_id for r in run.results] == [A, C]
    assert out.metrics == {
        "preference_model": [
            {"metric": "auc", "value": r.auc, "baseline": r.baseline_auc}
            | {"n_eval": r.n_eval, "note": r.user_id}
            for r in run.results
        ]
    }
    assert out.metadata["users_trained"] == 2
    assert out.metadata["users_skipped"] == {B: why_b}
    assert out.metadata["features_left_out"] == {C: list(left_out)}
    main = max(run.results, key=lambda r: r.n_eval)
    assert out.metadata["auc"] == main.auc and out.metadata["cutoff"] == main.cutoff
    assert out.store_name == "preference_model" and set(out.artifact) == {A, C}
    assert len(out.card["features"][C]) == len(preference.FEATURES) - len(left_out)


def test_a_preference_run_with_nobody_trained_stores_nothing():
    rng = np.random.default_rng(6)
    tracks = _audio(rng)
    run = preference.fit_listeners(_preference_plays(B, 20, 3, rng, tracks), tracks, AS_OF)
    assert run.out.rows.to_pandas()["status"].tolist() == ["skipped"]
    assert run.out.metrics == {"preference_model": []}
    assert run.out.artifact is None and run.results == []
    assert "auc" not in run.out.metadata


# --- ALS, where it refuses before Spark is asked anything ----------------------------------


def test_an_als_run_that_cannot_evaluate_or_fit_says_why_and_leaves_the_metrics_alone():
    days = pd.to_datetime(["2025-01-01 08:00", "2025-01-02 08:00", "2025-01-03 08:00"], utc=True)
    plays = pd.DataFrame(
        {
            "user_id": A,
            "track_id": ["t1", "t1", "t2"],
            "spotify_track_id": [None, None, None],
            "resolution": ["catalog", "catalog", ESTIMATE],  # an estimate is no item
            "played_at_utc": days,
            "play_date": days.date,
            "skipped": False,
            "source_format": "account_data",
        }
    )[als.PLAY_COLUMNS]
    run = als.run(None, plays, AS_OF)  # both steps refuse before the session is used
    out = run.out
    assert out.rows.num_rows == 0 and out.rows.schema == ALS_RECOMMENDATIONS.schema
    assert out.metrics == {}  # not evaluated: the day's ALS metrics stand
    assert out.artifact is None and run.evaluation is None
    # The estimate's play has no item, so two days and two one-play sessions of t1 are left.
    assert run.why == "2 listening days: need at least 5 to hold later days out"
    not_fitted = "2 sessions × 1 tracks: nothing to factorise"
    assert out.metadata == {
        "unit": "session",
        "listeners": 1,
        "plays_used": 2,
        "plays_without_track_id": 1,
        "refitted_because": "MOODLAKE_REFIT_DAYS=0: every run refits",
        "not_evaluated": run.why,
        "not_fitted": not_fitted,
    }
    assert run.log == [
        (logging.WARNING, f"ALS not evaluated: {run.why}"),
        (logging.WARNING, f"ALS not fitted: {not_fitted}"),
    ]
    assert plays["track_id"].tolist() == ["t1", "t1", "t2"]  # the caller's frame is untouched
    assert out.empty_reason == "nothing fitted"

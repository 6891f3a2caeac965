"""The popularity predictor: will a track sit in the catalog's top quartile of popularity?

Inputs are what a track *is* (audio features, length, explicit flag, key, mode, metre) and the
genre it is filed under — never its artist, its plays or its popularity. The label is
popularity ≥ the 75th percentile over the catalog rows scored; popularity is an integer with
many ties, so every track tied at the threshold counts as top quartile and the positive share
can exceed 25% (the metrics and card say by how much). Genre is target-encoded inside each
training fold only (sklearn's TargetEncoder, cross-fitted on that fold), so a test track's own
popularity never reaches its encoding. Evaluation is artist-grouped 5-fold CV: no artist is in
both a training fold and its test fold, so the score is not inflated by an artist's fame. The
baseline the model must beat scores a track with its genre's mean popularity in the training
folds — the obvious "pop sells" guess.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pyarrow as pa
import shap
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import TargetEncoder
from threadpoolctl import threadpool_limits

from moodlake_dagster.ml.metrics import metric
from moodlake_dagster.ml.output import ModelOutput
from moodlake_dagster.tables import POPULARITY_PREDICTIONS
from moodlake_dagster.vocabulary import AUDIO_FEATURES

NUMERIC = (
    *AUDIO_FEATURES,
    "duration_ms",
    "explicit",
    "key",
    "mode",
    "time_signature",
)
FEATURES = ("genre", *NUMERIC)  # the model's input columns, genre first (target-encoded)
FOLDS = 5
SEED = 7
QUANTILE = 0.75
SHAP_SAMPLE = 2_000
# One OpenMP thread for the boosting: on 2 cores shared with Spark, two spinning threads were
# 150× slower than one when the machine was busy (957 s vs ~6 s for the 10k sample).
THREADS = 1
UNKNOWN_GENRE = "unknown"

SCHEMA = POPULARITY_PREDICTIONS.schema


class NotEnoughTracks(ValueError):
    """Too few scored tracks, artists or classes to evaluate honestly."""


@dataclass
class PopularityEvaluation:
    auc: float
    baseline_auc: float
    fold_auc: list[float]
    fold_baseline_auc: list[float]
    threshold: float
    positive_share: float
    n_tracks: int
    n_artists: int
    folds: list[tuple[set[str], set[str]]] = field(repr=False, default_factory=list)


def scored_tracks(tracks: pd.DataFrame) -> pd.DataFrame:
    """Catalog tracks with a popularity, their first genre and their artist group.

    API lookups carry a placeholder popularity of 0 and estimate rows none of their own, so
    only `features_source == "catalog"` rows count when the column is there.
    """
    keep = tracks["popularity"].notna()
    if "features_source" in tracks.columns:
        keep &= tracks["features_source"] == "catalog"
    frame = tracks.loc[keep].copy()
    frame["genre"] = frame["genres"].map(_first_genre)
    frame["popularity"] = frame["popularity"].astype("int64")
    if "explicit" not in frame.columns:
        # Unknown for every track: a constant, never split on (an all-missing column fails the
        # boosted trees' binning).
        frame["explicit"] = 0.0
    frame["explicit"] = frame["explicit"].astype("float64")
    frame["artist_group"] = frame["primary_artist"].fillna(frame["track_id"])
    return frame.reset_index(drop=True)


def _first_genre(genres) -> str:
    """The first genre (Silver sorts a track's genres); tracks without one share a bucket."""
    if genres is None or (not isinstance(genres, list | tuple | np.ndarray)) or len(genres) == 0:
        return UNKNOWN_GENRE
    return str(genres[0])


def model() -> Pipeline:
    """Genre target-encoded, then gradient boosting; no early stopping, so fits are repeatable."""
    encode = ColumnTransformer(
        [
            (
                "genre",
                TargetEncoder(target_type="binary", cv=KFold(5, shuffle=True, random_state=SEED)),
                ["genre"],
            )
        ],
        remainder="passthrough",
        verbose_feature_names_out=False,
    )
    boosted = HistGradientBoostingClassifier(
        max_iter=150,
        learning_rate=0.1,
        max_leaf_nodes=31,
        min_samples_leaf=30,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=SEED,
    )
    return Pipeline([("encode", encode), ("boosted", boosted)])


def _genre_mean(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    """The baseline score: the training folds' mean popularity of the test track's genre."""
    means = train.groupby("genre")["popularity"].mean()
    return test["genre"].map(means).fillna(train["popularity"].mean()).to_numpy(float)


def evaluate(frame: pd.DataFrame) -> tuple[PopularityEvaluation, np.ndarray, np.ndarray]:
    """Out-of-fold probability and fold index per row, and the AUCs beside the baseline."""
    n_artists = frame["artist_group"].nunique()
    threshold = float(frame["popularity"].quantile(QUANTILE)) if len(frame) else float("nan")
    y = (frame["popularity"] >= threshold).to_numpy()
    if len(frame) < 100 or n_artists < FOLDS or y.all() or not y.any():
        raise NotEnoughTracks(
            f"{len(frame)} tracks by {n_artists} artists, {int(y.sum())} in the top quartile: "
            f"need ≥ 100 tracks, ≥ {FOLDS} artists and both classes"
        )
    X = frame[list(FEATURES)]
    groups = frame["artist_group"].to_numpy()
    oof, oof_base = np.zeros(len(frame)), np.zeros(len(frame))
    fold = np.zeros(len(frame), dtype="int64")
    fold_auc, fold_base, folds = [], [], []
    for i, (train, test) in enumerate(GroupKFold(n_splits=FOLDS).split(X, y, groups)):
        folds.append((set(groups[train]), set(groups[test])))
        estimator = model().fit(X.iloc[train], y[train])
        oof[test] = estimator.predict_proba(X.iloc[test])[:, 1]
        oof_base[test] = _genre_mean(frame.iloc[train], frame.iloc[test])
        fold[test] = i
        fold_auc.append(_auc(y[test], oof[test]))
        fold_base.append(_auc(y[test], oof_base[test]))
    evaluation = PopularityEvaluation(
        auc=float(roc_auc_score(y, oof)),
        baseline_auc=float(roc_auc_score(y, oof_base)),
        fold_auc=fold_auc,
        fold_baseline_auc=fold_base,
        threshold=threshold,
        positive_share=float(y.mean()),
        n_tracks=len(frame),
        n_artists=int(n_artists),
        folds=folds,
    )
    return evaluation, oof, fold


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    return float(roc_auc_score(y, score)) if 0 < y.sum() < len(y) else float("nan")


def importance(estimator: Pipeline, frame: pd.DataFrame) -> pd.Series:
    """Mean |SHAP| (log-odds) per input on a seeded sample of ≤ 2,000 rows."""
    sample = frame.sample(n=min(SHAP_SAMPLE, len(frame)), random_state=SEED)
    X = estimator.named_steps["encode"].transform(sample[list(FEATURES)])
    names = list(estimator.named_steps["encode"].get_feature_names_out())
    values = np.asarray(shap.TreeExplainer(estimator.named_steps["boosted"]).shap_values(X))
    if values.ndim == 3:  # some shap versions return one slice per class
        values = values[..., -1]
    return pd.Series(np.abs(values).mean(axis=0), index=names).sort_values()


def fit(tracks: pd.DataFrame, as_of: dt.date) -> ModelOutput:
    """Score every catalog track out of fold, fit the served model on all of them, and
    explain it. Raises NotEnoughTracks before anything is fitted."""
    frame = scored_tracks(tracks)
    with threadpool_limits(limits=THREADS, user_api="openmp"):
        evaluation, oof, fold = evaluate(frame)
        estimator = model().fit(frame[list(FEATURES)], frame["popularity"] >= evaluation.threshold)
        shap_importance = importance(estimator, frame)
    rows = pd.DataFrame(
        {
            "as_of_date": as_of,
            "track_id": frame["track_id"].astype(str),
            "genre": frame["genre"],
            "popularity": frame["popularity"],
            "top_quartile": frame["popularity"] >= evaluation.threshold,
            "probability": oof,
            "fold": fold,
        }
    )
    n = evaluation.n_tracks
    share = f"{evaluation.positive_share:.1%} of tracks at or above it (ties count as top)"
    scores = [
        metric(
            "roc_auc",
            evaluation.auc,
            baseline=evaluation.baseline_auc,
            n_eval=n,
            note=f"artist-grouped {FOLDS}-fold CV, out of fold; baseline: training folds' "
            "genre-mean popularity",
        ),
        metric("n_eval", float(n), n_eval=n, note=f"{evaluation.n_artists} artists"),
        metric("threshold", evaluation.threshold, n_eval=n, note=share),
    ]
    out = ModelOutput(
        rows=pa.Table.from_pandas(rows, schema=SCHEMA, preserve_index=False),
        metrics={"popularity": scores},
        store_name="popularity",
        artifact=estimator,
        card={
            "features": list(FEATURES),
            "label": f"popularity ≥ {evaluation.threshold:g} (75th percentile; ties are top)",
            "genre": "first genre, target-encoded inside each training fold",
            "evaluation": f"artist-grouped {FOLDS}-fold CV, out-of-fold ROC AUC",
            "roc_auc": evaluation.auc,
            "baseline_roc_auc": evaluation.baseline_auc,
            "n_train": n,
            "n_artists": evaluation.n_artists,
        },
        metadata={
            "roc_auc": evaluation.auc,
            "baseline_roc_auc": evaluation.baseline_auc,
            "fold_roc_auc": evaluation.fold_auc,
            "fold_baseline_roc_auc": evaluation.fold_baseline_auc,
            "threshold": evaluation.threshold,
            "top_quartile_share": evaluation.positive_share,
            "tracks": n,
            "artists": evaluation.n_artists,
        },
        empty_reason="no catalog track with a popularity",
    )
    out.figures["shap"] = (
        importance_plot(shap_importance),
        "global SHAP importance (mean |SHAP|) of the popularity model",
    )
    out.figures["plot"] = (
        fold_plot(evaluation),
        "ROC AUC per artist-grouped fold, model vs genre-mean baseline",
    )
    return out


def importance_plot(values: pd.Series) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(5.5, 3.8), layout="constrained")
    ax.barh(values.index, values.to_numpy(), color="#264653")
    ax.set_xlabel("mean |SHAP| (log-odds)")
    ax.set_title("What the popularity model leans on", fontsize=9)
    return fig


def fold_plot(evaluation: PopularityEvaluation) -> plt.Figure:
    from moodlake_dagster.insights import versus_baseline_plot  # plotting only

    scores = pd.DataFrame(
        {
            "model": [*evaluation.fold_auc, evaluation.auc],
            "baseline": [*evaluation.fold_baseline_auc, evaluation.baseline_auc],
        },
        index=[*(f"fold {i + 1}" for i in range(len(evaluation.fold_auc))), "all (OOF)"],
    )
    return versus_baseline_plot(
        scores,
        ylabel="ROC AUC (artist-grouped CV)",
        baseline="genre-mean baseline",
        limits=(0.4, 1.0),
    )

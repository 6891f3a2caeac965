"""SHAP explanations (TreeExplainer) turned into a table and into sentences.

Tree SHAP is exact for tree ensembles: a row's base value plus its contributions equals the
model's raw output (log-odds) for that row. Shares are each feature's |contribution| over the
sum of all of them, so "38%" means "38% of what moved this score away from the average".

The mood classifier served is a soft vote of gradient boosting and a logistic regression;
TreeExplainer explains its boosted half, and the sentences say so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import shap

from moodlake_dagster.ml import mood, parallel, recommend
from moodlake_dagster.ml.output import ModelOutput
from moodlake_dagster.tables import EXPLANATIONS, SHAP_VALUES

UNITS = {"tempo": "{:.0f} BPM", "loudness": "{:.1f} dB", "duration_ms": "{:.0f} ms"}
HIDDEN = {"day_part_code"}  # a model input, not something a track has
# What an explanation is of: a recommendation (listener, day part, mode, rank) or a mood label.
KEYS = ["subject", "user_id", "day_part", "mode", "rank", "track_id", "label"]


def contributions(model, X: np.ndarray, class_index: np.ndarray | None = None):
    """(base values, SHAP values, raw outputs) per row; for a multi-class model, of the
    class given per row in `class_index`.

    The raw output is the model's own `decision_function`, not base + Σ SHAP, so that the
    additivity check holds Tree SHAP to the model rather than to itself."""
    explainer = shap.TreeExplainer(model)
    if class_index is not None and _stacked(explainer) > 1:
        base, values = _own_class_contributions(explainer, X, class_index)
    else:
        values = np.asarray(explainer.shap_values(X))
        base = np.atleast_1d(np.asarray(explainer.expected_value, dtype=float))
        if values.ndim == 3:  # rows × features × classes
            values = values[np.arange(len(X)), :, class_index]
            base = base[class_index]
        else:
            base = np.full(len(X), base[0])
    return base, values, _raw_output(model, X, class_index)


def _raw_output(model, X: np.ndarray, class_index: np.ndarray | None) -> np.ndarray:
    """The model's raw score per row (log-odds; a multi-class model's score of the row's class)."""
    raw = np.asarray(model.decision_function(X), dtype=float)
    if raw.ndim == 2:
        raw = raw[np.arange(len(X)), class_index]
    return raw


def _stacked(explainer) -> int:
    """How many outputs the ensemble's trees take turns at (one tree per class per iteration)."""
    return int(getattr(explainer.model, "num_stacked_models", 1) or 1)


def _own_class_contributions(explainer, X: np.ndarray, class_index: np.ndarray):
    """Each row explained through its own class's trees only.

    A K-class boosted model grows one tree per class per iteration, and a tree adds only to
    its class's score, so the trees of the other classes contribute nothing to a row's own
    class. Explaining every row through all of them (as `shap_values` does) costs K times the
    work: 15k labelled tracks, 7 moods, 300 iterations took 19 s, and take 3 s this way, with
    the same values (tests/test_explain.py)."""
    k_outputs = _stacked(explainer)
    trees = explainer.model.trees  # iteration-major: tree i is of class i % K
    base = np.asarray(explainer.expected_value, dtype=float)[class_index]
    values = np.zeros(X.shape, dtype=float)
    for k in np.unique(class_index):
        rows = class_index == k
        values[rows] = shap.TreeExplainer(trees[k::k_outputs]).shap_values(X[rows])
    return base, values


def long_table(
    keys: pd.DataFrame, features: tuple[str, ...], X: np.ndarray, base, values, output
) -> pd.DataFrame:
    """One row per explained subject and feature: value, contribution, share."""
    share = np.abs(values) / np.abs(values).sum(axis=1, keepdims=True).clip(min=1e-12)
    n, k = values.shape
    frame = keys.loc[keys.index.repeat(k)].reset_index(drop=True)
    return frame.assign(
        feature=np.tile(features, n),
        feature_value=X.reshape(-1),
        shap_value=values.reshape(-1),
        share=share.reshape(-1),
        base_value=np.repeat(base, k),
        output=np.repeat(output, k),
    )


def fmt(feature: str, value: float) -> str:
    return UNITS.get(feature, "{:.2f}").format(value)


def top_reasons(features, x, values, n: int = 2) -> list[tuple[str, str, float]]:
    """The features that pushed the score up most: (name, formatted value, share)."""
    total = np.abs(values).sum() or 1.0
    order = [i for i in np.argsort(-values) if values[i] > 0 and features[i] not in HIDDEN]
    return [(features[i], fmt(features[i], x[i]), values[i] / total) for i in order[:n]]


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def recommendation_sentence(row, features, x, values, mode_name: str | None) -> str:
    reasons = top_reasons(features, x, values)
    target = f'your "{mode_name}" mode' if mode_name else f"what you play in the {row.day_part}"
    if reasons:
        named = _join([f"{name} ({value})" for name, value, _ in reasons])
        shares = _join([f"{share:.0%}" for *_, share in reasons])
        verb = "matches" if len(reasons) == 1 else "match"
        text = f"Recommended because its {named} {verb} {target} (contributing {shares})"
    else:
        text = f"Recommended as the closest fit to {target} among new tracks"
    if row.mode == "coach":
        dv, de = row.delta_valence, row.delta_energy
        step = "valence" if dv >= de or row.coach_nudging else "energy"
        delta = dv if step == "valence" else de
        size = "slightly" if delta < 0.08 else "a little"
        text += f", with {size} higher {step} ({delta:+.2f} over {row.recent_over})"
        if row.coach_nudging:
            text += f" after {row.low_valence_days} low-valence days"
    return text + "."


def mood_sentence(mood: str, probability: float, features, x, values) -> str:
    reasons = top_reasons(features, x, values)
    head = f"Labelled {mood} (p={probability:.2f})"
    if not reasons:
        return head + "; no single feature stands out in the boosted model."
    named = _join([f"{name} {value} ({share:.0%})" for name, value, share in reasons])
    return f"{head}: in the boosted half of the model, mostly its {named}."


def global_importance(values: np.ndarray, features) -> pd.Series:
    """Mean |SHAP| per feature: what the model leans on overall."""
    return pd.Series(np.abs(values).mean(axis=0), index=list(features)).sort_values()


def _explain_listener(user_id: str, part: tuple[pd.DataFrame, Any]):
    """(SHAP rows, sentences) for one listener's picks (`part`: their rows, match model)."""
    rows, model = part
    rows = rows.reset_index(drop=True)
    X = recommend.design(rows, rows["day_part"])
    base, values, output = contributions(model, X)
    keys = rows.assign(subject="recommendation", label="match")[KEYS]
    text = [
        recommendation_sentence(row, recommend.FEATURES, x, v, row.listening_mode)
        for row, x, v in zip(rows.itertuples(), X, values, strict=True)
    ]
    sentences = keys.assign(
        score=rows["match_score"], base_value=base, output=output, sentence=text
    )
    return long_table(keys, recommend.FEATURES, X, base, values, output), sentences


def explain_recommendations(
    recs: pd.DataFrame, tracks: pd.DataFrame, matches: dict, n_workers: int = 1
):
    """(SHAP rows, sentences) for every recommendation, from its listener's match model.

    Each listener has their own model, so there is one Tree SHAP call per listener (~30 ms
    for their 80 picks; 200 listeners × ~1,000 plays: 6.4 s CPU). One process by default:
    measured on that crowd, starting workers that import shap took longer (40 s wall) than
    the serial run (13 s). `n_workers` > 1 spreads listeners over processes; Tree SHAP is
    exact, so the rows are the same either way (tests/test_recommend_scale.py)."""
    frame = recs.merge(tracks[["track_id", *recommend.AUDIO]], on="track_id", suffixes=("_r", ""))
    groups = [
        (user_id, (rows, matches[user_id].model))
        for user_id, rows in frame.groupby("user_id")
        if matches.get(user_id) is not None
    ]
    done = parallel.per_listener(_explain_listener, groups, n_workers=n_workers)
    return [shap_rows for shap_rows, _ in done], [sentences for _, sentences in done]


def explain_moods(moods: pd.DataFrame, tracks: pd.DataFrame, estimator):
    """(SHAP rows, sentences) for every labelled track, from the classifier's boosted half."""
    boosted = estimator.named_estimators_["boosted"]
    frame = moods.merge(tracks[["track_id", *mood.FEATURES]], on="track_id").reset_index(drop=True)
    X = frame[list(mood.FEATURES)].to_numpy(float)
    classes = list(estimator.classes_)  # the vote encodes labels; members see their codes
    base, values, output = contributions(
        boosted, X, np.array([classes.index(m) for m in frame["mood"]])
    )
    keys = frame.assign(
        subject="mood", user_id=None, day_part=None, mode=None, rank=None, label=frame["mood"]
    )[KEYS]
    text = [
        mood_sentence(m, p, mood.FEATURES, x, v)
        for m, p, x, v in zip(frame["mood"], frame["probability"], X, values, strict=True)
    ]
    sentences = keys.assign(
        score=frame["probability"], base_value=base, output=output, sentence=text
    )
    return [long_table(keys, mood.FEATURES, X, base, values, output)], [sentences]


@dataclass
class Explained:
    """A run's two tables, as frames (the checks and previews read them) and as outputs."""

    shap_rows: pd.DataFrame
    sentences: pd.DataFrame
    not_explained: dict[str, str]  # what was left unexplained, and why
    shap: ModelOutput  # gold/shap_values
    text: ModelOutput  # gold/explanations

    @property
    def shown(self) -> pd.DataFrame:
        """The sentences the asset page shows: recommendations where there are any."""
        recs = self.sentences[self.sentences["subject"] == "recommendation"]
        return recs if len(recs) else self.sentences

    def shap_preview_rows(self) -> pd.DataFrame:
        """The values a person compares: whose, which feature, how much (empty keys dropped)."""
        return self.shap_rows[
            [*KEYS[:5], "feature", "feature_value", "shap_value", "share"]
        ].dropna(axis="columns", how="all")


Loader = Callable[[], tuple[pd.DataFrame, Any]]


def explain_all(
    tracks: pd.DataFrame,
    recommendations: Loader,
    moods: Loader,
    as_of: dt.date,
    moods_explained: tuple[pd.DataFrame, pd.DataFrame] | None = None,
) -> Explained:
    """SHAP rows and sentences for every recommendation and mood label as of `as_of`.

    `recommendations` and `moods` load (the table, its model) when called; one that raises
    LookupError (not built yet) leaves its part unexplained, and `not_explained` says why.
    `moods_explained` (SHAP rows, sentences) stands for the mood part where it is known already.
    """
    values, sentences, skipped = [], [], {}
    for what, load, explain_part in (
        ("recommendations", recommendations, explain_recommendations),
        ("moods", moods, explain_moods),
    ):
        if what == "moods" and moods_explained is not None:
            values, sentences = values + [moods_explained[0]], sentences + [moods_explained[1]]
            continue
        try:
            frame, model = load()
            v, s = explain_part(frame, tracks, model)
            values, sentences = values + v, sentences + s
        except LookupError as err:
            skipped[what] = str(err)
    shap_rows = _table(values, SHAP_VALUES.schema, as_of)
    text = _table(sentences, EXPLANATIONS.schema, as_of)
    counts = text["subject"].value_counts().to_dict() if len(text) else {}
    reason = "nothing to explain: " + "; ".join(skipped.values())
    return Explained(
        shap_rows,
        text,
        skipped,
        shap=ModelOutput(
            rows=_arrow(shap_rows, SHAP_VALUES.schema),
            metadata={"rows": len(shap_rows), "subjects": counts},
            empty_reason=reason,
        ),
        text=ModelOutput(
            rows=_arrow(text, EXPLANATIONS.schema),
            metadata={"rows": len(text), "not_explained": skipped},
            empty_reason=reason,
        ),
    )


def _table(parts: list[pd.DataFrame], schema: pa.Schema, as_of: dt.date) -> pd.DataFrame:
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return frame.reindex(columns=schema.names).assign(as_of_date=as_of)


def _arrow(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    frame = frame.assign(rank=frame["rank"].astype("Int64"))
    return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)

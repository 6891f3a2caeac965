"""The figures on the model assets' pages: each model against its baseline, the listening
modes, the mirror and coach lists, and what SHAP says drove the picks.

Built from what the training code returns; the assets only attach them.
"""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import pandas as pd

from moodlake_dagster.insights import versus_baseline_plot
from moodlake_dagster.ml import als, explain, modes, mood, preference, recommend
from moodlake_dagster.vocabulary import MOOD_AUC_BAR, PREFERENCE_AUC_BAR


def mood_auc_plot(evaluation: mood.MoodEvaluation) -> plt.Figure:
    scores = pd.DataFrame(
        {"model": evaluation.per_class_auc, "baseline": evaluation.baseline_per_class_auc}
    ).sort_index()
    return versus_baseline_plot(
        scores,
        ylabel="ROC AUC (artist-grouped CV)",
        baseline="logistic baseline",
        bar=MOOD_AUC_BAR,
        limits=(0.5, 1.0),
    )


def modes_plots(fitted: list[modes.UserModes], sample: pd.DataFrame) -> tuple:
    curve, ax = plt.subplots(figsize=(5, 3))
    for user in fitted[:5]:
        ax.plot(list(user.curve), list(user.curve.values()), marker="o", label=user.user_id)
    ax.set_xlabel("k (modes)")
    ax.set_ylabel("silhouette")
    ax.set_title("Choosing k: the highest silhouette wins")
    ax.legend(fontsize=7)
    curve.tight_layout()
    main = fitted[0]
    mode_map, ax = plt.subplots(figsize=(5, 4))
    ax.scatter(sample["valence"], sample["energy"], c=sample["mode_id"], s=6, alpha=0.4)
    for row in main.modes.itertuples():
        ax.annotate(row.name, (row.centroid_valence, row.centroid_energy), fontsize=8)
    ax.set_xlabel("valence")
    ax.set_ylabel("energy")
    ax.set_title(f"Listening modes of {main.user_id}")
    mode_map.tight_layout()
    return curve, mode_map


def preference_auc_plot(results: list[preference.PreferenceResult]):
    scores = pd.DataFrame(
        {"model": [r.auc for r in results], "baseline": [r.baseline_auc for r in results]},
        index=[r.user_id for r in results],
    )
    return versus_baseline_plot(
        scores,
        ylabel="ROC AUC on later days",
        baseline="past-skip-rate baseline",
        bar=PREFERENCE_AUC_BAR,
        limits=(0.4, 1.0),
    )


def als_ranking_plot(evaluation: als.Evaluation):
    scores = pd.DataFrame(
        {
            "model": [evaluation.precision, evaluation.ndcg],
            "baseline": [evaluation.baseline_precision, evaluation.baseline_ndcg],
        },
        index=["precision@10", "NDCG@10"],
    )
    return versus_baseline_plot(scores, ylabel="on later days", baseline="popularity")


def recommendation_lists_plot(table: pd.DataFrame, user_id: str, day_part: str) -> plt.Figure:
    """Mirror and coach picks for one listener and day part around their recent mean."""
    rows = table[(table["user_id"] == user_id) & (table["day_part"] == day_part)]
    fig, ax = plt.subplots(figsize=(5, 4))
    for mode, marker in (("mirror", "o"), ("coach", "^")):
        picks = rows[rows["mode"] == mode]
        ax.scatter(picks["valence"], picks["energy"], marker=marker, label=mode, alpha=0.8)
    if len(rows):
        v, e = (
            rows["valence"].iloc[0] - rows["delta_valence"].iloc[0],
            (rows["energy"].iloc[0] - rows["delta_energy"].iloc[0]),
        )
        cap = recommend.STEP_MAX
        ax.add_patch(plt.Rectangle((v - cap, e - cap), 2 * cap, 2 * cap, fill=False, ls="--"))
        ax.scatter([v], [e], marker="x", color="black", label="recent mean")
    ax.set_xlabel("valence")
    ax.set_ylabel("energy")
    ax.set_title(f"{day_part}: mirror vs coach (dashed: coach caps)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def shap_importance_plot(shap_rows: pd.DataFrame) -> plt.Figure:
    """Mean |SHAP| per feature, one panel per model."""
    subjects = sorted(shap_rows["subject"].unique())
    fig, axes = plt.subplots(1, len(subjects), figsize=(5 * len(subjects), 3.4), squeeze=False)
    for ax, subject in zip(axes[0], subjects, strict=True):
        rows = shap_rows[shap_rows["subject"] == subject]
        rows = rows[~rows["feature"].isin(explain.HIDDEN)]
        mean = rows.assign(a=rows["shap_value"].abs()).groupby("feature")["a"].mean().sort_values()
        ax.barh(mean.index, mean.to_numpy())
        ax.set_title(
            "recommendations (match model)" if subject == "recommendation" else "moods (boosted)",
            fontsize=9,
        )
        ax.set_xlabel("mean |SHAP| (log-odds)")
    fig.tight_layout()
    return fig


def shap_pick_plot(shap_rows: pd.DataFrame, text: pd.DataFrame) -> plt.Figure:
    """Why the first explained subject (a top pick when there is one): its SHAP contributions."""
    first = text.sort_values(["subject", "rank"], na_position="last").iloc[[0]]
    rows = shap_rows.merge(
        first[explain.KEYS], on=explain.KEYS
    )  # pandas matches missing keys to each other
    rows = rows[~rows["feature"].isin(explain.HIDDEN)].sort_values("shap_value")
    first = first.iloc[0]
    fig, ax = plt.subplots(figsize=(6.5, 3.6), layout="constrained")
    colors = ["#2a9d8f" if v > 0 else "#e76f51" for v in rows["shap_value"]]
    ax.barh(rows["feature"], rows["shap_value"], color=colors)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("contribution to the model's output (log-odds)")
    ax.set_title(textwrap.fill(str(first["sentence"]), 80), fontsize=8, loc="left")
    return fig

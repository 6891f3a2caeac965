"""SHAP explanations (TreeExplainer) turned into a table and into sentences.

Tree SHAP is exact for tree ensembles: a row's base value plus its contributions equals the
model's raw output (log-odds) for that row. Shares are each feature's |contribution| over the
sum of all of them, so "38%" means "38% of what moved this score away from the average".

The mood classifier served is a soft vote of gradient boosting and a logistic regression;
TreeExplainer explains its boosted half, and the sentences say so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shap

UNITS = {"tempo": "{:.0f} BPM", "loudness": "{:.1f} dB", "duration_ms": "{:.0f} ms"}
HIDDEN = {"day_part_code"}  # a model input, not something a track has


def contributions(model, X: np.ndarray, class_index: np.ndarray | None = None):
    """(base values, SHAP values, raw outputs) per row; for a multi-class model, of the
    class given per row in `class_index`."""
    explainer = shap.TreeExplainer(model)
    values = np.asarray(explainer.shap_values(X))
    base = np.atleast_1d(np.asarray(explainer.expected_value, dtype=float))
    if values.ndim == 3:  # rows × features × classes
        rows = np.arange(len(X))
        values = values[rows, :, class_index]
        base = base[class_index]
    else:
        base = np.full(len(X), base[0])
    return base, values, base + values.sum(axis=1)


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

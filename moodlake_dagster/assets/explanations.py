"""The explanations assets: SHAP values for every mood label and recommendation, and the
sentences a person reads ("recommended because its energy (0.72) …")."""

import textwrap

import dagster as dg
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pyarrow as pa

from moodlake_dagster.assets.ml_common import ML, model_store
from moodlake_dagster.assets.unchanged import skip_if_unchanged
from moodlake_dagster.checks import nothing_to_check, schema_check_spec, validate
from moodlake_dagster.inputs import fingerprint
from moodlake_dagster.insights import figure_md, preview
from moodlake_dagster.ml import explain, mood, recommend
from moodlake_dagster.partitions import day_range
from moodlake_dagster.resources import LakeResource, MoodlakeConfig
from moodlake_dagster.tables import EXPLANATIONS, RECOMMENDATIONS, SHAP_VALUES, TRACK_MOODS, TRACKS

KEYS = ["subject", "user_id", "day_part", "mode", "rank", "track_id", "label"]
ADDITIVE_CHECK = "shap_sums_to_output"
SPEC = {k: ML[k] for k in ("partitions_def", "kinds")}


def explain_recommendations(recs: pd.DataFrame, tracks: pd.DataFrame, matches: dict):
    """(SHAP rows, sentences) for every recommendation, from its listener's match model."""
    values_out, sentences = [], []
    frame = recs.merge(tracks[["track_id", *recommend.AUDIO]], on="track_id", suffixes=("_r", ""))
    for user_id, rows in frame.groupby("user_id"):
        match = matches.get(user_id)
        if match is None:
            continue
        rows = rows.reset_index(drop=True)
        X = recommend.design(rows, rows["day_part"])
        base, values, output = explain.contributions(match.model, X)
        keys = rows.assign(subject="recommendation", label="match")[KEYS]
        values_out.append(explain.long_table(keys, recommend.FEATURES, X, base, values, output))
        text = [
            explain.recommendation_sentence(row, recommend.FEATURES, x, v, row.listening_mode)
            for row, x, v in zip(rows.itertuples(), X, values, strict=True)
        ]
        sentences.append(
            keys.assign(score=rows["match_score"], base_value=base, output=output, sentence=text)
        )
    return values_out, sentences


def explain_moods(moods: pd.DataFrame, tracks: pd.DataFrame, estimator):
    """(SHAP rows, sentences) for every labelled track, from the classifier's boosted half."""
    boosted = estimator.named_estimators_["boosted"]
    frame = moods.merge(tracks[["track_id", *mood.FEATURES]], on="track_id").reset_index(drop=True)
    X = frame[list(mood.FEATURES)].to_numpy(float)
    classes = list(estimator.classes_)  # the vote encodes labels; members see their codes
    base, values, output = explain.contributions(
        boosted, X, np.array([classes.index(m) for m in frame["mood"]])
    )
    keys = frame.assign(
        subject="mood", user_id=None, day_part=None, mode=None, rank=None, label=frame["mood"]
    )[KEYS]
    text = [
        explain.mood_sentence(m, p, mood.FEATURES, x, v)
        for m, p, x, v in zip(frame["mood"], frame["probability"], X, values, strict=True)
    ]
    sentences = keys.assign(
        score=frame["probability"], base_value=base, output=output, sentence=text
    )
    return [explain.long_table(keys, mood.FEATURES, X, base, values, output)], [sentences]


def importance_plot(shap_rows: pd.DataFrame) -> plt.Figure:
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


def pick_plot(shap_rows: pd.DataFrame, text: pd.DataFrame) -> plt.Figure:
    """Why the first explained subject (a top pick when there is one): its SHAP contributions."""
    first = text.sort_values(["subject", "rank"], na_position="last").iloc[[0]]
    rows = shap_rows.merge(first[KEYS], on=KEYS)  # pandas matches missing keys to each other
    rows = rows[~rows["feature"].isin(explain.HIDDEN)].sort_values("shap_value")
    first = first.iloc[0]
    fig, ax = plt.subplots(figsize=(6.5, 3.6), layout="constrained")
    colors = ["#2a9d8f" if v > 0 else "#e76f51" for v in rows["shap_value"]]
    ax.barh(rows["feature"], rows["shap_value"], color=colors)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("contribution to the model's output (log-odds)")
    ax.set_title(textwrap.fill(str(first["sentence"]), 80), fontsize=8, loc="left")
    return fig


def additivity_check(sentences: pd.DataFrame, shap_rows: pd.DataFrame) -> dg.AssetCheckResult:
    """Base value plus contributions must give the model output, row by row."""
    sums = shap_rows.groupby(KEYS, dropna=False)["shap_value"].sum()
    joined = sentences.set_index(KEYS)
    gap = (joined["base_value"] + sums.reindex(joined.index) - joined["output"]).abs()
    worst = float(gap.max()) if len(gap) else 0.0
    return dg.AssetCheckResult(
        check_name=ADDITIVE_CHECK,
        asset_key=SHAP_VALUES.key,
        passed=bool(worst < 1e-6),
        metadata={"largest_gap": worst, "subjects": len(joined)},
        description=f"largest |base + Σ SHAP − output| = {worst:.2e}",
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            SHAP_VALUES.key,
            deps=[RECOMMENDATIONS.key, TRACK_MOODS.key],
            group_name=SHAP_VALUES.group,
            description=SHAP_VALUES.description,
            metadata=SHAP_VALUES.metadata,
            **SPEC,
        ),
        dg.AssetSpec(
            EXPLANATIONS.key,
            deps=[SHAP_VALUES.key],
            group_name=EXPLANATIONS.group,
            description=EXPLANATIONS.description,
            metadata=EXPLANATIONS.metadata,
            **SPEC,
        ),
    ],
    check_specs=[
        schema_check_spec(SHAP_VALUES, blocking=False),
        schema_check_spec(EXPLANATIONS, blocking=False),
        dg.AssetCheckSpec(
            ADDITIVE_CHECK,
            asset=SHAP_VALUES.key,
            description="For every subject, base value + Σ SHAP = the model's raw output",
        ),
    ],
    partitions_def=ML["partitions_def"],
    backfill_policy=ML["backfill_policy"],
)
def explanation_tables(
    context: dg.AssetExecutionContext, lake: LakeResource, moodlake: MoodlakeConfig
):
    start, end = day_range(context)
    inputs = fingerprint(EXPLANATIONS, lake, moodlake.settings(), start, end)
    written = [SHAP_VALUES, EXPLANATIONS]
    unchanged = [skip_if_unchanged(context, lake, written, inputs, asset=t) for t in written]
    if all(unchanged):
        yield from unchanged
        return
    store = model_store(moodlake)
    tracks = lake.snapshot(TRACKS, end)
    values, sentences, skipped = [], [], {}
    try:
        recs = lake.snapshot(RECOMMENDATIONS, end)
        matches, _ = store.load("match_model", end)
        v, s = explain_recommendations(recs, tracks, matches)
        values, sentences = values + v, sentences + s
    except LookupError as err:
        skipped["recommendations"] = str(err)
    try:
        moods = lake.snapshot(TRACK_MOODS, end)
        estimator, _ = store.load("mood_classifier", end)
        v, s = explain_moods(moods, tracks, estimator)
        values, sentences = values + v, sentences + s
    except LookupError as err:
        skipped["moods"] = str(err)
    for what, why in skipped.items():
        context.log.warning(f"no {what} explained: {why}")
    shap_rows = _table(values, SHAP_VALUES.schema, end)
    text = _table(sentences, EXPLANATIONS.schema, end)
    shap_uri = lake.replace_range(
        SHAP_VALUES,
        _arrow(shap_rows, SHAP_VALUES.schema),
        start,
        end,
        inputs=inputs,
    )
    text_uri = lake.replace_range(
        EXPLANATIONS,
        _arrow(text, EXPLANATIONS.schema),
        start,
        end,
        inputs=inputs,
    )
    counts = text["subject"].value_counts().to_dict() if len(text) else {}
    shap_meta = {"table_uri": shap_uri, "rows": len(shap_rows), "subjects": counts}
    text_meta = {"table_uri": text_uri, "rows": len(text), "not_explained": skipped}
    if len(shap_rows):
        shap_meta["plot"] = figure_md(importance_plot(shap_rows), "global feature importance")
        recs_text = text[text["subject"] == "recommendation"]
        shown = recs_text if len(recs_text) else text
        text_meta["preview"] = preview(
            shown[["user_id", "day_part", "mode", "rank", "sentence"]], rows=12
        )
        text_meta["plot"] = figure_md(pick_plot(shap_rows, shown), "why the first pick")
        shap_meta["preview"] = preview(
            shap_rows[[*KEYS[:5], "feature", "feature_value", "shap_value", "share"]].dropna(
                axis="columns", how="all"
            ),
            rows=12,
        )
    yield dg.MaterializeResult(asset_key=SHAP_VALUES.key, metadata=_md(shap_meta))
    yield dg.MaterializeResult(asset_key=EXPLANATIONS.key, metadata=_md(text_meta))
    if len(shap_rows):
        yield validate(SHAP_VALUES.model, shap_rows, asset=SHAP_VALUES.key)
        yield validate(EXPLANATIONS.model, text, asset=EXPLANATIONS.key)
        yield additivity_check(text, shap_rows)
    else:
        reason = "nothing to explain: " + "; ".join(skipped.values())
        yield nothing_to_check(reason, asset=SHAP_VALUES.key)
        yield nothing_to_check(reason, asset=EXPLANATIONS.key)
        yield dg.AssetCheckResult(
            check_name=ADDITIVE_CHECK, asset_key=SHAP_VALUES.key, passed=True, description=reason
        )


def _md(metadata: dict) -> dict:
    return {k: dg.MetadataValue.json(v) if isinstance(v, dict) else v for k, v in metadata.items()}


def _table(parts: list[pd.DataFrame], schema: pa.Schema, end) -> pd.DataFrame:
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return frame.reindex(columns=schema.names).assign(as_of_date=end)


def _arrow(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    frame = frame.assign(rank=frame["rank"].astype("Int64"))
    return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)

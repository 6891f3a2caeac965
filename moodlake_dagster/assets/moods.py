"""The mood classifier asset: labels every track with a mood, scored on held-out artists."""

import dagster as dg
import matplotlib.pyplot as plt
import pandas as pd
import pyarrow as pa

from moodlake_dagster.assets.ml_common import (
    AUC_CHECK,
    model_asset,
    model_store,
    record_metrics,
)
from moodlake_dagster.assets.unchanged import skip_if_unchanged
from moodlake_dagster.checks import nothing_to_check, schema_check_spec, validate
from moodlake_dagster.inputs import fingerprint
from moodlake_dagster.insights import figure_md, preview, versus_baseline_plot
from moodlake_dagster.ml import estimate, mood
from moodlake_dagster.ml.metrics import metric
from moodlake_dagster.partitions import day_range
from moodlake_dagster.resources import LakeResource, MoodlakeConfig
from moodlake_dagster.tables import TRACK_MOODS, TRACKS

MOOD_AUC_BAR = 0.90


def estimate_metrics(tracks: pd.DataFrame, evaluation: mood.MoodEvaluation) -> list[dict]:
    """How good the artist estimates Silver gives unknown songs are, on held-out catalog songs:
    the error beside the catalog mean's, and mood AUC estimated beside measured."""
    found = estimate.errors(tracks)
    rows = [
        metric(
            f"mae_{f}",
            found.mae[f],
            baseline=found.baseline_mae[f],
            n_eval=found.n_songs,
            note="baseline: the catalog mean",
        )
        for f in found.mae
    ]
    if evaluation.estimated_macro_auc is not None:
        rows.append(
            metric(
                "mood_macro_auc",
                evaluation.estimated_macro_auc,
                baseline=evaluation.measured_macro_auc_same_tracks,
                n_eval=evaluation.n_estimated,
                note="baseline: the same tracks with measured features",
            )
        )
    return rows


def auc_plot(evaluation: mood.MoodEvaluation) -> plt.Figure:
    scores = pd.DataFrame(
        {"model": evaluation.per_class_auc, "baseline": evaluation.baseline_per_class_auc}
    ).sort_index()
    fig = versus_baseline_plot(
        scores, ylabel="ROC AUC (artist-grouped CV)", baseline="logistic baseline", bar=MOOD_AUC_BAR
    )
    fig.axes[0].set_ylim(0.5, 1.0)
    return fig


@dg.asset(
    deps=[TRACKS.key],
    check_specs=[
        schema_check_spec(TRACK_MOODS, blocking=False),
        dg.AssetCheckSpec(
            AUC_CHECK,
            asset=TRACK_MOODS.key,
            description=f"Mood classifier: macro ROC AUC on artist-grouped CV ≥ {MOOD_AUC_BAR} "
            "and not below the logistic-regression baseline",
        ),
    ],
    **model_asset(TRACK_MOODS),
)
def track_moods(
    context: dg.AssetExecutionContext, lake: LakeResource, moodlake: MoodlakeConfig
) -> dg.MaterializeResult:
    """Every track in Silver (catalog and played) labelled with a mood — happy, sad, chill,
    party, sleep, study, romance — and its probability, by a classifier trained on the
    catalog's mood-named genres: labels a curator chose, independent of the audio features
    the model reads."""
    start, end = day_range(context)
    inputs = fingerprint(TRACK_MOODS, lake, moodlake.settings(), start, end)
    if skipped := skip_if_unchanged(context, lake, [TRACK_MOODS], inputs):
        return skipped
    tracks = lake.snapshot(TRACKS, end)
    labelled = mood.labelled_tracks(tracks)
    try:
        evaluation = mood.evaluate(labelled, estimated=estimate.for_labelled(labelled, tracks))
    except mood.NotEnoughLabels as err:
        reason = f"not trained: {err}"
        context.log.warning(reason)
        return dg.MaterializeResult(
            metadata={"skipped": reason},
            check_results=[
                nothing_to_check(reason),
                dg.AssetCheckResult(
                    check_name=AUC_CHECK, passed=True, description=f"cannot judge: {reason}"
                ),
            ],
        )
    estimator = mood.train(labelled)
    labels = mood.label(estimator, tracks)
    labels["in_training"] = labels["track_id"].isin(labelled["track_id"])
    labels.insert(0, "as_of_date", end)
    written = pa.Table.from_pandas(labels, preserve_index=False)
    uri = lake.replace_range(TRACK_MOODS, written, start, end, inputs=inputs)
    n = evaluation.n_tracks
    rows = [
        metric("macro_auc", evaluation.macro_auc, baseline=evaluation.baseline_macro_auc, n_eval=n),
        *[
            metric(f"auc_{m}", v, baseline=evaluation.baseline_per_class_auc[m], n_eval=n)
            for m, v in sorted(evaluation.per_class_auc.items())
        ],
    ]
    record_metrics(lake, "mood_classifier", end, rows)
    estimates = estimate_metrics(tracks, evaluation)
    record_metrics(lake, "feature_estimate", end, estimates)
    folder = model_store(moodlake).save(
        "mood_classifier",
        end,
        estimator,
        card={
            "features": list(mood.FEATURES),
            "classes": list(map(str, estimator.classes_)),
            "n_train": n,
            "n_artists": evaluation.n_artists,
            "evaluation": "artist-grouped 5-fold CV, out-of-fold macro one-vs-rest ROC AUC",
            "macro_auc": evaluation.macro_auc,
            "baseline_macro_auc": evaluation.baseline_macro_auc,
        },
    )
    passed = evaluation.macro_auc >= MOOD_AUC_BAR and (
        evaluation.macro_auc >= evaluation.baseline_macro_auc
    )
    return dg.MaterializeResult(
        metadata={
            "table_uri": uri,
            **TRACK_MOODS.columns(written.schema),
            "model_path": str(folder),
            "macro_auc": evaluation.macro_auc,
            "baseline_macro_auc": evaluation.baseline_macro_auc,
            "per_class_auc": dg.MetadataValue.json(evaluation.per_class_auc),
            "feature_estimates": dg.MetadataValue.json(
                {r["metric"]: r["value"] for r in estimates}
            ),
            "labelled_tracks": n,
            "artists": evaluation.n_artists,
            "tracks_labelled": len(labels),
            "mood_counts": dg.MetadataValue.json(labels["mood"].value_counts().to_dict()),
            "plot": figure_md(auc_plot(evaluation), "per-mood ROC AUC, model vs baseline"),
            "preview": preview(labels.drop(columns=["as_of_date"])),
        },
        check_results=[
            validate(TRACK_MOODS.model, labels),
            dg.AssetCheckResult(
                check_name=AUC_CHECK,
                passed=bool(passed),
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={
                    "macro_auc": evaluation.macro_auc,
                    "baseline_macro_auc": evaluation.baseline_macro_auc,
                    "bar": MOOD_AUC_BAR,
                },
                description=(
                    f"macro AUC {evaluation.macro_auc:.3f} vs bar {MOOD_AUC_BAR} and baseline "
                    f"{evaluation.baseline_macro_auc:.3f}"
                ),
            ),
        ],
    )

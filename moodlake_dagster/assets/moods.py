"""The mood classifier asset: labels every track with a mood, scored on held-out artists."""

import dagster as dg

from moodlake_dagster import model_plots
from moodlake_dagster.assets.common import (
    AUC_CHECK,
    ML_KINDS,
    metadata_on_last_day,
    publish_model,
    table_asset,
)
from moodlake_dagster.assets.unchanged import skip_if_unchanged
from moodlake_dagster.checks import nothing_to_check
from moodlake_dagster.inputs import fingerprint
from moodlake_dagster.ml import mood
from moodlake_dagster.partitions import day_range
from moodlake_dagster.resources import LakeResource, MoodlakeConfig
from moodlake_dagster.tables import TRACK_MOODS, TRACKS
from moodlake_dagster.vocabulary import MOOD_AUC_BAR


def auc_check(evaluation: mood.MoodEvaluation) -> dg.AssetCheckResult:
    """The served model must clear the bar and not lose to its linear baseline."""
    passed = evaluation.macro_auc >= MOOD_AUC_BAR and (
        evaluation.macro_auc >= evaluation.baseline_macro_auc
    )
    return dg.AssetCheckResult(
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
    )


@dg.asset(
    **table_asset(
        TRACK_MOODS,
        kinds=ML_KINDS,
        deps=[TRACKS],
        blocking=False,
        checks={
            AUC_CHECK: f"Mood classifier: macro ROC AUC on artist-grouped CV ≥ {MOOD_AUC_BAR} "
            "and not below the logistic-regression baseline",
        },
    )
)
@metadata_on_last_day
def track_moods(
    context: dg.AssetExecutionContext, lake: LakeResource, moodlake: MoodlakeConfig
) -> dg.MaterializeResult:
    start, end = day_range(context)
    inputs = fingerprint(TRACK_MOODS, lake, moodlake.settings(), start, end)
    if skipped := skip_if_unchanged(context, lake, [TRACK_MOODS], inputs):
        return skipped
    try:
        run = mood.run(lake.snapshot(TRACKS, end), end)
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
    plot = model_plots.mood_auc_plot(run.evaluation)
    run.out.figures["plot"] = (plot, "per-mood ROC AUC, model vs baseline")
    checks = [auc_check(run.evaluation)]
    return publish_model(lake, moodlake, TRACK_MOODS, run.out, (start, end), inputs, checks)

"""The preference-model asset: will this listener play a track through? Scored on later days."""

import datetime as dt

import dagster as dg
import pandas as pd

from moodlake_dagster import model_plots
from moodlake_dagster.assets.cadence import ROWS_GONE, fit_rows, judge, record_refit
from moodlake_dagster.assets.common import (
    AUC_CHECK,
    ML_KINDS,
    metadata_on_last_day,
    publish_model,
    table_asset,
)
from moodlake_dagster.assets.unchanged import skip_if_unchanged
from moodlake_dagster.inputs import fingerprint
from moodlake_dagster.ml import preference
from moodlake_dagster.partitions import day_range
from moodlake_dagster.resources import LakeResource, MoodlakeConfig
from moodlake_dagster.tables import PLAYS, PREFERENCE_MODEL, TRACKS
from moodlake_dagster.transform.policy import training_plays
from moodlake_dagster.vocabulary import PREFERENCE_AUC_BAR


def preference_check(
    results: list[preference.PreferenceResult], served_from: str | None = None
) -> dg.AssetCheckResult:
    """Judge the bar only where enough evaluation plays have audio features; a served day is
    judged by its fit's evaluation, named."""
    fit = f" (the fit of {served_from}, which serves this day)" if served_from else ""
    judged = [r for r in results if r.n_eval_with_features >= preference.MIN_EVAL_WITH_FEATURES]
    if not judged:
        return dg.AssetCheckResult(
            check_name=AUC_CHECK,
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description=(
                "cannot judge: no listener has "
                f"{preference.MIN_EVAL_WITH_FEATURES} evaluation plays with audio features "
                f"(most: {max((r.n_eval_with_features for r in results), default=0)})" + fit
            ),
        )
    worst = min(judged, key=lambda r: r.auc)
    return dg.AssetCheckResult(
        check_name=AUC_CHECK,
        passed=worst.auc >= PREFERENCE_AUC_BAR,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"lowest_auc": worst.auc, "bar": PREFERENCE_AUC_BAR, "judged": len(judged)},
        description=f"lowest held-out AUC {worst.auc:.3f} vs bar {PREFERENCE_AUC_BAR}" + fit,
    )


def preference_run(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    moodlake: MoodlakeConfig,
    plays: pd.DataFrame,
    end: dt.date,
) -> preference.PreferenceRun:
    """Served by the latest stored fit where the retraining cadence lets it, else refitted."""
    inputs = preference.model_inputs(plays, lake.snapshot(TRACKS, end))
    columns, gated = preference.INPUT_COLUMNS, preference.eligible(inputs)
    fitted, why = judge(
        context, moodlake, preference.STORE_NAME, inputs, columns, end, listeners=gated
    )
    if fitted is not None and (rows := fit_rows(lake, PREFERENCE_MODEL, fitted)) is None:
        fitted, why = None, ROWS_GONE
    if fitted is not None:
        return preference.served(rows, fitted, end, len(inputs))
    run = preference.fit_inputs(inputs, end)
    record_refit(run.out, inputs, columns, end, why, listeners=gated)
    return run


@dg.asset(
    **table_asset(
        PREFERENCE_MODEL,
        kinds=ML_KINDS,
        deps=[PLAYS, TRACKS],
        blocking=False,
        checks={
            AUC_CHECK: f"Held-out AUC ≥ {PREFERENCE_AUC_BAR} where ≥ "
            f"{preference.MIN_EVAL_WITH_FEATURES} evaluation plays have audio features; "
            "otherwise it says why it cannot judge",
        },
    )
)
@metadata_on_last_day
def preference_model(
    context: dg.AssetExecutionContext, lake: LakeResource, moodlake: MoodlakeConfig
) -> dg.MaterializeResult:
    start, end = day_range(context)
    settings = moodlake.settings()
    inputs = fingerprint(PREFERENCE_MODEL, lake, settings, start, end)
    if skipped := skip_if_unchanged(context, lake, [PREFERENCE_MODEL], inputs):
        return skipped
    plays = lake.frame(PLAYS, [("play_date", "<=", end)], preference.PLAY_COLUMNS)
    plays = training_plays(plays, include_api_plays=settings.api_plays_in_training)
    run = preference_run(context, lake, moodlake, plays, end)
    for level, message in run.log:
        context.log.log(level, message)
    served_from = run.out.metadata.get("served_from_fit_of")
    if run.results:
        plot = model_plots.preference_auc_plot(run.results)
        fit = f" (the fit of {served_from})" if served_from else ""
        run.out.figures["plot"] = (plot, f"held-out AUC per listener, model vs baseline{fit}")
    checks = [preference_check(run.results, served_from)]
    return publish_model(lake, moodlake, PREFERENCE_MODEL, run.out, (start, end), inputs, checks)

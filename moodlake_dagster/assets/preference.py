"""The preference-model asset: will this listener play a track through? Scored on later days."""

import dagster as dg
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
from moodlake_dagster.ml import preference
from moodlake_dagster.ml.metrics import metric
from moodlake_dagster.partitions import day_range
from moodlake_dagster.resources import LakeResource, MoodlakeConfig
from moodlake_dagster.tables import PLAYS, PREFERENCE_MODEL, TRACKS
from moodlake_dagster.transform.policy import training_plays

PREFERENCE_AUC_BAR = 0.80


def preference_check(results: list[preference.PreferenceResult]) -> dg.AssetCheckResult:
    """Judge the bar only where enough evaluation plays have audio features."""
    judged = [r for r in results if r.n_eval_with_features >= preference.MIN_EVAL_WITH_FEATURES]
    if not judged:
        return dg.AssetCheckResult(
            check_name=AUC_CHECK,
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description=(
                "cannot judge: no listener has "
                f"{preference.MIN_EVAL_WITH_FEATURES} evaluation plays with audio features "
                f"(most: {max((r.n_eval_with_features for r in results), default=0)})"
            ),
        )
    worst = min(judged, key=lambda r: r.auc)
    return dg.AssetCheckResult(
        check_name=AUC_CHECK,
        passed=worst.auc >= PREFERENCE_AUC_BAR,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"lowest_auc": worst.auc, "bar": PREFERENCE_AUC_BAR, "judged": len(judged)},
        description=f"lowest held-out AUC {worst.auc:.3f} vs bar {PREFERENCE_AUC_BAR}",
    )


def auc_plot(results: list[preference.PreferenceResult]):
    scores = pd.DataFrame(
        {"model": [r.auc for r in results], "baseline": [r.baseline_auc for r in results]},
        index=[r.user_id for r in results],
    )
    fig = versus_baseline_plot(
        scores,
        ylabel="ROC AUC on later days",
        baseline="past-skip-rate baseline",
        bar=PREFERENCE_AUC_BAR,
    )
    fig.axes[0].set_ylim(0.4, 1.0)
    return fig


@dg.asset(
    deps=[PLAYS.key, TRACKS.key],
    check_specs=[
        schema_check_spec(PREFERENCE_MODEL, blocking=False),
        dg.AssetCheckSpec(
            AUC_CHECK,
            asset=PREFERENCE_MODEL.key,
            description=f"Held-out AUC ≥ {PREFERENCE_AUC_BAR} where ≥ "
            f"{preference.MIN_EVAL_WITH_FEATURES} evaluation plays have audio features; "
            "otherwise it says why it cannot judge",
        ),
    ],
    **model_asset(PREFERENCE_MODEL),
)
def preference_model(
    context: dg.AssetExecutionContext, lake: LakeResource, moodlake: MoodlakeConfig
) -> dg.MaterializeResult:
    """Per listener: will they enjoy (play through, not skip) a track? Trained on the days
    before a cutoff, evaluated on the days after it, from audio features and behaviour known
    before each play (familiarity, earlier skip rates, day part, shuffle, how it started)."""
    start, end = day_range(context)
    settings = moodlake.settings()
    inputs = fingerprint(PREFERENCE_MODEL, lake, settings, start, end)
    if skipped := skip_if_unchanged(context, lake, [PREFERENCE_MODEL], inputs):
        return skipped
    plays = lake.frame(PLAYS, [("play_date", "<=", end)])
    plays = training_plays(plays, include_api_plays=settings.api_plays_in_training)
    features = lake.snapshot(TRACKS, end)[["track_id", *preference.AUDIO]]
    plays = plays.merge(features, on="track_id", how="left")
    results, rows = [], []
    for user_id, group in plays.groupby("user_id"):
        try:
            r = preference.train_user(str(user_id), group)
        except preference.CannotTrain as err:
            context.log.warning(f"{user_id}: preference model not trained: {err}")
            rows.append({"user_id": str(user_id), "status": "skipped", "reason": str(err)})
            continue
        results.append(r)
        note = None
        if r.left_out:
            note = f"trained without {', '.join(r.left_out)}: missing for every training play"
            context.log.info(f"{user_id}: preference model {note}")
        rows.append(
            {
                "user_id": r.user_id,
                "status": "trained",
                "reason": note,
                "cutoff": r.cutoff,
                "n_train": r.n_train,
                "n_eval": r.n_eval,
                "n_eval_with_features": r.n_eval_with_features,
                "auc": r.auc,
                "baseline_auc": r.baseline_auc,
            }
        )
    table = pa.Table.from_pylist(
        [{"as_of_date": end} | row for row in rows], schema=PREFERENCE_MODEL.schema
    )
    uri = lake.replace_range(PREFERENCE_MODEL, table, start, end, inputs=inputs)
    record_metrics(
        lake,
        "preference_model",
        end,
        [
            metric("auc", r.auc, baseline=r.baseline_auc, n_eval=r.n_eval, note=r.user_id)
            for r in results
        ],
    )
    metadata = {
        "table_uri": uri,
        "users_trained": len(results),
        "users_skipped": dg.MetadataValue.json(
            {row["user_id"]: row["reason"] for row in rows if row["status"] == "skipped"}
        ),
        "features_left_out": dg.MetadataValue.json(
            {r.user_id: list(r.left_out) for r in results if r.left_out}
        ),
        "preview": preview(table.to_pandas().drop(columns=["as_of_date"])),
    }
    if results:
        main = max(results, key=lambda r: r.n_eval)
        folder = model_store(moodlake).save(
            "preference_model",
            end,
            {r.user_id: r.model for r in results},
            card={
                "features": {r.user_id: list(r.features) for r in results},
                "label": "played through, not skipped",
            },
        )
        metadata |= {
            "model_path": str(folder),
            "auc": main.auc,
            "baseline_auc": main.baseline_auc,
            "n_eval": main.n_eval,
            "cutoff": main.cutoff,
            "plot": figure_md(auc_plot(results), "held-out AUC per listener, model vs baseline"),
        }
    frame = table.to_pandas()
    schema = (
        validate(PREFERENCE_MODEL.model, frame) if rows else nothing_to_check("no listener yet")
    )
    return dg.MaterializeResult(
        metadata=metadata, check_results=[schema, preference_check(results)]
    )

"""The explanations assets: SHAP values for every mood label and recommendation, and the
sentences a person reads ("recommended because its energy (0.72) …")."""

import dagster as dg

from moodlake_dagster import model_plots
from moodlake_dagster.assets.common import (
    ML_KINDS,
    metadata_on_last_day,
    model_store,
    publish_model,
)
from moodlake_dagster.assets.unchanged import skip_if_unchanged
from moodlake_dagster.checks import schema_check_spec
from moodlake_dagster.inputs import fingerprint
from moodlake_dagster.insights import preview
from moodlake_dagster.ml import explain
from moodlake_dagster.partitions import daily_partitions, day_range, single_run
from moodlake_dagster.resources import LakeResource, MoodlakeConfig
from moodlake_dagster.tables import EXPLANATIONS, RECOMMENDATIONS, SHAP_VALUES, TRACK_MOODS, TRACKS

ADDITIVE_CHECK = "shap_sums_to_output"
MOODS_PART = "moods"
SPEC = {"partitions_def": daily_partitions, "kinds": ML_KINDS}
# Where callers (and tests) found it before it moved to ml/explain.py.


def additivity_check(run: explain.Explained) -> dg.AssetCheckResult:
    """Base value plus contributions must give the model output, row by row."""
    if not len(run.shap_rows):
        return dg.AssetCheckResult(
            check_name=ADDITIVE_CHECK,
            asset_key=SHAP_VALUES.key,
            passed=True,
            description=run.shap.empty_reason,
        )
    sums = run.shap_rows.groupby(explain.KEYS, dropna=False)["shap_value"].sum()
    joined = run.sentences.set_index(explain.KEYS)
    gap = (joined["base_value"] + sums.reindex(joined.index) - joined["output"]).abs()
    worst = float(gap.max()) if len(gap) else 0.0
    return dg.AssetCheckResult(
        check_name=ADDITIVE_CHECK,
        asset_key=SHAP_VALUES.key,
        passed=bool(worst < 1e-6),
        metadata={"largest_gap": worst, "subjects": len(joined)},
        description=f"largest |base + Σ SHAP − output| = {worst:.2e}",
    )


def show(run: explain.Explained) -> None:
    """What the asset pages show: global importance and a preview of the values; the
    sentences of the first listener's picks (mood labels when there is no pick) and why the
    first pick was made."""
    if not len(run.shap_rows):
        return
    shown = run.shown
    importance = model_plots.shap_importance_plot(run.shap_rows)
    run.shap.figures["plot"] = (importance, "global feature importance")
    run.shap.metadata["preview"] = preview(run.shap_preview_rows(), rows=12)
    run.text.metadata["preview"] = preview(
        shown[["user_id", "day_part", "mode", "rank", "sentence"]], rows=12
    )
    pick = model_plots.shap_pick_plot(run.shap_rows, shown)
    run.text.figures["plot"] = (pick, "why the first pick")


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            SHAP_VALUES.key,
            deps=[RECOMMENDATIONS.key, TRACK_MOODS.key],
            group_name=SHAP_VALUES.group,
            description=SHAP_VALUES.description,
            metadata=SHAP_VALUES.metadata,
            tags={"pii": SHAP_VALUES.pii},
            **SPEC,
        ),
        dg.AssetSpec(
            EXPLANATIONS.key,
            deps=[SHAP_VALUES.key],
            group_name=EXPLANATIONS.group,
            description=EXPLANATIONS.description,
            metadata=EXPLANATIONS.metadata,
            tags={"pii": EXPLANATIONS.pii},
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
    partitions_def=daily_partitions,
    backfill_policy=single_run,
)
@metadata_on_last_day
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
    moods_inputs = _moods_inputs(lake, end)
    kept = _moods_explained_before(lake, end, moods_inputs)
    run = explain.explain_all(
        lake.snapshot(TRACKS, end),
        lambda: (lake.snapshot(RECOMMENDATIONS, end), store.load("match_model", end)[0]),
        lambda: (lake.snapshot(TRACK_MOODS, end), store.load("mood_classifier", end)[0]),
        end,
        moods_explained=kept,
    )
    for what, why in run.not_explained.items():
        context.log.warning(f"no {what} explained: {why}")
    if kept is not None:
        context.log.info(f"{len(kept[1])} mood labels' explanations carried over: same moods")
    run.text.metadata["mood_explanations_carried_over"] = 0 if kept is None else len(kept[1])
    show(run)
    parts = {MOODS_PART: moods_inputs} if "moods" not in run.not_explained else None
    yield publish_model(lake, moodlake, SHAP_VALUES, run.shap, (start, end), inputs, parts=parts)
    yield publish_model(lake, moodlake, EXPLANATIONS, run.text, (start, end), inputs, parts=parts)
    yield additivity_check(run)


def _moods_inputs(lake: LakeResource, end) -> str:
    """What the mood part is made from: the moods and tracks snapshots standing for `end` (the
    classifier is stored with the moods it labelled) and the code."""
    reads = (TRACKS, TRACK_MOODS)
    return lake.inputs(
        end, end, reads=reads, days={t.path: lake.snapshot_day(t, end) for t in reads}
    )


def _moods_explained_before(lake: LakeResource, end, moods_inputs: str):
    """The latest snapshot's mood rows of both tables, if they were made from the same inputs.

    Explaining every labelled track is most of this asset's work, and the moods change only
    with the catalog: a new day of plays changes the recommendations, not them."""
    if any(lake.recorded(t, part=MOODS_PART) != moods_inputs for t in (SHAP_VALUES, EXPLANATIONS)):
        return None
    shap, text = (lake.snapshot(t, end) for t in (SHAP_VALUES, EXPLANATIONS))
    return shap[shap["subject"] == "mood"], text[text["subject"] == "mood"]

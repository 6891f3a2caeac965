"""The listening-modes asset: each listener's kinds of listening, named in plain words."""

import datetime as dt

import dagster as dg
import pandas as pd

from moodlake_dagster import model_plots
from moodlake_dagster.assets.cadence import ROWS_GONE, fit_rows, judge, load_fit, record_refit
from moodlake_dagster.assets.common import (
    ML_KINDS,
    metadata_on_last_day,
    publish_model,
    table_asset,
)
from moodlake_dagster.assets.unchanged import skip_if_unchanged
from moodlake_dagster.inputs import fingerprint
from moodlake_dagster.ml import modes
from moodlake_dagster.partitions import day_range
from moodlake_dagster.resources import LakeResource, MoodlakeConfig
from moodlake_dagster.tables import LISTENING_MODES, PLAYS, TRACKS
from moodlake_dagster.transform.policy import training_plays


def modes_run(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    moodlake: MoodlakeConfig,
    plays: pd.DataFrame,
    end: dt.date,
) -> modes.ModesRun:
    """Served by the latest stored fit where the retraining cadence lets it, else refitted."""
    joined = modes.model_inputs(plays, lake.snapshot(TRACKS, end))
    listeners = set(plays["user_id"])
    columns, gated = modes.INPUT_COLUMNS, modes.eligible(joined)
    fitted, why = judge(context, moodlake, modes.STORE_NAME, joined, columns, end, listeners=gated)
    if fitted is not None and (rows := fit_rows(lake, LISTENING_MODES, fitted)) is None:
        fitted, why = None, ROWS_GONE
    if fitted is not None:
        models, card, why = load_fit(moodlake, modes.STORE_NAME, fitted)
        if why is None:
            return modes.served(rows, models, card, joined, listeners, fitted, end)
    run = modes.fit_inputs(joined, listeners, end)
    record_refit(run.out, joined, columns, end, why, listeners=gated)
    return run


@dg.asset(
    **table_asset(
        LISTENING_MODES,
        kinds=ML_KINDS,
        deps=[PLAYS, TRACKS],
        blocking=False,
    )
)
@metadata_on_last_day
def listening_modes(
    context: dg.AssetExecutionContext, lake: LakeResource, moodlake: MoodlakeConfig
) -> dg.MaterializeResult:
    start, end = day_range(context)
    settings = moodlake.settings()
    inputs = fingerprint(LISTENING_MODES, lake, settings, start, end)
    if skipped := skip_if_unchanged(context, lake, [LISTENING_MODES], inputs):
        return skipped
    plays = lake.frame(
        PLAYS,
        [("play_date", "<=", end), ("has_features", "=", True)],
        ["user_id", "track_id", "play_date", "day_part", "local_hour", "source_format"],
    )
    plays = training_plays(plays, include_api_plays=settings.api_plays_in_training)
    run = modes_run(context, lake, moodlake, plays, end)
    for level, message in run.log:
        context.log.log(level, message)
    if run.fitted:
        curve, mode_map = model_plots.modes_plots(run.fitted, run.sample)
        run.out.figures |= {
            "k_choice": (curve, "silhouette by k"),
            "plot": (mode_map, "listening modes in valence × energy"),
        }
    return publish_model(lake, moodlake, LISTENING_MODES, run.out, (start, end), inputs)

"""The recommendations asset: mirror and coach lists per listener and day part."""

import datetime as dt

import dagster as dg
import pandas as pd

from moodlake_dagster import model_plots
from moodlake_dagster.assets.cadence import judge, load_fit, record_refit
from moodlake_dagster.assets.common import (
    ML_KINDS,
    metadata_on_last_day,
    model_store,
    publish_model,
    table_asset,
)
from moodlake_dagster.assets.unchanged import skip_if_unchanged
from moodlake_dagster.inputs import fingerprint
from moodlake_dagster.insights import preview
from moodlake_dagster.ml import recommend
from moodlake_dagster.ml.cadence import Fitted, served_metadata
from moodlake_dagster.partitions import day_range
from moodlake_dagster.resources import LakeResource, MoodlakeConfig
from moodlake_dagster.tables import (
    ALS_RECOMMENDATIONS,
    LISTENING_MODES,
    PLAYS,
    RECOMMENDATIONS,
    TRACKS,
    USERS,
)
from moodlake_dagster.transform.policy import training_plays

CAPS_CHECK = "coach_within_caps"


def caps_check(table: pd.DataFrame) -> dg.AssetCheckResult:
    """Every coach pick is a step of +0.05..+0.15 in valence or energy and no bigger jump."""
    if not len(table):
        return dg.AssetCheckResult(check_name=CAPS_CHECK, passed=True, description="no coach picks")
    coach = table[table["mode"] == "coach"]
    too_far = coach[
        (coach["delta_valence"].abs() > recommend.STEP_MAX + recommend.EPS)
        | (coach["delta_energy"].abs() > recommend.STEP_MAX + recommend.EPS)
    ]
    low, high = recommend.STEP_MIN - recommend.EPS, recommend.STEP_MAX + recommend.EPS
    in_band = coach["delta_valence"].between(low, high) | coach["delta_energy"].between(low, high)
    return dg.AssetCheckResult(
        check_name=CAPS_CHECK,
        passed=bool(too_far.empty and in_band.all()),
        metadata={
            "coach_picks": len(coach),
            "beyond_caps": len(too_far),
            "without_step": int((~in_band).sum()),
            "largest_step_valence": float(coach["delta_valence"].max()) if len(coach) else 0.0,
            "largest_step_energy": float(coach["delta_energy"].max()) if len(coach) else 0.0,
        },
        description=f"{len(coach)} coach picks, {len(too_far)} beyond ±{recommend.STEP_MAX}",
    )


def listeners(lake: LakeResource, end) -> list[str]:
    """Every listener as of `end`, those without a play with features too."""
    try:
        return sorted(lake.snapshot(USERS, end)["user_id"].astype(str))
    except LookupError:
        return []


def mode_names(lake: LakeResource, moodlake: MoodlakeConfig, end) -> tuple[dict, pd.DataFrame]:
    """The listening-modes models and names as of `end`, if they were built."""
    try:
        fitted, _ = model_store(moodlake).load("listening_modes", end)
        names = lake.snapshot(LISTENING_MODES, end)
    except LookupError:
        return {}, pd.DataFrame(columns=["user_id", "mode_id", "name"])
    return fitted, names


def als_suggestions(lake: LakeResource, end) -> pd.DataFrame:
    """ALS's suggestions as of `end` (none before ALS has run)."""
    if not lake.exists(ALS_RECOMMENDATIONS):
        return pd.DataFrame(columns=["user_id", "track_id", "als_score"])
    return lake.frame(ALS_RECOMMENDATIONS, [("as_of_date", "=", end)])


def stored_matches(
    context: dg.AssetExecutionContext,
    moodlake: MoodlakeConfig,
    liked: pd.DataFrame,
    catalog: str,
    end: dt.date,
) -> tuple[Fitted | None, dict | None, str | None]:
    """(the latest fit's record, its match models, None) where the retraining cadence lets
    that fit serve `end`; else (None, None, why the models are refitted)."""
    columns = recommend.INPUT_COLUMNS
    fitted, why = judge(
        context, moodlake, recommend.MATCH_MODEL, liked, columns, end, catalog=catalog
    )
    if fitted is None:
        return None, None, why
    stored, _, why = load_fit(moodlake, recommend.MATCH_MODEL, fitted)
    return (fitted, stored, None) if why is None else (None, None, why)


def show(run: recommend.Recommendations) -> None:
    """The busiest listener's lists on the asset page: the plot of one day part, a preview."""
    if run.shown is None:
        return
    user, part = run.shown
    plot = model_plots.recommendation_lists_plot(run.table, user, part)
    run.output.figures["plot"] = (plot, "mirror and coach picks")
    run.output.metadata["preview"] = preview(run.preview_rows(), rows=20)


@dg.asset(
    **table_asset(
        RECOMMENDATIONS,
        kinds=ML_KINDS,
        deps=[PLAYS, TRACKS, ALS_RECOMMENDATIONS, LISTENING_MODES],
        blocking=False,
        checks={
            CAPS_CHECK: f"Every coach pick steps +{recommend.STEP_MIN}..+{recommend.STEP_MAX} "
            f"in valence or energy and moves neither by more than {recommend.STEP_MAX}",
        },
    )
)
@metadata_on_last_day
def recommendations(
    context: dg.AssetExecutionContext, lake: LakeResource, moodlake: MoodlakeConfig
) -> dg.MaterializeResult:
    start, end = day_range(context)
    settings = moodlake.settings()
    inputs = fingerprint(RECOMMENDATIONS, lake, settings, start, end)
    if skipped := skip_if_unchanged(context, lake, [RECOMMENDATIONS], inputs):
        return skipped
    tracks = lake.snapshot(TRACKS, end)
    plays = lake.frame(
        PLAYS,
        [("play_date", "<=", end), ("has_features", "=", True)],
        ["user_id", "track_id", "play_date", "day_part", "skipped", "source_format"],
    )
    plays = training_plays(plays, include_api_plays=settings.api_plays_in_training)
    liked, catalog = recommend.match_inputs(plays, tracks)
    fitted, stored, why = stored_matches(context, moodlake, liked, catalog, end)
    run = recommend.recommend_all(
        plays,
        tracks,
        als_suggestions(lake, end),
        listeners(lake, end),
        *mode_names(lake, moodlake, end),
        as_of=end,
        warn=context.log.warning,
        stored=stored,
    )
    if stored is None:
        record_refit(run.output, liked, recommend.INPUT_COLUMNS, end, why, catalog=catalog)
    else:
        run.output.metadata |= served_metadata(fitted, end, len(liked))
        context.log.info(f"match models served by the fit of {fitted.as_of}; not refitted")
    show(run)
    return publish_model(
        lake,
        moodlake,
        RECOMMENDATIONS,
        run.output,
        (start, end),
        inputs,
        checks=[caps_check(run.table)],
    )

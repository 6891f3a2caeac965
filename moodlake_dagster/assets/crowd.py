"""The crowd models: stream-farming flags, listener segments, churn risk, track popularity and
mood playlists. Each is honest in `model_metrics` (a baseline beside it, on data it did not
train on) and each runs over every listener at once, not in a loop over listeners."""

import datetime as dt
import json

import dagster as dg
import pandas as pd

from moodlake_dagster.assets.common import (
    ML_KINDS,
    metadata_on_last_day,
    publish_model,
    table_asset,
)
from moodlake_dagster.assets.platform import snapshot_or_empty
from moodlake_dagster.assets.unchanged import skip_if_unchanged
from moodlake_dagster.demo.crowd import PLAYS_COLUMNS
from moodlake_dagster.ingest.privacy import pseudonymize
from moodlake_dagster.inputs import fingerprint
from moodlake_dagster.ml import churn, farming, playlists, popularity, segments
from moodlake_dagster.ml.output import ModelOutput
from moodlake_dagster.partitions import day_range
from moodlake_dagster.resources import LakeResource, MoodlakeConfig
from moodlake_dagster.settings import Settings
from moodlake_dagster.tables import (
    CHURN_RISK,
    FARM_FLAGS,
    LISTENER_SEGMENTS,
    MOOD_PLAYLISTS,
    PLAYS,
    POPULARITY_PREDICTIONS,
    PROFILES,
    TRACK_MOODS,
    TRACKS,
    Table,
)
from moodlake_dagster.transform.policy import training_plays

# The plays frame the crowd models take (demo/crowd.py makes the same), and the source policy's.
PLAY_COLUMNS = [*PLAYS_COLUMNS, "source_format"]


def crowd_plays(lake: LakeResource, settings: Settings, end: dt.date) -> pd.DataFrame:
    """Every play up to `end` that models may learn from (training_plays' policy)."""
    plays = lake.frame(PLAYS, [("play_date", "<=", end)], PLAY_COLUMNS)
    return training_plays(plays, include_api_plays=settings.api_plays_in_training)


def farm_answers(settings: Settings) -> set[str] | None:
    """The crowd generator's farm accounts as pseudonyms, to score the detector; None without
    an answer file. No model reads it."""
    path = settings.crowd_answers
    if not path.is_file():
        return None
    accounts = json.loads(path.read_text())["farms"]
    key = settings.resolved_pseudonym_key()
    return {pseudonymize(account, key) for account in accounts}


def _model_asset(table: Table, deps: list[Table]) -> dict:
    return table_asset(table, kinds=ML_KINDS, deps=deps, blocking=False)


def _unchanged(context, lake, table, settings, start, end):
    inputs = fingerprint(table, lake, settings, start, end)
    return inputs, skip_if_unchanged(context, lake, [table], inputs)


@dg.asset(**_model_asset(FARM_FLAGS, [PLAYS]))
@metadata_on_last_day
def farm_flags(
    context: dg.AssetExecutionContext, lake: LakeResource, moodlake: MoodlakeConfig
) -> dg.MaterializeResult:
    """Scored against the crowd generator's answer file where there is one (scoring only)."""
    start, end = day_range(context)
    settings = moodlake.settings()
    inputs, skipped = _unchanged(context, lake, FARM_FLAGS, settings, start, end)
    if skipped:
        return skipped
    answers = farm_answers(settings)
    out = farming.detect(crowd_plays(lake, settings, end), end, answers=answers)
    out.metadata["answer_file"] = str(settings.crowd_answers) if answers is not None else "none"
    return publish_model(lake, moodlake, FARM_FLAGS, out, (start, end), inputs)


@dg.asset(**_model_asset(LISTENER_SEGMENTS, [PLAYS, TRACKS]))
@metadata_on_last_day
def listener_segments(
    context: dg.AssetExecutionContext, lake: LakeResource, moodlake: MoodlakeConfig
) -> dg.MaterializeResult:
    start, end = day_range(context)
    settings = moodlake.settings()
    inputs, skipped = _unchanged(context, lake, LISTENER_SEGMENTS, settings, start, end)
    if skipped:
        return skipped
    out = segments.fit(crowd_plays(lake, settings, end), lake.snapshot(TRACKS, end), end)
    return publish_model(lake, moodlake, LISTENER_SEGMENTS, out, (start, end), inputs)


@dg.asset(**_model_asset(CHURN_RISK, [PLAYS, PROFILES]))
@metadata_on_last_day
def churn_risk(
    context: dg.AssetExecutionContext, lake: LakeResource, moodlake: MoodlakeConfig
) -> dg.MaterializeResult:
    start, end = day_range(context)
    settings = moodlake.settings()
    inputs, skipped = _unchanged(context, lake, CHURN_RISK, settings, start, end)
    if skipped:
        return skipped
    listeners = snapshot_or_empty(lake, PROFILES, end)
    out = churn.fit(crowd_plays(lake, settings, end), listeners, end)
    return publish_model(lake, moodlake, CHURN_RISK, out, (start, end), inputs)


@dg.asset(**_model_asset(POPULARITY_PREDICTIONS, [TRACKS]))
@metadata_on_last_day
def popularity_predictions(
    context: dg.AssetExecutionContext, lake: LakeResource, moodlake: MoodlakeConfig
) -> dg.MaterializeResult:
    """Catalog facts only: no listener's plays."""
    start, end = day_range(context)
    inputs, skipped = _unchanged(context, lake, POPULARITY_PREDICTIONS, None, start, end)
    if skipped:
        return skipped
    try:
        out = popularity.fit(lake.snapshot(TRACKS, end), end)
    except popularity.NotEnoughTracks as err:  # a catalog layout without popularity
        out = ModelOutput(
            rows=POPULARITY_PREDICTIONS.schema.empty_table(),
            metrics={"popularity": []},
            empty_reason=str(err),
        )
    return publish_model(lake, moodlake, POPULARITY_PREDICTIONS, out, (start, end), inputs)


@dg.asset(**_model_asset(MOOD_PLAYLISTS, [PLAYS, TRACKS, TRACK_MOODS]))
@metadata_on_last_day
def mood_playlists(
    context: dg.AssetExecutionContext, lake: LakeResource, moodlake: MoodlakeConfig
) -> dg.MaterializeResult:
    start, end = day_range(context)
    settings = moodlake.settings()
    inputs, skipped = _unchanged(context, lake, MOOD_PLAYLISTS, settings, start, end)
    if skipped:
        return skipped
    out = playlists.build(
        crowd_plays(lake, settings, end),
        lake.snapshot(TRACKS, end),
        lake.snapshot(TRACK_MOODS, end),
        end,
    )
    return publish_model(lake, moodlake, MOOD_PLAYLISTS, out, (start, end), inputs)

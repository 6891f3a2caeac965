"""What a model asset needs to serve a day from its stored fit (ml/cadence.py): the cadence the
settings ask for, the record of the latest fit, and the rows that fit wrote."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pandas as pd

from moodlake_dagster.assets.common import model_store
from moodlake_dagster.fingerprints import FORCE_TAG
from moodlake_dagster.ml.cadence import Cadence, Fitted
from moodlake_dagster.resources import LakeResource, MoodlakeConfig
from moodlake_dagster.tables import Table


def cadence_for(
    context: dg.AssetExecutionContext, moodlake: MoodlakeConfig
) -> tuple[Cadence, bool]:
    """(the cadence the settings ask for, whether this build is forced to refit)."""
    settings = moodlake.settings()
    forced = context.run.tags.get(FORCE_TAG) == "true"
    return Cadence(days=settings.refit_days, growth=settings.refit_growth), forced


def latest_fit(
    context: dg.AssetExecutionContext, moodlake: MoodlakeConfig, name: str, as_of: dt.date
) -> Fitted | None:
    """The record of the latest stored fit of `name` as of `as_of`, read from its card alone.
    None without one; a card that cannot be read is refitted, not a failed build."""
    try:
        found = model_store(moodlake).latest_card(name, as_of)
    except Exception as err:  # the store is a cache here: a refit replaces what it held
        context.log.warning(f"the stored {name} fit could not be read ({err!r}): refitting")
        return None
    return Fitted.from_card(*found) if found else None


def fit_rows(lake: LakeResource, table: Table, fitted: Fitted) -> pd.DataFrame | None:
    """The model table's rows as of the fit's day; None where that day holds none any more."""
    if lake.snapshot_day(table, fitted.as_of) != fitted.as_of:
        return None
    return lake.snapshot(table, fitted.as_of)

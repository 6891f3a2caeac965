"""What a model asset needs to serve a day from its stored fit (ml/cadence.py): the cadence the
settings ask for, whether the latest fit may serve, the rows it wrote, and what a refit
records for the next day to be judged by."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import dagster as dg
import pandas as pd

from moodlake_dagster.assets.common import model_store
from moodlake_dagster.fingerprints import FORCE_TAG, code_version
from moodlake_dagster.ml.cadence import Cadence, Fitted, fitted_record, refit_reason
from moodlake_dagster.ml.output import ModelOutput
from moodlake_dagster.resources import LakeResource, MoodlakeConfig
from moodlake_dagster.tables import Table


def cadence_for(
    context: dg.AssetExecutionContext, moodlake: MoodlakeConfig
) -> tuple[Cadence, bool]:
    """(the cadence the settings ask for, whether this build is forced to refit)."""
    settings = moodlake.settings()
    forced = context.run.tags.get(FORCE_TAG) == "true"
    every = Cadence(days=settings.refit_days, growth=settings.refit_growth, code=code_version())
    return every, forced


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


def judge(
    context: dg.AssetExecutionContext,
    moodlake: MoodlakeConfig,
    name: str,
    inputs: pd.DataFrame,
    columns: Sequence[str],
    end: dt.date,
    *,
    listeners: Iterable[str] | None = None,
    catalog: str = "",
) -> tuple[Fitted | None, str | None]:
    """(the latest fit of `name`, None) where it may serve `end`; else (None, why a refit)."""
    every, forced = cadence_for(context, moodlake)
    fitted = latest_fit(context, moodlake, name, end) if every.days else None
    why = refit_reason(
        fitted, inputs, columns, end, every, forced, listeners=listeners, catalog=catalog
    )
    return (fitted, None) if why is None else (None, why)


def record_refit(
    out: ModelOutput,
    inputs: pd.DataFrame,
    columns: Sequence[str],
    end: dt.date,
    why: str,
    *,
    listeners: Iterable[str] | None = None,
    catalog: str = "",
) -> None:
    """Put the fit's record in its card, for the next day's `judge`, and say why it refitted."""
    record = fitted_record(
        inputs, columns, end, listeners=listeners, catalog=catalog, code=code_version()
    )
    out.card |= record.card()
    out.metadata["refitted_because"] = why


ROWS_GONE = "the fit's rows are gone from the table"


def load_fit(moodlake: MoodlakeConfig, name: str, fitted: Fitted) -> tuple[Any, dict, str | None]:
    """(model, card, None) of the fit `fitted` records; (None, {}, why) where it cannot be
    read: the store is a cache here, and a refit replaces what it held."""
    try:
        model, card = model_store(moodlake).load(name, fitted.as_of)
    except Exception as err:
        return None, {}, f"its stored {name} models could not be read ({err!r})"
    return model, card, None


def fit_rows(lake: LakeResource, table: Table, fitted: Fitted) -> pd.DataFrame | None:
    """The model table's rows as of the fit's day; None where that day holds none any more."""
    if lake.snapshot_day(table, fitted.as_of) != fitted.as_of:
        return None
    return lake.snapshot(table, fitted.as_of)

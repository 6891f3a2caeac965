"""Which plays a model may learn from, and in what order.

Spotify's Developer Policy forbids training models on content obtained through its API. Plays
polled from the Web API (`source_format == "api"`) feed analytics; they enter model training
only when the owner opts in with MOODLAKE_API_PLAYS_IN_TRAINING=true. Every model asset must
take its plays through `training_plays`.

Rows reach a model in the order the table's files were read, which compaction and partial
rewrites change; seeded models (K-Means initialisation, subsampling) then differ between builds
of the same inputs. `canonical` fixes the order, so the same rows give the same model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _sortable(column: pd.Series) -> bool:
    """Scalar values (lists and arrays, such as genres, cannot be sorted on)."""
    sample = column.dropna().head(1)
    return sample.empty or not isinstance(sample.iloc[0], list | tuple | dict | np.ndarray)


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows sorted by every scalar column, in column order: any order of the same rows
    comes out the same."""
    keys = [column for column in frame.columns if _sortable(frame[column])]
    if not keys or frame.empty:
        return frame.reset_index(drop=True)
    return frame.sort_values(keys, kind="mergesort", na_position="last", ignore_index=True)


def training_plays(plays, *, include_api_plays: bool):
    """The plays a model may train on (a Spark or a pandas DataFrame, same kind back; pandas
    in canonical order)."""
    if not isinstance(plays, pd.DataFrame):
        return plays if include_api_plays else plays.filter(plays["source_format"] != "api")
    kept = plays if include_api_plays else plays[plays["source_format"] != "api"]
    return canonical(kept)

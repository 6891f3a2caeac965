"""Which plays a model may learn from.

Spotify's Developer Policy forbids training models on content obtained through its API. Plays
polled from the Web API (`source_format == "api"`) feed analytics; they enter model training
only when the owner opts in with MOODLAKE_API_PLAYS_IN_TRAINING=true. Every model asset must
take its plays through `training_plays`.
"""

from __future__ import annotations

import pandas as pd


def training_plays(plays, *, include_api_plays: bool):
    """The plays a model may train on (a Spark or a pandas DataFrame, same kind back)."""
    if include_api_plays:
        return plays
    if isinstance(plays, pd.DataFrame):
        return plays[plays["source_format"] != "api"]
    return plays.filter(plays["source_format"] != "api")

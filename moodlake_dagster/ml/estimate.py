"""Audio features for a track the catalog lacks, estimated from its artist's catalog songs —
and the evaluation that decides whether such an estimate may be trusted.

A listener's plays often name an artist the catalog knows under a song it does not hold. The
estimate for such a play is the mean of that artist's catalog songs (built in Spark by
`transform.silver.build_tracks`). Before any mood table leans on it, it is scored the honest
way: every catalog song whose artist has other songs is held out, estimated from those others
only (leave-one-out), and compared with its measured features, beside the baseline any
estimate must beat — the catalog-wide mean. The mood classifier's own artist-grouped folds
then score the same held-out songs twice, with measured and with estimated features (its
training never sees the song's artist).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from moodlake_dagster.ml import mood
from moodlake_dagster.ml.metrics import metric

ESTIMATED = ("valence", "energy")
# "Clearly beats the baseline": the error at least this much lower for every feature scored.
CLEAR_MARGIN = 0.15


@dataclass
class FeatureErrors:
    n_songs: int
    mae: dict[str, float]
    baseline_mae: dict[str, float]

    @property
    def clearly_better(self) -> bool:
        return all(self.mae[f] <= (1 - CLEAR_MARGIN) * self.baseline_mae[f] for f in self.mae)


@dataclass
class EstimateEvaluation(FeatureErrors):
    mood_auc_measured: float | None = None
    mood_auc_estimated: float | None = None
    n_mood_tracks: int = 0


def songs(tracks: pd.DataFrame) -> pd.DataFrame:
    """One row per song (the catalog holds one song under several ids), catalog features only."""
    measured = tracks  # a catalog without a features_source column holds no estimates
    if "features_source" in tracks:
        measured = tracks[tracks["features_source"] == "catalog"]
    return measured.sort_values("track_id").drop_duplicates("song_key").reset_index(drop=True)


def leave_one_out(frame: pd.DataFrame, features) -> pd.DataFrame:
    """Each song's features estimated from its primary artist's *other* songs (NaN without)."""
    by_artist = frame.groupby("primary_artist")[list(features)]
    total, count = by_artist.transform("sum"), by_artist.transform("count")
    others = count - 1
    return (total - frame[list(features)]).div(others.where(others > 0))


def errors(tracks: pd.DataFrame) -> FeatureErrors:
    """Mean absolute error of the leave-one-out estimate and of the catalog mean."""
    catalog = songs(tracks)
    estimates = leave_one_out(catalog, ESTIMATED)
    has = estimates["valence"].notna()
    held = catalog[has]
    mae = {f: float((estimates.loc[has, f] - held[f]).abs().mean()) for f in ESTIMATED}
    baseline = {f: float((catalog[f].mean() - held[f]).abs().mean()) for f in ESTIMATED}
    return FeatureErrors(int(has.sum()), mae, baseline)


def for_labelled(labelled: pd.DataFrame, tracks: pd.DataFrame) -> np.ndarray:
    """The mood classifier's features, estimated leave-one-out, aligned with `labelled`."""
    catalog = songs(tracks)
    estimates = leave_one_out(catalog, mood.FEATURES).set_index(catalog["song_key"])
    return estimates.reindex(labelled["song_key"]).to_numpy(float)


def evaluate(tracks: pd.DataFrame) -> EstimateEvaluation:
    """Feature errors, and the mood classifier's AUC on measured vs estimated features."""
    found = errors(tracks)
    labelled = mood.labelled_tracks(songs(tracks))
    result = EstimateEvaluation(found.n_songs, found.mae, found.baseline_mae)
    try:
        scored = mood.evaluate(labelled, estimated=for_labelled(labelled, tracks))
    except mood.NotEnoughLabels:
        return result
    result.mood_auc_measured = scored.measured_macro_auc_same_tracks
    result.mood_auc_estimated = scored.estimated_macro_auc
    result.n_mood_tracks = scored.n_estimated
    return result


def metrics(tracks: pd.DataFrame, evaluation: mood.MoodEvaluation) -> list[dict]:
    """The `feature_estimate` model_metrics rows: how good the artist estimates Silver gives
    unknown songs are, on held-out catalog songs — the error beside the catalog mean's, and
    mood AUC estimated beside measured (from the mood classifier's own folds)."""
    found = errors(tracks)
    rows = [
        metric(
            f"mae_{f}",
            found.mae[f],
            baseline=found.baseline_mae[f],
            n_eval=found.n_songs,
            note="baseline: the catalog mean",
        )
        for f in found.mae
    ]
    if evaluation.estimated_macro_auc is not None:
        rows.append(
            metric(
                "mood_macro_auc",
                evaluation.estimated_macro_auc,
                baseline=evaluation.measured_macro_auc_same_tracks,
                n_eval=evaluation.n_estimated,
                note="baseline: the same tracks with measured features",
            )
        )
    return rows

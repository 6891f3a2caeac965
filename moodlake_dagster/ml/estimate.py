"""Audio features for a track the catalog lacks, estimated from its artist's catalog songs —
and the evaluation that decides whether such an estimate may be trusted.

A listener's plays often name an artist the catalog knows under a song it does not hold. The
estimate for such a play is the mean of that artist's catalog songs. Before any mood table
leans on it, it is scored the honest way: every catalog song whose artist has other songs is
held out, estimated from those others only (leave-one-out), and compared with its measured
features, beside the baseline any estimate must beat — the catalog-wide mean. The mood
classifier is scored on the same held-out songs twice, once with measured and once with
estimated features, in artist-grouped folds (its training never sees the song's artist).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold

from moodlake_dagster.ml import mood

ESTIMATED = ("valence", "energy")
# "Clearly beats the baseline": the error at least this much lower for every feature scored.
CLEAR_MARGIN = 0.15


@dataclass
class EstimateEvaluation:
    n_songs: int
    mae: dict[str, float]
    baseline_mae: dict[str, float]
    mood_auc_measured: float | None
    mood_auc_estimated: float | None
    n_mood_tracks: int

    @property
    def clearly_better(self) -> bool:
        return all(self.mae[f] <= (1 - CLEAR_MARGIN) * self.baseline_mae[f] for f in self.mae)


def songs(tracks: pd.DataFrame) -> pd.DataFrame:
    """One row per song (the catalog holds one song under several ids), catalog features only."""
    measured = tracks[tracks.get("features_source", "catalog") == "catalog"]
    return measured.sort_values("track_id").drop_duplicates("song_key").reset_index(drop=True)


def leave_one_out(frame: pd.DataFrame, features) -> pd.DataFrame:
    """Each song's features estimated from its primary artist's *other* songs (NaN without)."""
    by_artist = frame.groupby("primary_artist")[list(features)]
    total, count = by_artist.transform("sum"), by_artist.transform("count")
    others = count - 1
    return (total - frame[list(features)]).div(others.where(others > 0))


def evaluate(tracks: pd.DataFrame) -> EstimateEvaluation:
    catalog = songs(tracks)
    estimates = leave_one_out(catalog, mood.FEATURES)
    has = estimates["valence"].notna()
    held = catalog[has]
    mae = {f: float((estimates.loc[has, f] - held[f]).abs().mean()) for f in ESTIMATED}
    baseline = {f: float((catalog[f].mean() - held[f]).abs().mean()) for f in ESTIMATED}
    auc_measured, auc_estimated, n_mood = _mood_auc(catalog, estimates)
    return EstimateEvaluation(int(has.sum()), mae, baseline, auc_measured, auc_estimated, n_mood)


def _mood_auc(catalog: pd.DataFrame, estimates: pd.DataFrame):
    """Macro AUC of the mood classifier on held-out artists' songs: measured vs estimated."""
    labelled = mood.labelled_tracks(catalog)
    index = catalog.reset_index().merge(labelled[["track_id", "label"]], on="track_id")["index"]
    labelled = labelled.assign(_row=index.to_numpy())
    if labelled["artist_group"].nunique() < mood.FOLDS:
        return None, None, 0
    X = labelled[list(mood.FEATURES)].to_numpy(float)
    X_est = estimates.loc[labelled["_row"], list(mood.FEATURES)].to_numpy(float)
    y, groups = labelled["label"].to_numpy(), labelled["artist_group"].to_numpy()
    classes = np.array(sorted(set(y)))
    out_measured, out_estimated = np.zeros((len(y), len(classes))), np.zeros((len(y), len(classes)))
    for train, test in GroupKFold(n_splits=mood.FOLDS).split(X, y, groups):
        model = mood.model().fit(X[train], y[train])
        columns = [list(classes).index(c) for c in model.classes_]
        out_measured[np.ix_(test, columns)] = model.predict_proba(X[test])
        usable = test[~np.isnan(X_est[test]).any(axis=1)]
        if len(usable):
            out_estimated[np.ix_(usable, columns)] = model.predict_proba(X_est[usable])
    scored = ~np.isnan(X_est).any(axis=1)
    if scored.sum() < 20 or len(set(y[scored])) < 2:
        return None, None, int(scored.sum())
    present = [i for i, c in enumerate(classes) if c in set(y[scored])]
    sub = classes[present]
    measured, _ = mood._macro(y[scored], out_measured[scored][:, present], sub)
    estimated, _ = mood._macro(y[scored], out_estimated[scored][:, present], sub)
    return measured, estimated, int(scored.sum())

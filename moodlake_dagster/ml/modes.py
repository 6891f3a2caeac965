"""Listening modes: K-Means over one person's plays in mood space, k chosen by silhouette.

A mode is a kind of listening the person keeps coming back to ("calm acoustic evenings").
Silhouette is an internal measure of how well the modes separate — a diagnostic, not a
prediction score, so it is reported as such.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler

from moodlake_dagster.vocabulary import MODE_FEATURES

K_RANGE = range(2, 7)
MIN_PLAYS = 30
SILHOUETTE_SAMPLE = 3_000
SEED = 11
PLURAL = {
    "night": "nights",
    "morning": "mornings",
    "afternoon": "afternoons",
    "evening": "evenings",
}


@dataclass
class UserModes:
    user_id: str
    k: int
    silhouette: float
    curve: dict[int, float]
    modes: pd.DataFrame
    scaler: StandardScaler = field(repr=False)
    kmeans: KMeans = field(repr=False)


def mode_name(centroid: pd.Series, day_part: str) -> str:
    """Plain words for a centroid in original units ("calm acoustic evenings")."""
    energy = centroid["energy"]
    pace = "calm" if energy < 0.4 else "energetic" if energy > 0.7 else "steady"
    if centroid["acousticness"] > 0.5:
        colour = "acoustic"
    elif centroid["danceability"] > 0.65:
        colour = "danceable"
    elif centroid["valence"] < 0.35:
        colour = "melancholic"
    elif centroid["valence"] > 0.65:
        colour = "upbeat"
    else:
        colour = "mixed"
    return f"{pace} {colour} {PLURAL.get(day_part, day_part)}"


def fit_user(user_id: str, plays: pd.DataFrame) -> UserModes:
    """Modes for one person's plays that have audio features."""
    if len(plays) < MIN_PLAYS:
        raise ValueError(f"{len(plays)} plays with audio features; at least {MIN_PLAYS} needed")
    X = plays[list(MODE_FEATURES)].to_numpy(dtype=float)
    scaler = StandardScaler().fit(X)
    Z = scaler.transform(X)
    curve, fits = {}, {}
    sample = min(SILHOUETTE_SAMPLE, len(Z))
    for k in K_RANGE:
        if k >= len(np.unique(Z, axis=0)):
            break
        km = KMeans(n_clusters=k, n_init=10, random_state=SEED).fit(Z)
        curve[k] = float(silhouette_score(Z, km.labels_, sample_size=sample, random_state=SEED))
        fits[k] = km
    if not curve:
        raise ValueError("all plays sit on one point in mood space: no modes to find")
    k = max(curve, key=curve.get)
    km = fits[k]
    frame = plays.assign(mode_id=km.labels_)
    centroids = pd.DataFrame(scaler.inverse_transform(km.cluster_centers_), columns=MODE_FEATURES)
    rows, names = [], Counter()
    for mode_id, group in frame.groupby("mode_id"):
        centroid = centroids.loc[mode_id]
        day_part = group["day_part"].mode().iloc[0]
        name = mode_name(centroid, day_part)
        names[name] += 1
        rows.append(
            {
                "user_id": user_id,
                "mode_id": int(mode_id),
                "name": name if names[name] == 1 else f"{name} ({names[name]})",
                "plays": len(group),
                "share": len(group) / len(frame),
                "typical_day_part": day_part,
                "typical_hour": int(group["local_hour"].mode().iloc[0]),
                **{f"centroid_{f}": float(centroid[f]) for f in MODE_FEATURES},
            }
        )
    return UserModes(user_id, k, curve[k], curve, pd.DataFrame(rows), scaler, km)


def assign(user: UserModes, plays: pd.DataFrame) -> np.ndarray:
    """Which of the person's modes new plays fall into."""
    return user.kmeans.predict(user.scaler.transform(plays[list(MODE_FEATURES)].to_numpy(float)))

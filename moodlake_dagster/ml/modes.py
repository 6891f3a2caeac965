"""Listening modes: K-Means over one person's plays in mood space, k chosen by silhouette.

A mode is a kind of listening the person keeps coming back to ("calm acoustic evenings").
Silhouette is an internal measure of how well the modes separate — a diagnostic, not a
prediction score, so it is reported as such.

Scale (issue 11): the model is unchanged (k 2-6, K-Means n_init=10, seed 11, silhouette on at
most SILHOUETTE_SAMPLE plays), only scheduled differently, so no metric moves. Listeners are
fitted in worker processes with one numeric thread each (`parallel.per_listener`): each KMeans
fit otherwise starts OpenMP threads on every core, which on a busy 2-core machine mostly wait
for one another (200 crowd listeners: over 600 s before, 34-56 s after). The silhouette sample
and its distance matrix are drawn once per listener, not once per k (`_silhouette`: the value of
`sklearn.metrics.silhouette_score(sample_size=SILHOUETTE_SAMPLE, random_state=SEED)` to 1e-15,
without its per-row Python loop; 43 s -> 34 s serial). Silhouette stays
O(min(plays, SILHOUETTE_SAMPLE)²) per listener. The tables, curves, k and silhouettes are the
same as the serial sklearn path's (tests/test_modes_scale.py).

Retraining cadence (ml/cadence.py): a new day is served by the latest stored fit while its
inputs stand, the plays joined to their mood features. The day's rows are the fit's; its card
keeps each listener's k, silhouette curve and why someone has no modes, so the page shows
the same plots; the map places the day's plays in the stored modes.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.cluster import KMeans
from sklearn.metrics import pairwise_distances
from sklearn.preprocessing import StandardScaler

from moodlake_dagster.ml.cadence import Fitted, served_metadata
from moodlake_dagster.ml.metrics import metric
from moodlake_dagster.ml.output import ModelOutput
from moodlake_dagster.ml.parallel import per_listener
from moodlake_dagster.tables import LISTENING_MODES
from moodlake_dagster.vocabulary import MODE_FEATURES

K_RANGE = range(2, 7)
MIN_PLAYS = 30
SILHOUETTE_SAMPLE = 3_000
SEED = 11
MAP_SAMPLE = 2_000  # plays of the main listener drawn on the mode map
STORE_NAME = "listening_modes"
# What the retraining cadence digests of a fit's inputs: every column a fit reads.
INPUT_COLUMNS = ("user_id", "play_date", *MODE_FEATURES, "day_part", "local_hour")
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
    # The sample silhouette_score(sample_size, random_state=SEED) draws: the same for every k.
    picked = np.random.RandomState(SEED).permutation(len(Z))[:SILHOUETTE_SAMPLE]
    distances = pairwise_distances(Z[picked])
    distinct = len(np.unique(Z, axis=0))
    for k in K_RANGE:
        if k >= distinct:
            break
        km = KMeans(n_clusters=k, n_init=10, random_state=SEED).fit(Z)
        curve[k] = _silhouette(distances, km.labels_[picked])
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


def _silhouette(distances: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette from the sample's distance matrix, as sklearn computes it (a cluster of
    one scores 0), so one matrix serves every k."""
    classes, codes = np.unique(labels, return_inverse=True)
    n = len(codes)
    if not 1 < len(classes) < n:
        raise ValueError(
            f"Number of labels is {len(classes)}. Valid values are 2 to n_samples - 1 (inclusive)"
        )
    sizes = np.bincount(codes)
    totals = distances @ np.eye(len(classes))[codes]  # summed distance to each cluster
    rows = np.arange(n)
    intra = totals[rows, codes]
    totals[rows, codes] = np.inf
    inter = (totals / sizes).min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        intra = intra / (sizes - 1)[codes]
        scores = (inter - intra) / np.maximum(intra, inter)
    return float(np.mean(np.nan_to_num(scores)))


def _fit_or_reason(user_id: str, plays: pd.DataFrame) -> UserModes | str:
    """`fit_user` for a worker process: a listener's failure comes back as its reason."""
    try:
        return fit_user(user_id, plays)
    except ValueError as err:
        return str(err)


def assign(user: UserModes, plays: pd.DataFrame) -> np.ndarray:
    """Which of the person's modes new plays fall into."""
    return user.kmeans.predict(user.scaler.transform(plays[list(MODE_FEATURES)].to_numpy(float)))


@dataclass
class ModesRun:
    """A run's output; the listeners fitted (most plays first: the first is the one the map
    shows) with a sample of that listener's plays; what to log, as (logging level, message)."""

    out: ModelOutput
    fitted: list[UserModes]
    sample: pd.DataFrame | None  # the main listener's plays with their `mode_id`
    log: list[tuple[int, str]]


def model_inputs(plays: pd.DataFrame, tracks: pd.DataFrame) -> pd.DataFrame:
    """The plays that have mood features (from `tracks`, Silver as of the day), with them:
    what a fit reads, and what the cadence digests."""
    return plays.merge(tracks[["track_id", *MODE_FEATURES]], on="track_id")


def eligible(joined: pd.DataFrame) -> list[str]:
    """Listeners with enough plays with features for modes: one who has them since a fit
    could have modes now, so the retraining cadence refits for them."""
    counts = joined["user_id"].value_counts()
    return [str(u) for u in counts.index[counts >= MIN_PLAYS]]


def fit_listeners(
    plays: pd.DataFrame, tracks: pd.DataFrame, as_of: dt.date, *, n_workers: int | None = None
) -> ModesRun:
    """Modes for every listener in `plays` (training plays with audio features) from the
    features in `tracks` (Silver as of `as_of`); a listener who cannot have any is named with
    the reason. `n_workers` processes (default: `parallel.workers()`); 1 fits in this one."""
    joined = model_inputs(plays, tracks)
    return fit_inputs(joined, set(plays["user_id"]), as_of, n_workers=n_workers)


def fit_inputs(
    joined: pd.DataFrame, listeners: set, as_of: dt.date, *, n_workers: int | None = None
) -> ModesRun:
    """`fit_listeners` on `model_inputs`; `listeners`: everyone with a training play."""
    fitted, skipped = [], {}
    columns = ["user_id", *MODE_FEATURES, "day_part", "local_hour"]
    groups = list(joined[columns].groupby("user_id"))
    results = per_listener(_fit_or_reason, groups, n_workers=n_workers)
    for (user_id, _), result in zip(groups, results, strict=True):
        if isinstance(result, UserModes):
            fitted.append(result)
        else:
            skipped[str(user_id)] = result
    fitted.sort(key=lambda u: -u.modes["plays"].sum())
    table = (
        pd.concat([u.modes for u in fitted], ignore_index=True)
        if fitted
        else pd.DataFrame(columns=LISTENING_MODES.schema.names[1:])
    )
    table.insert(0, "as_of_date", as_of)
    rows = pa.Table.from_pandas(table, schema=LISTENING_MODES.schema, preserve_index=False)
    why_not = dict(skipped)  # for the card: a served day adds who has no feature then
    run = _run(rows, fitted, skipped, joined, listeners)
    run.out.metrics = {"listening_modes": [row for u in fitted for row in _metrics(u)]}
    if fitted:
        run.out.store_name = STORE_NAME
        run.out.artifact = {u.user_id: {"scaler": u.scaler, "kmeans": u.kmeans} for u in fitted}
        run.out.card = {
            "features": list(MODE_FEATURES),
            "k": {u.user_id: u.k for u in fitted},
            # What a day this fit serves shows without refitting (`served`).
            "silhouette": {u.user_id: u.silhouette for u in fitted},
            "curve": {u.user_id: u.curve for u in fitted},
            "skipped": why_not,
        }
    return run


def served(
    rows: pd.DataFrame,
    models: dict,
    card: dict,
    joined: pd.DataFrame,
    listeners: set,
    fitted: Fitted,
    as_of: dt.date,
) -> ModesRun:
    """Today's run from a stored fit: its table rows (`rows`, as of its day) as today's, its
    models and card; the map shows today's plays (`joined`) in the main listener's modes.
    Nothing is fitted or stored, and no model_metrics row is written: those are the fit's."""
    rows = rows.assign(as_of_date=as_of)[LISTENING_MODES.schema.names]
    users = [
        UserModes(
            user_id,
            int(card["k"][user_id]),
            float(card["silhouette"][user_id]),
            {int(k): v for k, v in card["curve"][user_id].items()},
            own.drop(columns="as_of_date").reset_index(drop=True),
            models[user_id]["scaler"],
            models[user_id]["kmeans"],
        )
        for user_id, own in rows.groupby("user_id")  # in order, as a fit sorts them
    ]
    users.sort(key=lambda u: -u.modes["plays"].sum())
    table = pa.Table.from_pandas(rows, schema=LISTENING_MODES.schema, preserve_index=False)
    run = _run(table, users, dict(card.get("skipped", {})), joined, listeners)
    run.out.metadata |= served_metadata(fitted, as_of, len(joined))
    run.log.append((logging.INFO, f"listening modes served by the fit of {fitted.as_of}"))
    return run


def _run(
    rows: pa.Table, fitted: list[UserModes], skipped: dict, joined: pd.DataFrame, listeners: set
) -> ModesRun:
    """The run around a table: who has modes and who not, and the main listener's map."""
    for user_id in set(listeners) - set(joined["user_id"]):
        skipped[str(user_id)] = "no play with audio features"
    out = ModelOutput(
        rows=rows,
        metadata={
            "users_with_modes": len(fitted),
            "users_skipped": skipped,
            "plays_used": len(joined),
        },
        empty_reason=f"no listener has {MIN_PLAYS} plays with audio features",
    )
    sample = None
    if fitted:
        main = fitted[0]
        out.metadata |= {"k": main.k, "silhouette": main.silhouette}
        own = joined[joined["user_id"] == main.user_id]
        sample = own.sample(n=min(MAP_SAMPLE, len(own)), random_state=1)
        sample = sample.assign(mode_id=assign(main, sample))
    log = [(logging.WARNING, f"{user}: no listening modes: {why}") for user, why in skipped.items()]
    return ModesRun(out, fitted, sample, log)


def _metrics(user: UserModes) -> list[dict]:
    """Silhouette (a diagnostic) and the k it chose, over the listener's plays."""
    n = int(user.modes["plays"].sum())
    return [
        metric("silhouette", user.silhouette, n_eval=n, note=user.user_id),
        metric("k", user.k, n_eval=n, note=user.user_id),
    ]

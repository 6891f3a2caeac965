"""Listener segments: K-Means over per-listener habits, k chosen by silhouette, named in words.

A segment is a kind of listener ("heavy night-owl listeners, dark and calm"). Features are
per listener, from every play up to the as-of day: how much they play on a day they play,
how often they skip, when in the day they play, the mood of what they play, and how widely
they roam across genres.

Genre breadth is the *effective number of genres*: exp(Shannon entropy) of the listener's
plays over genres (a play of a track with several genres counts once for each). Unlike a
count of distinct genres it does not grow with every stray play, so heavy listeners are not
"broad" just for playing more; "5.0" reads as "as spread as five equally played genres".

Plays per active day is heavy-tailed, so it is clustered on a log scale (log1p) before
standardizing; rows and names report it in plays. Each feature is then clipped to its median
± 3 robust standard deviations (IQR / 1.349) before scaling: a handful of extreme accounts
(stream farms play hundreds of times a day) would otherwise take a segment of their own and
leave everyone else in one. Rows keep the true values. A listener with no play of a track with
audio features (or genres) gets the population median for clustering; their row keeps null.

Silhouette is an internal measure of separation, so it is reported on listeners the model
did not train on, beside groups cut by plays per day alone, and with the adjusted Rand index
between the held-out listeners' segments by the 70% model and by the model fitted on all.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
from matplotlib.figure import Figure
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from moodlake_dagster.ml.metrics import metric
from moodlake_dagster.ml.output import ModelOutput
from moodlake_dagster.tables import LISTENER_SEGMENTS
from moodlake_dagster.vocabulary import DAY_PARTS

MODEL = "listener_segments"
FEATURES = (
    "plays_per_active_day",
    "skip_rate",
    *(f"{part}_share" for part in DAY_PARTS),
    "mean_valence",
    "mean_energy",
    "genre_breadth",
)
LOG_FEATURES = ("plays_per_active_day",)  # clustered as log1p
CLIP = 3.0  # robust standard deviations from the median
K_RANGE = range(2, 9)
MIN_LISTENERS = 20
SILHOUETTE_SAMPLE = 3_000
TRAIN_SHARE = 0.7
SEED = 13
# A centroid this many standard deviations from the population mean earns the word.
WORD_Z = 0.5
# A day part this much above its population share names the segment's time of day.
DAY_PART_LIFT = 0.07
DAY_PART_WORD = {
    "night": "night-owl",
    "morning": "morning",
    "afternoon": "afternoon",
    "evening": "evening",
}
SCHEMA = LISTENER_SEGMENTS.schema


def listener_features(plays: pd.DataFrame, tracks: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """One row per listener (index `user_id`) from their plays on or before `as_of`."""
    p = plays[pd.to_datetime(plays["local_date"]) <= pd.Timestamp(as_of)]
    p = p[["user_id", "track_id", "local_date", "day_part", "skipped"]]
    by_user = p.groupby("user_id", sort=True)
    out = pd.DataFrame(
        {
            "plays_per_active_day": by_user.size() / by_user["local_date"].nunique(),
            "skip_rate": by_user["skipped"].mean().astype(float),
        }
    )
    parts = pd.crosstab(p["user_id"], p["day_part"], normalize="index")
    for part in DAY_PARTS:
        out[f"{part}_share"] = parts.get(part, pd.Series(0.0, index=parts.index))
    audio = p.merge(tracks[["track_id", "valence", "energy"]], on="track_id")
    mood = audio.groupby("user_id")[["valence", "energy"]].mean()
    out["mean_valence"] = mood["valence"]
    out["mean_energy"] = mood["energy"]
    out["genre_breadth"] = _genre_breadth(p, tracks)
    out.index = out.index.astype(str)
    out.index.name = "user_id"
    return out[list(FEATURES)].astype(float)


def _genre_breadth(plays: pd.DataFrame, tracks: pd.DataFrame) -> pd.Series:
    """exp(entropy) of each listener's plays over genres: the effective number of genres."""
    genres = tracks[["track_id", "genres"]].explode("genres").dropna(subset=["genres"])
    counts = plays[["user_id", "track_id"]].merge(genres, on="track_id")
    counts = counts.groupby(["user_id", "genres"]).size()
    share = counts / counts.groupby(level="user_id").transform("sum")
    entropy = (-share * np.log(share)).groupby(level="user_id").sum()
    return np.exp(entropy)


@dataclass
class Segmenter:
    """What turns a feature row into a segment: fill, log, scale, nearest centroid."""

    fill: pd.Series
    low: np.ndarray  # clip bounds, after log1p
    high: np.ndarray
    scaler: StandardScaler
    kmeans: KMeans
    k: int
    curve: dict[int, float] = field(default_factory=dict)

    def design(self, features: pd.DataFrame) -> np.ndarray:
        return self.scaler.transform(np.clip(_prepare(features, self.fill), self.low, self.high))

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        return self.kmeans.predict(self.design(features))


def _prepare(features: pd.DataFrame, fill: pd.Series) -> np.ndarray:
    X = features[list(FEATURES)].fillna(fill).fillna(0.0)
    for f in LOG_FEATURES:
        X[f] = np.log1p(X[f])
    return X.to_numpy(float)


def fit_segmenter(features: pd.DataFrame, seed: int = SEED) -> Segmenter:
    """K-Means on standardized features, k in 2..8 by silhouette on a sample of listeners."""
    fill = features.median()
    X = _prepare(features, fill)
    median = np.median(X, axis=0)
    spread = np.subtract(*np.percentile(X, [75, 25], axis=0)) / 1.349
    spread = np.where(spread > 0, spread, np.inf)  # no spread in the middle half: no clipping
    low, high = median - CLIP * spread, median + CLIP * spread
    X = np.clip(X, low, high)
    scaler = StandardScaler().fit(X)
    Z = scaler.transform(X)
    distinct = len(np.unique(Z.round(9), axis=0))
    curve, fits = {}, {}
    for k in K_RANGE:
        if k >= distinct:
            break
        km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(Z)
        curve[k] = float(
            silhouette_score(
                Z, km.labels_, sample_size=min(SILHOUETTE_SAMPLE, len(Z)), random_state=seed
            )
        )
        fits[k] = km
    if not curve:
        raise ValueError("every listener sits on the same point: no segments to find")
    k = max(curve, key=curve.get)
    return Segmenter(fill, low, high, scaler, fits[k], k, curve)


def segment_names(centroids: pd.DataFrame, population: pd.DataFrame) -> list[str]:
    """Unique plain-language names for centroids (original units), read against everyone.

    A word is earned by standing out from the population: volume and mood by standard
    deviations from the listener mean, time of day by a share above the population's.
    Names that still collide get the next most telling word, then a number.
    """
    mean, std = population.mean(), population.std(ddof=0).replace(0, 1.0)
    z = (centroids - mean) / std
    logged = np.log1p(population["plays_per_active_day"])
    z["plays_per_active_day"] = (np.log1p(centroids["plays_per_active_day"]) - logged.mean()) / (
        logged.std(ddof=0) or 1.0
    )
    names, extras = [], []
    for i in range(len(centroids)):
        row, zi = centroids.iloc[i], z.iloc[i]
        volume = _scale_word(zi["plays_per_active_day"], "light", "moderate", "heavy")
        lift = pd.Series({part: row[f"{part}_share"] - mean[f"{part}_share"] for part in DAY_PARTS})
        when = DAY_PART_WORD[lift.idxmax()] if lift.max() >= DAY_PART_LIFT else "all-day"
        mood = [
            w
            for w in (
                _scale_word(zi["mean_valence"], "dark", None, "bright"),
                _scale_word(zi["mean_energy"], "calm", None, "energetic"),
            )
            if w
        ]
        mood_text = " and ".join(mood) if mood else "middle-of-the-road mood"
        names.append(f"{volume} {when} listeners, {mood_text}")
        more = {
            "skip_rate": _scale_word(zi["skip_rate"], "patient", None, "skip-happy"),
            "genre_breadth": _scale_word(zi["genre_breadth"], "genre-focused", None, "eclectic"),
        }
        ranked = sorted(more, key=lambda f: -abs(zi[f]))
        extras.append([more[f] for f in ranked if more[f]])
    for round_ in range(3):
        counts = pd.Series(names).value_counts()
        clashing = [i for i, n in enumerate(names) if counts[n] > 1]
        if not clashing:
            break
        for i in clashing:
            if round_ < len(extras[i]):
                names[i] = f"{names[i]}, {extras[i][round_]}"
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            names[i] = f"{name} ({seen[name]})"
    return names


def _scale_word(z: float, low: str | None, mid: str | None, high: str | None) -> str | None:
    if not np.isfinite(z):
        return mid
    return high if z >= WORD_Z else low if z <= -WORD_Z else mid


@dataclass
class Evaluation:
    n_train: int
    n_eval: int
    k_train: int
    silhouette: float | None
    baseline_silhouette: float | None
    adjusted_rand: float | None


def evaluate(features: pd.DataFrame, full: Segmenter, seed: int = SEED) -> Evaluation:
    """Fit on a seeded 70% of listeners, score the other 30% beside plays-per-day quantiles."""
    order = np.random.default_rng(seed).permutation(len(features))
    cut = int(round(TRAIN_SHARE * len(features)))
    train, held = features.iloc[np.sort(order[:cut])], features.iloc[np.sort(order[cut:])]
    part = fit_segmenter(train, seed)
    Z = part.design(held)
    labels = part.kmeans.predict(Z)
    ranks = held["plays_per_active_day"].rank(method="first")
    quantiles = pd.qcut(ranks, q=min(part.k, len(held)), labels=False).to_numpy()
    return Evaluation(
        n_train=len(train),
        n_eval=len(held),
        k_train=part.k,
        silhouette=_silhouette(Z, labels),
        baseline_silhouette=_silhouette(Z, quantiles),
        adjusted_rand=float(adjusted_rand_score(labels, full.predict(held))),
    )


def _silhouette(Z: np.ndarray, labels: np.ndarray) -> float | None:
    """Silhouette, or None where it is undefined (one group, or a group per listener)."""
    if not 2 <= len(np.unique(labels)) <= len(Z) - 1:
        return None
    return float(silhouette_score(Z, labels))


def fit(plays: pd.DataFrame, tracks: pd.DataFrame, as_of: dt.date) -> ModelOutput:
    """Segments of every listener with plays up to `as_of`, one row each, with honest metrics.

    One OpenMP thread: K-Means over a few thousand listeners is quick on one, and spinning
    OpenMP threads on a shared few-core machine slow it down many times over."""
    with threadpool_limits(limits=1, user_api="openmp"):
        return _fit(plays, tracks, as_of)


def _fit(plays: pd.DataFrame, tracks: pd.DataFrame, as_of: dt.date) -> ModelOutput:
    features = listener_features(plays, tracks, as_of)
    empty = ModelOutput(
        rows=SCHEMA.empty_table(),
        metrics={MODEL: []},
        metadata={"listeners": len(features)},
        empty_reason=(
            f"{len(features)} listener(s) with plays up to {as_of}; "
            f"segments need at least {MIN_LISTENERS}"
        ),
    )
    if len(features) < MIN_LISTENERS:
        return empty
    try:
        full = fit_segmenter(features)
        evaluation = evaluate(features, full)
    except ValueError as err:
        empty.empty_reason = str(err)
        return empty
    Z = full.design(features)
    labels = full.kmeans.labels_
    centroids = pd.DataFrame(
        full.scaler.inverse_transform(full.kmeans.cluster_centers_), columns=list(FEATURES)
    )
    for f in LOG_FEATURES:
        centroids[f] = np.expm1(centroids[f])
    names = segment_names(centroids, features.fillna(full.fill))
    distance = np.linalg.norm(Z - full.kmeans.cluster_centers_[labels], axis=1)
    table = features.reset_index().assign(
        as_of_date=as_of,
        segment_id=labels.astype("int64"),
        segment=[names[i] for i in labels],
        distance=distance,
    )
    rows = pa.Table.from_pandas(table[SCHEMA.names], schema=SCHEMA, preserve_index=False)
    sizes = pd.Series(labels).value_counts().sort_index()
    e = evaluation
    out = ModelOutput(
        rows=rows,
        metrics={
            MODEL: [
                metric(
                    "silhouette_heldout",
                    e.silhouette,
                    baseline=e.baseline_silhouette,
                    n_eval=e.n_eval,
                    note=(
                        f"k={e.k_train} fitted on {e.n_train} listeners; baseline: "
                        f"{e.k_train} plays-per-day quantile groups of the same listeners"
                    ),
                ),
                metric(
                    "adjusted_rand_stability",
                    e.adjusted_rand,
                    n_eval=e.n_eval,
                    note="held-out listeners: the 70% model's segments vs the full model's",
                ),
                metric("k", full.k, n_eval=len(features), note="silhouette over all listeners"),
            ]
        },
        store_name=MODEL,
        artifact={
            "scaler": full.scaler,
            "kmeans": full.kmeans,
            "fill": full.fill.to_dict(),
            "clip": {"low": full.low.tolist(), "high": full.high.tolist()},
            "features": list(FEATURES),
            "log_features": list(LOG_FEATURES),
            "names": dict(enumerate(names)),
        },
        card={
            "features": list(FEATURES),
            "log_features": list(LOG_FEATURES),
            "k": full.k,
            "silhouette_by_k": full.curve,
            "segments": dict(enumerate(names)),
        },
        metadata={
            "listeners": len(features),
            "k": full.k,
            "segments": {names[i]: int(n) for i, n in sizes.items()},
            "silhouette_heldout": e.silhouette,
            "silhouette_baseline": e.baseline_silhouette,
            "adjusted_rand_stability": e.adjusted_rand,
        },
        empty_reason="no listener yet",
    )
    out.figures["plot"] = (
        segment_plot(Z, labels, names),
        "Listeners on the first two principal components of their habits, coloured by segment",
    )
    out.figures["k_choice"] = (
        k_choice_plot(full.curve, full.k),
        "Silhouette of the listener segments for each k; the highest wins",
    )
    return out


def segment_plot(Z: np.ndarray, labels: np.ndarray, names: list[str]) -> Figure:
    xy = PCA(n_components=2, random_state=SEED).fit_transform(Z)
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.subplots()
    for i, name in enumerate(names):
        mine = labels == i
        ax.scatter(xy[mine, 0], xy[mine, 1], s=10, alpha=0.6, label=f"{name} ({mine.sum()})")
    ax.set_xlabel("principal component 1")
    ax.set_ylabel("principal component 2")
    ax.set_title("Listener segments (standardized habits, PCA)", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def k_choice_plot(curve: dict[int, float], k: int) -> Figure:
    fig = Figure(figsize=(5, 3), layout="constrained")
    ax = fig.subplots()
    ax.plot(list(curve), list(curve.values()), marker="o", color="#264653")
    ax.axvline(k, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("k (segments)")
    ax.set_ylabel("silhouette")
    ax.set_title("Choosing k: the highest silhouette wins", fontsize=9)
    return fig

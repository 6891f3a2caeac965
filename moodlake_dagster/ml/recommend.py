"""Recommendations in two modes, from a per-listener match model.

**Match model.** For each listener a gradient-boosted classifier learns what their plays (played
through, not skipped) look like at each time of day, against catalog tracks drawn at random
and given day parts in the listener's own proportions — so the day part alone tells the
model nothing, only how it combines with the audio. Its probability for a track and a day
part is the `match_score`. It is scored on later days: held-out plays against held-out
catalog tracks, beside a nearest-profile baseline (closeness to the listener's mean for that
day part).

**Mirror** ranks candidates by `match_score`: music for the mood the person is in.

**Coach** ranks by `improvement_score`: a small step up in valence or energy from the
listener's recent mean for that day part — +0.05 to +0.15 — times the match. Larger jumps in
either direction, up or down, are capped: they score zero and are never picked. After a
low-valence streak the coach only counts steps up in valence. It is for wellbeing, not
engagement: nothing rewards listening longer.

Candidates are catalog tracks the listener has never played, from the genres they play most
(more of them when those hold too few unplayed tracks), plus what ALS suggests among them; at
most one track per artist in a list.

**Scale.** A run does the catalog-wide work once (the genre each artist is filed under most,
the catalog's genre lists as arrays), splits its inputs by listener once, sends the catalog to
each worker process once, and fits listeners in parallel (`parallel.per_listener`); each fit
is seeded per listener, so the table and metrics are the same serially or in parallel
(tests/test_recommend_scale.py). One
design change, for speed: the match model was a `GradientBoostingClassifier` (150 trees,
depth 3, rate 0.05, subsample 0.8) and is now a `HistGradientBoostingClassifier` (150
iterations, depth 3, rate 0.05, no early stopping). Same evaluation, same split, same
baseline, same generated crowds (`crowd(seed=20251)`), old beside new:

- 20 listeners × 90 days (~1,000 plays each; 18 evaluated): mean later-days AUC 0.858 before,
  0.855 now (per listener −0.025 to +0.025); nearest-profile baseline 0.785 (unchanged).
  CPU for the whole serial run 49.0 s before, 5.6 s now (2.45 → 0.28 s per listener).
- 40 listeners × 30 days (31 evaluated): mean AUC 0.828 before, 0.841 now (−0.033 to
  +0.108); baseline 0.779. Training and evaluation 1.70 → 0.21 s CPU per listener.

A second change, for scale (2026-11-30): 75 rounds at a rate of 0.1 instead of 150 at 0.05.
Later-days AUC, old beside new: the two real histories 0.9337 → 0.9363 and 0.9374 → 0.9382
(baseline 0.790 on average); the first 100 listeners of the 1,000-listener crowd (`moodlake
demo --crowd 1000`, seed 7; 97 evaluated) mean 0.8215 → 0.8247, lowest 0.685 → 0.719,
baseline 0.781; their recommendations in one process 24.0 s → 17.1 s.

A third (2026-12-02): 40 rounds at 0.2. Later-days AUC, old beside new, the two real
histories in the order above: 0.9363 → 0.9344 and 0.9382 → 0.9450 (baseline 0.790); the
first 100 listeners of the 300-listener crowd (seed 7; 98 evaluated) mean 0.8200 → 0.8219,
lowest 0.409 → 0.422, baseline 0.778. CPU per listener for both fits 0.216 s → 0.157 s, Tree
SHAP of 80 picks 21 → 14 ms. (25 rounds at 0.3 cut the fits to 0.125 s but lost AUC: crowd
0.8195, real histories 0.9351 on average.)

**Retraining cadence** (ml/cadence.py): the lists are made every day from the recent mood, but
the match models may be the latest stored fit's, while its inputs stand: the liked plays (with
their audio) of the listeners who have a model, and the catalog the background was drawn from.
A listener who now has enough plays for a model changes those listeners, and refits. Serving
saves each listener's two fits, about two thirds of their work; the day records no match AUC
(model_metrics keeps the fit's), only who got no list and why.
"""

from __future__ import annotations

import datetime as dt
import pickle
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from moodlake_dagster.ml import modes, parallel
from moodlake_dagster.ml.cadence import catalog_digest
from moodlake_dagster.ml.metrics import metric
from moodlake_dagster.ml.output import ModelOutput
from moodlake_dagster.tables import RECOMMENDATIONS
from moodlake_dagster.vocabulary import DAY_PARTS, ESTIMATE

AUDIO = (
    "valence",
    "energy",
    "danceability",
    "acousticness",
    "instrumentalness",
    "speechiness",
    "tempo",
    "loudness",
)
FEATURES = (*AUDIO, "day_part_code")
STEP_MIN, STEP_MAX = 0.05, 0.15
EPS = 1e-9  # 0.45 − 0.40 is 0.0499… in floating point: the band's edges belong to it
RECENT_DAYS = 14
MIN_RECENT = 10
LOW_VALENCE = 0.40
STREAK_DAYS = 3
LIKED_GENRES = 5
MIN_POOL = 1_000
PER_LIST = 10
MIN_PLAYS = 50
EVAL_SHARE = 0.2
MIN_EVAL = 20
BACKGROUND = 3_000
SEED = 13
# Fewer rounds at a higher rate than the first histogram design (150 at 0.05): the same AUC,
# less fitting, a smaller stored model and less SHAP work (see the module docstring).
ITERATIONS, LEARNING_RATE = 40, 0.2


# What the retraining cadence digests of a match model's inputs (`match_inputs`).
INPUT_COLUMNS = ("user_id", "track_id", "play_date", "day_part", *AUDIO)


class CannotRecommend(ValueError):
    """Too few plays with audio features to learn what the listener plays."""


@dataclass
class MatchModel:
    user_id: str
    model: HistGradientBoostingClassifier = field(repr=False)
    day_part_shares: dict[str, float]
    auc: float | None = None
    baseline_auc: float | None = None
    n_eval: int = 0
    cutoff: dt.date | None = None
    note: str = ""


def day_part_code(day_parts: pd.Series) -> np.ndarray:
    return day_parts.map({p: i for i, p in enumerate(DAY_PARTS)}).to_numpy(float)


def design(tracks: pd.DataFrame, day_parts: pd.Series | str) -> np.ndarray:
    """The match model's input: audio features and the day part as a code."""
    if isinstance(day_parts, str):
        day_parts = pd.Series(day_parts, index=tracks.index)
    X = tracks[list(AUDIO)].to_numpy(float)
    return np.column_stack([X, day_part_code(day_parts)])


def _background(catalog: pd.DataFrame, shares: dict, n: int, rng) -> pd.DataFrame:
    sample = catalog.sample(n=min(n, len(catalog)), random_state=int(rng.integers(1 << 31)))
    parts = rng.choice(list(shares), size=len(sample), p=list(shares.values()))
    return sample.assign(day_part=parts)


def _fit(positives: pd.DataFrame, background: pd.DataFrame) -> HistGradientBoostingClassifier:
    """Histogram boosting, depth 3 (see the module docstring for its metric beside the old
    model's)."""
    X = np.vstack(
        [design(positives, positives["day_part"]), design(background, background["day_part"])]
    )
    y = np.r_[np.ones(len(positives)), np.zeros(len(background))]
    model = HistGradientBoostingClassifier(
        max_iter=ITERATIONS,
        max_depth=3,
        learning_rate=LEARNING_RATE,
        early_stopping=False,
        random_state=SEED,
    )
    return model.fit(X, y)


def _profile_score(train: pd.DataFrame, frame: pd.DataFrame) -> np.ndarray:
    """Baseline: minus the scaled distance to the listener's mean for that day part."""
    scale = train[list(AUDIO)].std().replace(0, 1.0)
    means = train.groupby("day_part")[list(AUDIO)].mean()
    overall = train[list(AUDIO)].mean()
    known = frame["day_part"].isin(means.index).to_numpy()[:, None]
    by_part = means.reindex(frame["day_part"].to_numpy()).to_numpy(float)
    centre = np.where(known, by_part, overall.to_numpy(float)[None, :])
    z = (frame[list(AUDIO)].to_numpy(float) - centre) / scale.to_numpy()
    return -np.sqrt((z**2).sum(axis=1))


def train_match(user_id: str, plays: pd.DataFrame, catalog: pd.DataFrame) -> MatchModel:
    """Evaluate on the later days, then fit on every play for serving.

    `plays`: one listener's plays with audio features (`play_date`, `day_part`, `skipped`).
    `catalog`: tracks with audio features to draw the background from.
    """
    liked = plays[~plays["skipped"].astype(bool)]
    if len(liked) < MIN_PLAYS:
        raise CannotRecommend(
            f"{len(liked)} plays through with audio features; at least {MIN_PLAYS} needed"
        )
    rng = np.random.default_rng(SEED)
    shares = liked["day_part"].value_counts(normalize=True).to_dict()
    result = MatchModel(user_id, None, shares)
    days = np.sort(liked["play_date"].unique())
    cutoff = days[int(len(days) * (1 - EVAL_SHARE))] if len(days) >= 5 else None
    train = liked[liked["play_date"] < cutoff] if cutoff else liked.iloc[:0]
    later = liked[liked["play_date"] >= cutoff] if cutoff else liked.iloc[:0]
    if len(train) >= MIN_PLAYS and len(later) >= MIN_EVAL:
        # Background tracks are split too: the evaluation negatives were never trained on.
        pool = catalog.sample(frac=1.0, random_state=SEED)
        half = len(pool) // 2
        fitted = _fit(train, _background(pool.iloc[:half], shares, BACKGROUND, rng))
        negatives = _background(pool.iloc[half:], shares, max(len(later), 200), rng)
        frame = pd.concat([later, negatives], ignore_index=True)
        y = np.r_[np.ones(len(later)), np.zeros(len(negatives))]
        proba = fitted.predict_proba(design(frame, frame["day_part"]))[:, 1]
        result.auc = float(roc_auc_score(y, proba))
        result.baseline_auc = float(roc_auc_score(y, _profile_score(train, frame)))
        result.n_eval, result.cutoff = len(later), cutoff
    else:
        result.note = (
            f"not evaluated: {len(train)} plays before and {len(later)} from the cutoff day; "
            f"need {MIN_PLAYS} and {MIN_EVAL}"
        )
    result.model = _fit(liked, _background(catalog, shares, BACKGROUND, rng))
    return result


def recent_means(plays: pd.DataFrame, as_of: dt.date) -> dict[str, tuple[float, float, str]]:
    """Per day part: (valence, energy, what the mean is over) — the coach's starting point."""
    since = as_of - dt.timedelta(days=RECENT_DAYS)
    recent = plays[plays["play_date"] > since]
    out = {}
    for part in DAY_PARTS:
        for frame, label in (
            (recent[recent["day_part"] == part], f"your {part}s of the last {RECENT_DAYS} days"),
            (recent, f"your last {RECENT_DAYS} days"),
            (plays[plays["day_part"] == part], f"your {part}s"),
            (plays, "all your listening"),
        ):
            if len(frame) >= MIN_RECENT or frame is plays:
                out[part] = (float(frame["valence"].mean()), float(frame["energy"].mean()), label)
                break
    return out


def low_valence_streak(plays: pd.DataFrame) -> int:
    """How many of the latest listening days in a row had a mean valence below LOW_VALENCE."""
    daily = plays.groupby("play_date")["valence"].mean().sort_index(ascending=False)
    streak = 0
    for value in daily:
        if value >= LOW_VALENCE:
            break
        streak += 1
    return streak


def step_gain(delta: np.ndarray) -> np.ndarray:
    """1 for a +0.10 step, 0.5 at the band's edges (+0.05, +0.15), 0 outside the band."""
    inside = (delta >= STEP_MIN - EPS) & (delta <= STEP_MAX + EPS)
    middle = (STEP_MIN + STEP_MAX) / 2
    return np.where(inside, 1.0 - np.abs(delta - middle) / (STEP_MAX - STEP_MIN), 0.0)


def improvement(
    valence: np.ndarray, energy: np.ndarray, mean_valence: float, mean_energy: float, streak: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(gain, Δvalence, Δenergy): a capped step up; after a low-valence streak, valence only."""
    dv, de = valence - mean_valence, energy - mean_energy
    within_caps = (np.abs(dv) <= STEP_MAX + EPS) & (np.abs(de) <= STEP_MAX + EPS)
    gain = step_gain(dv) if streak else np.maximum(step_gain(dv), step_gain(de))
    return np.where(within_caps, gain, 0.0), dv, de


def unplayed(plays: pd.DataFrame, tracks: pd.DataFrame) -> pd.Series:
    """True for the tracks whose *song* the listener never played.

    The same song lives under several ids (album, single, compilation), and a play resolved
    by name lands on one of them: never played means no id of that song was played.
    """
    played_songs = set(tracks.loc[tracks["track_id"].isin(set(plays["track_id"])), "song_key"])
    return ~tracks["song_key"].isin(played_songs)


def main_genres(tracks: pd.DataFrame) -> pd.Series:
    """`primary_artist` → [the genre it is filed under most]; ties go to the genre listed
    first. Catalog-wide, so a run computes it once rather than once per listener."""
    filed = tracks[["primary_artist", "genres"]].explode("genres").dropna()
    counts = filed.groupby(["primary_artist", "genres"], sort=False).size()
    top = counts[counts == counts.groupby(level=0).transform("max")].reset_index()
    first = top.drop_duplicates("primary_artist").set_index("primary_artist")["genres"]
    return first.map(lambda genre: [genre]).sort_index()


def play_genres(
    plays: pd.DataFrame, tracks: pd.DataFrame, main: pd.Series | None = None
) -> pd.Series:
    """Each play's genres: its track's, else (a song the catalog lacks, played under its
    artist's estimate) the genre its `primary_artist` is filed under most in the catalog
    (`main`: `main_genres(tracks)`, computed here when not given)."""
    by_track = tracks.set_index("track_id")["genres"]
    genres = plays["track_id"].map(by_track)
    if "primary_artist" in plays:
        main = main_genres(tracks) if main is None else main
        bare = genres.map(lambda g: not isinstance(g, list | np.ndarray) or len(g) == 0)
        genres = genres.where(~bare, plays["primary_artist"].map(main))
    return genres.dropna()


@dataclass(frozen=True, eq=False)
class GenreIndex:
    """A catalog's genre lists as flat arrays, built once per run: which tracks a listener's
    genres take in is then a few array operations, not a Python call per catalog track (on a
    10k catalog that call was most of a listener's candidate pool: 0.09 s of CPU, now 0.05)."""

    row: np.ndarray  # the catalog row (position) of each (track, genre) pair, in list order
    code: np.ndarray  # its genre, as a position in `names`
    names: pd.Index
    first: np.ndarray  # each row's first genre ("" for a track with none)

    @classmethod
    def of(cls, tracks: pd.DataFrame) -> GenreIndex:
        # A missing list or genre is no genre, as `explode().value_counts()` counted it.
        lists = [[x for x in g if x is not None] if g is not None else [] for g in tracks["genres"]]
        row = np.repeat(np.arange(len(lists)), [len(g) for g in lists])
        code, names = pd.factorize(pd.Series([x for g in lists for x in g], dtype=object))
        first = np.array([g[0] if g else "" for g in lists], dtype=object)
        return cls(row, code, pd.Index(names), first)

    def of_catalog(self, tracks: pd.DataFrame) -> GenreIndex:
        """Itself, once it is known to be built from `tracks` (rows are matched by position)."""
        if len(self.first) != len(tracks):
            raise ValueError(f"genre index of {len(self.first)} tracks for {len(tracks)} tracks")
        return self

    def _hits(self, genres: set[str]) -> np.ndarray:
        wanted = self.names.get_indexer(list(genres))
        return np.isin(self.code, wanted[wanted >= 0])

    def in_any(self, genres: set[str]) -> np.ndarray:
        """Per catalog row: is any of its genres in `genres`."""
        return np.bincount(self.row[self._hits(genres)], minlength=len(self.first)) > 0

    def first_in(self, genres: set[str]) -> np.ndarray:
        """Per catalog row: its first genre in `genres`, else its first genre."""
        hits = self._hits(genres)
        rows, at = np.unique(self.row[hits], return_index=True)  # first hit of each row
        out = self.first.copy()
        out[rows] = np.asarray(self.names, dtype=object)[self.code[hits][at]]
        return out

    def counts(self, rows: np.ndarray) -> pd.Series:
        """Genre → how many of the catalog rows where `rows` is True are filed under it."""
        kept = rows[self.row]
        return pd.Series(np.bincount(self.code[kept], minlength=len(self.names)), self.names)


def liked_genres(
    plays: pd.DataFrame,
    tracks: pd.DataFrame,
    main: pd.Series | None = None,
    fresh: pd.Series | None = None,
    genre_index: GenreIndex | None = None,
) -> list[str]:
    """The listener's top genres by plays: at least LIKED_GENRES, more while fewer than
    MIN_POOL unplayed tracks are in them (a 10k catalog sample runs dry where 114k would not).
    `fresh`: `unplayed(plays, tracks)`, `genre_index`: `GenreIndex.of(tracks)`, when the caller
    has them already.
    """
    ranked = play_genres(plays, tracks, main).explode().value_counts().index.tolist()
    fresh = unplayed(plays, tracks) if fresh is None else fresh
    index = GenreIndex.of(tracks) if genre_index is None else genre_index.of_catalog(tracks)
    per_genre = index.counts(fresh.to_numpy(bool))
    liked, pool = [], 0
    for genre in ranked:
        if len(liked) >= LIKED_GENRES and pool >= MIN_POOL:
            break
        liked.append(genre)
        pool += int(per_genre.get(genre, 0))
    return liked


def candidates(
    plays: pd.DataFrame,
    tracks: pd.DataFrame,
    als_tracks: pd.DataFrame | None,
    main: pd.Series | None = None,
    genre_index: GenreIndex | None = None,
) -> pd.DataFrame:
    """Catalog songs the listener has never played (under any of their ids): from their top
    genres, and ALS's suggestions among them (in session mode ALS only knows their own tracks,
    so it adds none). `main`: `main_genres(tracks)`, `genre_index`: `GenreIndex.of(tracks)`,
    when the caller has them already.
    """
    fresh = unplayed(plays, tracks)
    index = GenreIndex.of(tracks) if genre_index is None else genre_index.of_catalog(tracks)
    wanted = set(liked_genres(plays, tracks, main, fresh, index))
    known_artists = set(tracks.loc[tracks["track_id"].isin(plays["track_id"]), "primary_artist"])
    known_artists |= set(plays.get("primary_artist", pd.Series(dtype=str)).dropna())
    als = als_tracks if als_tracks is not None else pd.DataFrame(columns=["track_id", "als_score"])
    keep = fresh.to_numpy(bool)
    # Judged by catalog position; the merge renumbers the rows, so the judgements ride
    # through it as columns and are taken off again.
    judged = tracks[keep].assign(
        _in_liked=index.in_any(wanted)[keep], _genre=index.first_in(wanted)[keep]
    )
    pool = judged.merge(als[["track_id", "als_score"]], on="track_id", how="left")
    in_liked, genre = pool.pop("_in_liked"), pool.pop("_genre")
    from_als = pool["als_score"].notna()
    pool = pool[in_liked | from_als]
    if pool.empty:
        raise CannotRecommend("no unplayed catalog track in the genres they play")
    return pool.assign(
        genre=genre[pool.index],
        source=np.where(in_liked[pool.index], "liked genre", "als"),
        new_artist=~pool["primary_artist"].isin(known_artists),
    ).reset_index(drop=True)


def _top_per_artist(score: np.ndarray, keep: np.ndarray, track: np.ndarray, artist, n: int):
    """Positions of the `n` best-scored kept rows, at most one per artist: by score, then
    track id (a strict order: a pool's track ids are unique)."""
    kept = np.flatnonzero(keep)
    ranked = kept[np.lexsort((track[kept], -score[kept]))]
    picked, seen = [], set()
    for i in ranked:
        if artist[i] not in seen:
            seen.add(artist[i])
            picked.append(i)
            if len(picked) == n:
                break
    return np.asarray(picked, dtype=int)


def recommend_user(
    match: MatchModel,
    plays: pd.DataFrame,
    pool: pd.DataFrame,
    as_of: dt.date,
    per_list: int = PER_LIST,
) -> pd.DataFrame:
    """Both lists for every day part for one listener (plays: with audio features).

    Every day part is scored in one call (rows are independent, so the scores are those of
    a call per part) and only the picked rows are copied out of the pool: a listener's pool
    is thousands of tracks, their lists 100 rows."""
    means = recent_means(plays, as_of)
    streak = low_valence_streak(plays)
    nudging = streak >= STREAK_DAYS
    scores = match.model.predict_proba(np.vstack([design(pool, p) for p in DAY_PARTS]))[:, 1]
    scores = scores.reshape(len(DAY_PARTS), len(pool))
    valence, energy = pool["valence"].to_numpy(float), pool["energy"].to_numpy(float)
    track = pool["track_id"].to_numpy(str)
    # One key per artist; a missing artist is one artist, as drop_duplicates counted it.
    artist = pool["primary_artist"].fillna("\0missing").to_numpy()
    rows = []
    for part, match_score in zip(DAY_PARTS, scores, strict=True):
        mean_v, mean_e, over = means[part]
        gain, dv, de = improvement(valence, energy, mean_v, mean_e, nudging)
        improvement_score = gain * match_score
        for mode, by, keep in (
            ("mirror", match_score, np.ones(len(pool), dtype=bool)),
            ("coach", improvement_score, improvement_score > 0),
        ):
            at = _top_per_artist(by, keep, track, artist, per_list)
            rows.append(
                pool.iloc[at].assign(
                    day_part=part,
                    match_score=match_score[at],
                    improvement_score=improvement_score[at],
                    delta_valence=dv[at],
                    delta_energy=de[at],
                    recent_valence=mean_v,
                    recent_energy=mean_e,
                    recent_over=over,
                    mode=mode,
                    rank=np.arange(1, len(at) + 1),
                )
            )
    out = pd.concat(rows, ignore_index=True)
    return out.assign(user_id=match.user_id, low_valence_days=streak, coach_nudging=nudging)


MATCH_MODEL = "match_model"
NOT_RECOMMENDED = "not_recommended"
MATCH_CARD = {
    "features": list(FEATURES),
    "label": "a listener's play (played through) vs a random catalog track",
    "evaluation": "later days' plays vs held-out catalog tracks, ROC AUC",
}
# What the asset page shows of the main listener's lists.
PREVIEW = [
    "day_part",
    "mode",
    "rank",
    "track_name",
    "artists",
    "listening_mode",
    "match_score",
    "improvement_score",
    "delta_valence",
    "delta_energy",
]


@dataclass
class Recommendations:
    """A run's lists for everyone, and what the asset page shows of them."""

    output: ModelOutput
    table: pd.DataFrame  # the rows before Arrow: the caps check and the preview read them
    shown: tuple[str, str] | None = None  # (listener, day part) the plot draws: the busiest

    def preview_rows(self) -> pd.DataFrame:
        """The shown listener's lists, in the columns a person compares."""
        return self.table[self.table["user_id"] == self.shown[0]][PREVIEW]


def with_mode_names(picks: pd.DataFrame, fitted, names: pd.DataFrame) -> pd.DataFrame:
    """Which of the listener's modes each pick falls into, by name."""
    if fitted is None or picks.empty:
        return picks.assign(listening_mode=None)
    model = modes.UserModes("", 0, 0.0, {}, pd.DataFrame(), fitted["scaler"], fitted["kmeans"])
    ids = modes.assign(model, picks)
    own = names[names["user_id"] == picks["user_id"].iloc[0]].set_index("mode_id")["name"]
    return picks.assign(listening_mode=[own.get(int(i)) for i in np.asarray(ids)])


@dataclass
class _Listener:
    """One listener's share of the inputs: their plays, ALS rows, modes model and names."""

    plays: pd.DataFrame
    als: pd.DataFrame | None
    fitted_modes: dict | None
    mode_names: pd.DataFrame
    match: MatchModel | None = None  # a stored fit's, on a day it serves


class _Shared:
    """Catalog-wide inputs sent to each worker process once, not with every listener: a
    pickled 10k-track catalog costs more to send than a listener's fit. The parent writes them
    to a file; each process reads it on first use and keeps it."""

    _held: ClassVar[dict[str, Any]] = {}

    def __init__(self, path: Path, value: Any):
        self.path = str(path)
        path.write_bytes(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        _Shared._held[self.path] = value  # the parent (and the serial path) reads no file

    def __getstate__(self) -> dict:
        return {"path": self.path}

    def get(self) -> Any:
        if self.path not in _Shared._held:
            _Shared._held.clear()  # a worker keeps one run's inputs at a time
            _Shared._held[self.path] = pickle.loads(Path(self.path).read_bytes())
        return _Shared._held[self.path]

    def release(self) -> None:
        _Shared._held.pop(self.path, None)


def background_catalog(tracks: pd.DataFrame) -> pd.DataFrame:
    """The tracks a listener may be recommended and a match model draws its background from:
    artist estimates feed a listener's taste but are no song to recommend or contrast with."""
    return tracks[tracks["features_source"] != ESTIMATE]


def match_inputs(plays: pd.DataFrame, tracks: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """(the liked plays with audio features of every listener who can have a match model,
    a digest of the background catalog): what the retraining cadence judges a fit by."""
    liked = plays[~plays["skipped"].astype(bool)]
    liked = liked.merge(tracks[["track_id", *AUDIO]], on="track_id")
    counts = liked["user_id"].value_counts()
    liked = liked[liked["user_id"].isin(counts.index[counts >= MIN_PLAYS])]
    return liked, catalog_digest(background_catalog(tracks), AUDIO)


def _listener_lists(
    user_id: str, own: _Listener, *, shared: _Shared, as_of: dt.date
) -> tuple[MatchModel | None, pd.DataFrame | None, str | None]:
    """(match model, lists, None), or (None, None, why not): a worker's unit of work."""
    catalog, main, audio, genres = shared.get()
    try:
        match = own.match or train_match(user_id, own.plays, audio)
        pool = candidates(own.plays, catalog, own.als, main, genres)
    except CannotRecommend as err:
        return None, None, str(err)
    picks = recommend_user(match, own.plays, pool, as_of)
    return match, with_mode_names(picks, own.fitted_modes, own.mode_names), None


def recommend_all(
    plays: pd.DataFrame,
    tracks: pd.DataFrame,
    als_rows: pd.DataFrame,
    listeners: list[str],
    fitted_modes: dict,
    mode_names: pd.DataFrame,
    as_of: dt.date,
    warn: Callable[[str], None] = lambda message: None,
    n_workers: int | None = None,
    stored: dict[str, MatchModel] | None = None,
) -> Recommendations:
    """Mirror and coach lists for every listener with enough plays, as of `as_of`.

    `plays`: training plays with audio features (`user_id`, `track_id`, `play_date`,
    `day_part`, `skipped`); `tracks`: Silver tracks; `als_rows`: ALS suggestions
    (`user_id`, `track_id`, `als_score`); `listeners`: everyone in Silver users, so a listener
    with no usable play is told why too; `fitted_modes` / `mode_names`: the listening-modes
    models per listener and their names. `warn` hears each listener left without a list.
    Listeners are fitted in parallel processes (`n_workers`, default `parallel.workers()`);
    every fit is seeded per listener, so the table is the same however many there are.
    `stored`: a stored fit's match models, on a day it serves: nothing is fitted for the
    listeners it holds and no AUC recorded.
    """
    catalog = background_catalog(tracks)
    plays = plays.merge(tracks[["track_id", "primary_artist", *AUDIO]], on="track_id")
    # Everything a listener's lists need, split once (a filter of the whole frame per
    # listener is quadratic); the catalog-wide parts travel once with the work.
    als_by_user = dict(iter(als_rows.groupby(als_rows["user_id"].astype(str))))
    fitted_by_user = fitted_modes or {}
    names_by_user = dict(iter(mode_names.groupby(mode_names["user_id"].astype(str))))
    groups = [
        (
            str(user_id),
            _Listener(
                own,
                als_by_user.get(str(user_id), als_rows.iloc[:0]),
                fitted_by_user.get(str(user_id)),
                names_by_user.get(str(user_id), mode_names.iloc[:0]),
                (stored or {}).get(str(user_id)),
            ),
        )
        for user_id, own in plays.groupby("user_id")
    ]
    with tempfile.TemporaryDirectory(prefix="moodlake-recommend-") as folder:
        # The background draws rows by position, so its audio columns alone draw the same
        # tracks as the whole catalog, without copying a listener's worth of genre lists.
        audio = catalog[list(AUDIO)]
        together = (catalog, main_genres(catalog), audio, GenreIndex.of(catalog))
        shared = _Shared(Path(folder) / "catalog.pickle", together)
        work = partial(_listener_lists, shared=shared, as_of=as_of)
        try:
            done = parallel.per_listener(work, groups, n_workers=n_workers)
        finally:
            shared.release()
    lists, matches, skipped = [], {}, {}
    for (user_id, _), (match, picks, why) in zip(groups, done, strict=True):
        if why is not None:
            skipped[user_id] = why
            warn(f"{user_id}: no recommendations: {why}")
            continue
        matches[match.user_id] = match
        lists.append(picks)
    for user_id in listeners:
        if user_id not in matches and user_id not in skipped:
            skipped[user_id] = f"no play through with audio features; at least {MIN_PLAYS} needed"
    table = pd.concat(lists, ignore_index=True) if lists else pd.DataFrame()
    table = table.reindex(columns=RECOMMENDATIONS.schema.names).assign(as_of_date=as_of)
    evaluated = [m for m in matches.values() if m.auc is not None]
    output = ModelOutput(
        rows=pa.Table.from_pandas(table, schema=RECOMMENDATIONS.schema, preserve_index=False),
        metrics={
            MATCH_MODEL: [
                metric("auc", m.auc, baseline=m.baseline_auc, n_eval=m.n_eval, note=m.user_id)
                for m in (evaluated if stored is None else [])
            ]
            # Who got no list and why, where `moodlake recommend` can find it.
            + [metric(NOT_RECOMMENDED, None, note=f"{u}: {why}") for u, why in skipped.items()]
        },
        store_name=MATCH_MODEL,
        artifact=(matches or None) if stored is None else None,
        card=dict(MATCH_CARD),  # the asset adds the fit's record to it
        metadata={"listeners": len(matches), "listeners_skipped": skipped, "rows": len(table)},
        empty_reason="no listener has enough plays with audio features",
    )
    if evaluated:
        main = max(evaluated, key=lambda m: m.n_eval)
        output.metadata |= {
            "match_auc": main.auc,
            "baseline_match_auc": main.baseline_auc,
            "n_eval": main.n_eval,
            "cutoff": str(main.cutoff),
        }
    run = Recommendations(output, table)
    if len(table):
        user = str(table["user_id"].value_counts().idxmax())
        run.shown = (user, table.loc[table["user_id"] == user, "day_part"].mode().iloc[0])
    return run

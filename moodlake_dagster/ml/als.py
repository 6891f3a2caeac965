"""Collaborative filtering: Spark MLlib ALS with implicit feedback, fitted through Spark Connect.

The matrix is listener × track, each cell a play count (a skip counts a quarter). With fewer
than `MIN_USERS` listeners there is no crowd to learn from, so listening *sessions* stand in
for listeners: two tracks played in one sitting are alike in the way two tracks liked by one
person are. A person's taste vector is then folded in from their recent plays against the
fitted track factors, the same least-squares step ALS itself takes for a user.

Evaluation is on a later window, never on the plays the model saw:
- listeners: fit on plays before the cutoff day; the relevant tracks are those a listener
  played from the cutoff on and had not played before; recommendations exclude their earlier
  tracks.
- sessions: fit on sessions before the cutoff; each later session is split in time, its first
  half folded in as the query and the rest of it is what should be recommended.
A popularity ranking (tracks by number of earlier listeners or sessions) is the baseline;
it scores 0 on a crowd whose taste groups share no tracks (see `popularity`).
"""

from __future__ import annotations

import datetime as dt
import logging
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import pyarrow as pa

from moodlake_dagster.ml.cadence import EVERY_RUN, Cadence, Fitted, served_metadata
from moodlake_dagster.ml.cadence import fitted_record as cadence_record
from moodlake_dagster.ml.cadence import refit_reason as cadence_refit_reason
from moodlake_dagster.ml.metrics import metric
from moodlake_dagster.ml.output import ModelOutput
from moodlake_dagster.ml.store import ModelStore
from moodlake_dagster.tables import ALS_RECOMMENDATIONS
from moodlake_dagster.vocabulary import ESTIMATE, SESSION_GAP_MINUTES

MIN_USERS = 10
SESSION_GAP = pd.Timedelta(minutes=SESSION_GAP_MINUTES)
SKIP_WEIGHT = 0.25
K = 10
EVAL_SHARE = 0.2
MIN_TRAIN_PLAYS = 100
RECENT_SESSIONS = 5
PER_USER = 50  # recommendations kept per listener
STORE_NAME = "als"
# The play columns `run` reads.
PLAY_COLUMNS = [
    "user_id",
    "track_id",
    "spotify_track_id",
    "resolution",
    "played_at_utc",
    "play_date",
    "skipped",
    "source_format",
]
# Chosen on two generated tuning crowds (60 listeners each, seeds 7 and 99), never on the
# data that is reported.
PARAMS = {"rank": 64, "regParam": 1.0, "alpha": 5.0, "maxIter": 10, "seed": 3}
# Spark splits users and items into 10 blocks each by default: on a household's few thousand
# ratings, every iteration then schedules ten tasks where one would do (the demo's evaluation:
# 7.6 s with 10 blocks, 4.4 s with 2). One block per this many ratings, 2 to Spark's 10.
RATINGS_PER_BLOCK = 50_000
MIN_BLOCKS, MAX_BLOCKS = 2, 10


class CannotFit(ValueError):
    """Too few plays, tracks or later plays to fit or to evaluate honestly."""


@dataclass
class Factors:
    """A fitted ALS model as plain arrays: rows of `users` and `items` align with the ids."""

    unit: str
    user_ids: np.ndarray
    item_ids: np.ndarray
    users: np.ndarray = field(repr=False)
    items: np.ndarray = field(repr=False)
    params: dict = field(default_factory=dict)

    def item_index(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.item_ids)}

    def without(self, user_id: str) -> Factors | None:
        """The model without the listener's rows (their own, or their sessions'); None if it
        holds none. An erasure rewrites stored models through this."""
        ids = self.user_ids.astype(str)
        theirs = (ids == user_id) | np.char.startswith(ids, f"{user_id}#")
        if not theirs.any():
            return None
        return replace(self, user_ids=self.user_ids[~theirs], users=self.users[~theirs])


@dataclass
class Evaluation:
    unit: str
    cutoff: dt.date
    n_train: int
    n_eval: int
    precision: float
    ndcg: float
    baseline_precision: float
    baseline_ndcg: float
    train_days: set = field(repr=False, default_factory=set)
    eval_days: set = field(repr=False, default_factory=set)


def unit_for(plays: pd.DataFrame) -> str:
    return "user" if plays["user_id"].nunique() >= MIN_USERS else "session"


def sessions(plays: pd.DataFrame) -> pd.Series:
    """A session key per play: a listener's plays with no gap over `SESSION_GAP`."""
    ordered = plays.sort_values(["user_id", "played_at_utc"])
    gap = ordered.groupby("user_id")["played_at_utc"].diff() > SESSION_GAP
    number = gap.groupby(ordered["user_id"]).cumsum()
    return (ordered["user_id"] + "#" + number.astype(str)).reindex(plays.index)


def with_units(plays: pd.DataFrame, unit: str) -> pd.DataFrame:
    """Plays of a known track with the ALS row key (`unit_id`): the listener, or the session.

    ALS needs no audio features, so the export's own track id counts even when the catalog
    does not hold the track; only plays without any id (the basic export) are left out.
    """
    if "spotify_track_id" in plays:
        plays = plays.assign(track_id=plays["spotify_track_id"].fillna(plays["track_id"]))
    plays = plays[plays["track_id"].notna()].copy()
    plays["unit_id"] = plays["user_id"] if unit == "user" else sessions(plays)
    return plays


def interactions(plays: pd.DataFrame) -> pd.DataFrame:
    """unit_id × track_id with an implicit rating: plays through count 1, skips a quarter."""
    weight = np.where(plays["skipped"].to_numpy(bool), SKIP_WEIGHT, 1.0)
    frame = plays.assign(rating=weight)
    return frame.groupby(["unit_id", "track_id"], as_index=False)["rating"].sum()


def fit(spark, ratings: pd.DataFrame, unit: str, params: dict | None = None) -> Factors:
    """Fit implicit ALS on the Spark Connect server; factors come back as arrays."""
    from pyspark.ml.recommendation import ALS

    blocks = int(np.clip(len(ratings) // RATINGS_PER_BLOCK, MIN_BLOCKS, MAX_BLOCKS))
    params = PARAMS | {"numUserBlocks": blocks, "numItemBlocks": blocks} | (params or {})
    user_ids, users = np.unique(ratings["unit_id"].to_numpy(str), return_inverse=True)
    item_ids, items = np.unique(ratings["track_id"].to_numpy(str), return_inverse=True)
    if len(user_ids) < 2 or len(item_ids) < 2:
        raise CannotFit(f"{len(user_ids)} {unit}s × {len(item_ids)} tracks: nothing to factorise")
    coded = pd.DataFrame(
        {
            "u": users.astype("int32"),
            "i": items.astype("int32"),
            "r": ratings["rating"].to_numpy("float32"),
        }
    )
    als = ALS(
        userCol="u",
        itemCol="i",
        ratingCol="r",
        implicitPrefs=True,
        coldStartStrategy="drop",
        **params,
    )
    with active_session(spark):
        model = als.fit(spark.createDataFrame(coded))
        users_frame, items_frame = model.userFactors.toPandas(), model.itemFactors.toPandas()
        del model  # releases the server's copy, through the session that holds it
    return Factors(
        unit,
        user_ids,
        item_ids,
        _dense(users_frame, len(user_ids), params["rank"]),
        _dense(items_frame, len(item_ids), params["rank"]),
        params,
    )


@contextmanager
def active_session(spark):
    """Make `spark` the thread's active Spark Connect session while a model lives.

    pyspark's Connect ML fetches a fitted model's attributes (and releases the model) through
    the thread's *active* session, not the session that fitted it; the server keeps models per
    session. With a second session in the process (a test's, a sensor's) the fit fails with
    CONNECT_ML.CACHE_INVALID. This sets pyspark's thread-local active session (a private
    attribute; checked against pyspark 4.3) and restores it afterwards.
    """
    from pyspark.sql.connect.session import SparkSession

    local = SparkSession._active_session
    before = getattr(local, "session", None)
    local.session = spark
    try:
        yield
    finally:
        local.session = before


def _dense(frame: pd.DataFrame, n: int, rank: int) -> np.ndarray:
    out = np.zeros((n, rank))
    out[frame["id"].to_numpy()] = np.stack(frame["features"].to_numpy())
    return out


def fold_in(factors: Factors, ratings: list[dict[str, float]]) -> np.ndarray:
    """Taste vectors for new rows (a listener's recent plays, a session's first half).

    The implicit-ALS user step: x = (YᵀY + Yᵀ(C−I)Y + λ·n·I)⁻¹ Yᵀ C p, with confidence
    c = 1 + α·r on the rated tracks (Hu, Koren & Volinsky 2008; λ scaled by the number of
    ratings as Spark does).
    """
    Y = factors.items
    alpha, reg = factors.params["alpha"], factors.params["regParam"]
    gram = Y.T @ Y
    index = factors.item_index()
    out = np.zeros((len(ratings), Y.shape[1]))
    for row, rated in enumerate(ratings):
        known = [(index[t], r) for t, r in rated.items() if t in index]
        if not known:
            continue
        idx = np.array([i for i, _ in known])
        conf = 1.0 + alpha * np.array([r for _, r in known])
        Yk = Y[idx]
        A = gram + (Yk.T * (conf - 1.0)) @ Yk + reg * len(known) * np.eye(Y.shape[1])
        out[row] = np.linalg.solve(A, Yk.T @ conf)
    return out


def top_k(
    scores: np.ndarray, exclude: set[int], k: int = K, order: np.ndarray | None = None
) -> list[int]:
    """The positions of the `k` best scores outside `exclude` (positions in `scores`), ties by
    position. `order`: `np.argsort(-scores, kind="stable")`, where the caller ranks one score
    row many times."""
    order = np.argsort(-scores, kind="stable") if order is None else order
    keep = np.ones(len(scores), dtype=bool)
    keep[np.fromiter(exclude, dtype=np.intp, count=len(exclude))] = False
    return order[keep[order]][:k].tolist()


def precision_at_k(recommended: list, relevant: set, k: int = K) -> float:
    return sum(1 for r in recommended[:k] if r in relevant) / k


def ndcg_at_k(recommended: list, relevant: set, k: int = K) -> float:
    gains = [1.0 / np.log2(rank + 2) for rank, r in enumerate(recommended[:k]) if r in relevant]
    ideal = sum(1.0 / np.log2(rank + 2) for rank in range(min(k, len(relevant))))
    return float(sum(gains) / ideal) if ideal else 0.0


def cutoff_day(plays: pd.DataFrame) -> dt.date:
    days = np.sort(plays["play_date"].unique())
    if len(days) < 5:
        raise CannotFit(f"{len(days)} listening days: need at least 5 to hold later days out")
    return days[int(len(days) * (1 - EVAL_SHARE))]


def evaluate(
    spark, plays: pd.DataFrame, unit: str, params: dict | None = None, stale_days: int = 0
) -> Evaluation:
    """precision@10 and NDCG@10 on the days from the cutoff, beside the popularity ranking.

    With `stale_days`, the model is fitted on the plays up to that many days before the cutoff
    and asked the same questions (what the cadence costs: a stored fit serving later days).
    Tracks it never saw still count when relevant; it just cannot rank them."""
    plays = with_units(plays, unit)
    cutoff = cutoff_day(plays)
    train = plays[plays["play_date"] < cutoff]
    later = plays[plays["play_date"] >= cutoff]
    if len(train) < MIN_TRAIN_PLAYS:
        raise CannotFit(f"{len(train)} resolved plays before {cutoff}: need {MIN_TRAIN_PLAYS}")
    if unit == "session":
        # A session that spans the cutoff would be in both halves: keep it out of the later one.
        later = later[~later["unit_id"].isin(set(train["unit_id"]))]
    fitted_on = train[train["play_date"] < cutoff - dt.timedelta(days=stale_days)]
    factors = fit(spark, interactions(fitted_on), unit, params)
    # Today's questions: every track played before the cutoff (a fresh fit knows them all).
    index = {t: i for i, t in enumerate(np.unique(train["track_id"].to_numpy(str)))}
    popular = popularity(train, index)
    cases = _user_cases(train, later, index) if unit == "user" else _session_cases(later, index)
    if not cases:
        raise CannotFit(f"no {unit} after {cutoff} plays a track the model knows")
    if unit == "user":
        vectors = _listener_vectors(factors, [c[0] for c in cases], train)
    else:
        vectors = fold_in(factors, [c[0] for c in cases])
    scores = vectors @ _aligned_items(factors, index).T
    scores[np.isnan(scores)] = -np.inf  # a track the model never saw ranks last
    model_p, model_n, base_p, base_n = [], [], [], []
    popular_order = np.argsort(-popular, kind="stable")  # one ranking for everyone
    for (_, exclude, relevant), row in zip(cases, scores, strict=True):
        ranked, baseline = top_k(row, exclude), top_k(popular, exclude, order=popular_order)
        model_p.append(precision_at_k(ranked, relevant))
        model_n.append(ndcg_at_k(ranked, relevant))
        base_p.append(precision_at_k(baseline, relevant))
        base_n.append(ndcg_at_k(baseline, relevant))
    return Evaluation(
        unit,
        cutoff,
        len(train),
        len(cases),
        float(np.mean(model_p)),
        float(np.mean(model_n)),
        float(np.mean(base_p)),
        float(np.mean(base_n)),
        set(train["play_date"]),
        set(later["play_date"]),
    )


def _aligned_items(factors: Factors, index: dict[str, int]) -> np.ndarray:
    """The item factors in `index` order; NaN rows for tracks the model never saw."""
    if list(factors.item_ids) == list(index):
        return factors.items
    items = np.full((len(index), factors.items.shape[1]), np.nan)
    for row, track in enumerate(factors.item_ids):
        if track in index:
            items[index[track]] = factors.items[row]
    return items


def _listener_vectors(factors: Factors, users: list[str], train: pd.DataFrame) -> np.ndarray:
    """Each listener's ALS row; one the model never saw (a stale fit's) folded in from `train`."""
    rows = {u: i for i, u in enumerate(factors.user_ids)}
    unseen = [u for u in users if u not in rows]
    folded = {}
    if unseen:
        mine = interactions(train[train["unit_id"].isin(set(unseen))]).groupby("unit_id")
        ratings = {u: g.set_index("track_id")["rating"].to_dict() for u, g in mine}
        folded = dict(zip(unseen, fold_in(factors, [ratings[u] for u in unseen]), strict=True))
    return np.array([factors.users[rows[u]] if u in rows else folded[u] for u in users])


def popularity(train: pd.DataFrame, index: dict[str, int]) -> np.ndarray:
    """The baseline's score per item of `index`: how many earlier listeners (or sessions)
    played it.

    It is one ranking for everyone, and each listener's own tracks are left out of it as they
    are for ALS. So it scores only when people share their popular tracks: in a crowd of
    disjoint taste groups, a track a listener has yet to play has at most (group size - 1)
    earlier listeners, and the tracks every member of another group as large has played rank
    above it. With groups of about one size it scores exactly 0, correctly: nobody plays
    another group's tracks (benchmarks/als_baseline_probe.py shows both kinds of crowd).
    """
    scores = np.zeros(len(index))
    counts = train.groupby("track_id")["unit_id"].nunique()
    scores[[index[t] for t in counts.index]] = counts.to_numpy()
    return scores


def _user_cases(train: pd.DataFrame, later: pd.DataFrame, index: dict) -> list[tuple]:
    """(listener, tracks to exclude, relevant tracks) for listeners with something new later."""
    seen = train.groupby("unit_id")["track_id"].agg(set)
    cases = []
    for user, tracks in later.groupby("unit_id")["track_id"].agg(set).items():
        if user not in seen.index:
            continue
        relevant = {index[t] for t in tracks - seen[user] if t in index}
        if relevant:
            cases.append((user, {index[t] for t in seen[user]}, relevant))
    return cases


def _session_cases(later: pd.DataFrame, index: dict) -> list[tuple]:
    """(first-half ratings, its tracks, the rest of the session) for later sessions."""
    cases = []
    for _, session in later.sort_values("played_at_utc").groupby("unit_id"):
        known = [t for t in dict.fromkeys(session["track_id"]) if t in index]
        if len(known) < 2:
            continue
        query, rest = known[: len(known) // 2], known[len(known) // 2 :]
        relevant = {index[t] for t in rest} - {index[t] for t in query}
        if relevant:
            cases.append(({t: 1.0 for t in query}, {index[t] for t in query}, relevant))
    return cases


@dataclass
class Served:
    """A model fitted on every play, a taste vector per listener and what to leave out."""

    factors: Factors
    vectors: dict[str, np.ndarray]
    basis: dict[str, str]
    exclude: dict[str, set[str]]


def recent_sessions(plays: pd.DataFrame, n: int = RECENT_SESSIONS) -> pd.DataFrame:
    """One listener's plays in their last `n` sessions (plays carry `unit_id` sessions)."""
    last = plays.drop_duplicates("unit_id", keep="last").nlargest(n, "played_at_utc")["unit_id"]
    return plays[plays["unit_id"].isin(set(last))]


def serve(spark, plays: pd.DataFrame, unit: str) -> Served:
    """Fit on every play; a taste vector for each listener."""
    plays = with_units(plays, unit)
    return taste(fit(spark, interactions(plays), unit), plays)


def taste(factors: Factors, plays: pd.DataFrame) -> Served:
    """A taste vector for each listener in `plays` (with units) from a fitted model.

    Listeners get their own ALS row and are recommended tracks new to them. In session mode a
    listener's taste is folded in from their last few sessions: with no crowd, ALS can only
    bring back tracks they played before, so it ranks those by how well they fit what the
    listener has been playing lately, leaving out the latest sessions' own tracks.
    """
    if factors.unit == "user":
        rows = {u: i for i, u in enumerate(factors.user_ids)}
        users = sorted(set(plays["user_id"]) & set(rows))
        return Served(
            factors,
            dict(zip(users, factors.users[[rows[u] for u in users]], strict=True)),
            dict.fromkeys(users, "listener factors from every play"),
            plays.groupby("user_id")["track_id"].agg(set).to_dict(),
        )
    recent, basis, exclude = {}, {}, {}
    for user, group in plays.groupby("user_id"):
        window = recent_sessions(group)
        recent[user] = interactions(window).set_index("track_id")["rating"].to_dict()
        basis[user] = (
            f"sessions stand in for listeners; taste folded in from the last "
            f"{window['unit_id'].nunique()} sessions ({len(window)} plays)"
        )
        exclude[user] = set(window["track_id"])
    users = sorted(recent)
    vectors = fold_in(factors, [recent[u] for u in users])
    return Served(factors, dict(zip(users, vectors, strict=True)), basis, exclude)


def recommend(
    factors: Factors,
    vector: np.ndarray,
    exclude: set[str],
    k: int,
    index: dict[str, int] | None = None,
) -> pd.DataFrame:
    """The k best tracks for one taste vector, scores scaled to 0..1 within the listener.
    `index`: `factors.item_index()`, where the caller recommends for many listeners."""
    scores = factors.items @ vector
    index = factors.item_index() if index is None else index
    best = top_k(scores, {index[t] for t in exclude if t in index}, k)
    top = scores[best]
    span = top.max() - top.min() if len(top) else 0.0
    scaled = (top - top.min()) / span if span > 0 else np.ones_like(top)
    return pd.DataFrame(
        {
            "rank": np.arange(1, len(best) + 1),
            "track_id": factors.item_ids[best],
            "als_score": scaled,
        }
    )


@dataclass
class AlsRun:
    """A run's output, its evaluation (None: `why` says why not) for the plot and the baseline
    check, what to log, as (logging level, message), and the day of the stored fit that
    served it (None: fitted in this run)."""

    out: ModelOutput
    evaluation: Evaluation | None
    why: str
    log: list[tuple[int, str]]
    served_from: dt.date | None = None


@dataclass
class Stored:
    """The model store's latest ALS fit: its factors, what it was fitted on, its card."""

    factors: Factors
    fitted: Fitted | None
    card: dict

    @classmethod
    def latest(cls, store: ModelStore, as_of: dt.date) -> Stored | None:
        day = store.latest_day(STORE_NAME, as_of)
        if day is None:
            return None
        factors, card = store.load(STORE_NAME, day)
        return cls(factors, Fitted.from_card(day, card), card)

    def evaluation(self) -> Evaluation | None:
        e = self.card.get("evaluation")
        if not e:
            return None
        return Evaluation(
            self.factors.unit,
            dt.date.fromisoformat(e["cutoff"]),
            *(e[k] for k in ("n_train", "n_eval", "precision", "ndcg")),
            *(e[k] for k in ("baseline_precision", "baseline_ndcg")),
        )


def _evaluation_card(e: Evaluation) -> dict:
    return {
        "cutoff": e.cutoff.isoformat(),
        "n_train": e.n_train,
        "n_eval": e.n_eval,
        "precision": e.precision,
        "ndcg": e.ndcg,
        "baseline_precision": e.baseline_precision,
        "baseline_ndcg": e.baseline_ndcg,
    }


def _recommendations(served: Served, unit: str, as_of: dt.date) -> pa.Table:
    index = served.factors.item_index()
    rows = [
        recommend(served.factors, vector, served.exclude[user_id], PER_USER, index).assign(
            user_id=user_id, unit=unit, basis=served.basis[user_id]
        )
        for user_id, vector in served.vectors.items()
    ]
    if not rows:
        return ALS_RECOMMENDATIONS.schema.empty_table()
    table = pd.concat(rows, ignore_index=True).assign(as_of_date=as_of)
    return pa.Table.from_pandas(
        table[ALS_RECOMMENDATIONS.schema.names],
        schema=ALS_RECOMMENDATIONS.schema,
        preserve_index=False,
    )


def _evaluation_metadata(evaluation: Evaluation) -> dict:
    return {
        "precision_at_10": evaluation.precision,
        "baseline_precision_at_10": evaluation.baseline_precision,
        "ndcg_at_10": evaluation.ndcg,
        "baseline_ndcg_at_10": evaluation.baseline_ndcg,
        "n_eval": evaluation.n_eval,
        "cutoff": str(evaluation.cutoff),
    }


def fitted_record(plays: pd.DataFrame, as_of: dt.date, code: str = "") -> Fitted:
    """What the cadence needs to know later about a fit on these training plays."""
    return cadence_record(plays, PLAY_COLUMNS, as_of, code=code)


def refit_reason(
    stored: Stored | None,
    plays: pd.DataFrame,
    unit: str,
    as_of: dt.date,
    cadence: Cadence,
    forced: bool = False,
) -> str | None:
    """Why `stored` cannot serve these training plays as of `as_of` (None: it can)."""
    if stored is not None and stored.factors.unit != unit and not forced and cadence.days:
        return f"the stored fit has {stored.factors.unit} rows; these plays need {unit} rows"
    fitted = stored.fitted if stored is not None else None
    return cadence_refit_reason(fitted, plays, PLAY_COLUMNS, as_of, cadence, forced)


def run(
    spark,
    plays: pd.DataFrame,
    as_of: dt.date,
    stored: Stored | None = None,
    cadence: Cadence = EVERY_RUN,
    forced: bool = False,
) -> AlsRun:
    """Recommend `PER_USER` tracks per listener in `plays` (their training plays up to
    `as_of`, `PLAY_COLUMNS`): from the `stored` fit where the cadence lets it serve, else
    evaluated on later days and fitted on every play. Metrics are recorded only when
    evaluated, the model stored only when fitted."""
    plays = plays.copy()
    # An artist estimate stands for many songs: an item only by the play's own Spotify id.
    plays.loc[plays["resolution"] == ESTIMATE, "track_id"] = None
    unit = unit_for(plays) if len(plays) else "user"
    with_id = plays["spotify_track_id"].notna() | plays["track_id"].notna()
    out = ModelOutput(
        rows=ALS_RECOMMENDATIONS.schema.empty_table(),
        metadata={
            "unit": unit,
            "listeners": int(plays["user_id"].nunique()),
            "plays_used": int(with_id.sum()),
            "plays_without_track_id": int((~with_id).sum()),
        },
        empty_reason="nothing fitted",
    )
    refit = refit_reason(stored, plays, unit, as_of, cadence, forced)
    if refit is None:
        return _serve_stored(stored, plays, as_of, out)
    out.metadata["refitted_because"] = refit
    evaluation, why, log = None, "", []
    try:
        evaluation = evaluate(spark, plays, unit)
    except CannotFit as err:
        why = str(err)
        log.append((logging.WARNING, f"ALS not evaluated: {why}"))
        out.metadata["not_evaluated"] = why
    try:
        served = serve(spark, plays, unit)
    except CannotFit as err:
        log.append((logging.WARNING, f"ALS not fitted: {err}"))
        out.metadata["not_fitted"] = str(err)
        served = None
    if served is not None:
        out.rows = _recommendations(served, unit, as_of)
        out.store_name, out.artifact = STORE_NAME, served.factors
        out.card = {
            "unit": unit,
            "params": served.factors.params,
            "tracks": len(served.factors.item_ids),
            **fitted_record(plays, as_of, cadence.code).card(),
            "evaluation": _evaluation_card(evaluation) if evaluation else None,
            "not_evaluated": why or None,
        }
        out.metadata["tracks_factorised"] = len(served.factors.item_ids)
    if evaluation is not None:
        n = evaluation.n_eval
        out.metrics["als"] = [
            metric(
                "precision_at_10",
                evaluation.precision,
                baseline=evaluation.baseline_precision,
                n_eval=n,
            ),
            metric("ndcg_at_10", evaluation.ndcg, baseline=evaluation.baseline_ndcg, n_eval=n),
        ]
        out.metadata |= _evaluation_metadata(evaluation)
    return AlsRun(out, evaluation, why, log)


def _serve_stored(stored: Stored, plays: pd.DataFrame, as_of: dt.date, out: ModelOutput) -> AlsRun:
    """Today's lists from the stored fit: each listener's taste from their plays up to today.

    Nothing is stored and no metric recorded: `model_metrics` keeps the fit's, as of its day."""
    day = stored.fitted.as_of
    out.metadata |= served_metadata(stored.fitted, as_of, len(plays))
    plays = with_units(plays, stored.factors.unit)
    out.rows = _recommendations(taste(stored.factors, plays), stored.factors.unit, as_of)
    evaluation = stored.evaluation()
    out.metadata["tracks_factorised"] = len(stored.factors.item_ids)
    why = ""
    if evaluation is not None:
        out.metadata |= _evaluation_metadata(evaluation)
    else:
        why = f"the fit of {day} was not evaluated: "
        why += stored.card.get("not_evaluated") or "no reason recorded"
        out.metadata["not_evaluated"] = why
    log = [(logging.INFO, f"ALS served by the fit of {day}; not refitted")]
    return AlsRun(out, evaluation, why, log, served_from=day)

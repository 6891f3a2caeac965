"""The preference model: will this person enjoy (play through, not skip) this track?

Labels are the person's own behaviour. Features are audio where the track has them, and
behaviour known *before* the play starts: how often they played this artist and this track
before, their earlier skip rates, the day part, shuffle, how the play started. Every
behavioural feature is computed from strictly earlier plays (shifted expanding statistics), the
model trains on days before a cutoff and is evaluated on the days from it — never on a day it
saw.

Scale (issue 11): `fit_listeners` computes every listener's features in one grouped pass over
all plays and fits the listeners in parallel processes (`parallel.per_listener`), each with one
numeric thread. The model, its settings, the split and the metrics are unchanged, and the table
is the same as fitting one listener after another (tests/test_preference_scale.py). Most of the
old cost was not the work but its scheduling: scikit-learn's histogram boosting spread each
tiny (~1,000-row) fit over OpenMP threads, which on a shared 2-core machine spent far more
time waiting on each other than computing. Measured on `crowd(listeners=..., days=120,
seed=20251, farms=0)` (~1,070 plays a listener) on a 2-core machine loaded by other work: 8
listeners 72.9 s before, 2.3 s now; 1,000 listeners 357 s in one process, 495 s in two (the
machine had no idle core to give); mean held-out AUC 0.5519 vs baseline 0.4992 either way,
every row identical to the old loop's (200 listeners compared).

One design change, for scale: 100 boosting iterations at a learning rate of 0.1 instead of 200
at 0.05 (same leaves, seed, split and evaluation). Fitting and the stored model both halve;
the held-out AUC does not move beyond noise, old beside new:

- the two real histories (2026-11-30): 0.6131 → 0.6127 (44,881 plays) and 0.7362 → 0.7458
  (6,904 plays); the baseline 0.5131 on average, unchanged;
- 200 listeners of the 1,000-listener crowd (`moodlake demo --crowd 1000`, seed 7; 192
  trained): mean AUC 0.5486 → 0.5489, beating the baseline (mean 0.4927) for 76 % → 78 % of
  them; one process, 27.3 s → 15.8 s.

Retraining cadence (ml/cadence.py): a new day is served by the latest stored fit while its
inputs stand, as ALS's is. Serving refits nothing: the day's table rows are the fit's rows,
its evaluation as of the fit's day, and model_metrics keeps the fit's rows only.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from moodlake_dagster.ml import parallel
from moodlake_dagster.ml.cadence import Fitted, served_metadata
from moodlake_dagster.ml.metrics import metric
from moodlake_dagster.ml.output import ModelOutput
from moodlake_dagster.tables import PREFERENCE_MODEL
from moodlake_dagster.vocabulary import DAY_PARTS

AUDIO = ("valence", "energy", "danceability", "acousticness", "tempo")
BEHAVIOUR = (
    "artist_plays_before",
    "track_plays_before",
    "artist_skip_rate_before",
    "track_skip_rate_before",
    "skip_rate_before",
    "recent_skip_rate",
    "local_hour",
    "day_part_code",
    "shuffle_flag",
    "reason_start_code",
)
FEATURES = BEHAVIOUR + AUDIO
REASONS = ("trackdone", "fwdbtn", "backbtn", "clickrow", "playbtn", "appload", "remote")
MIN_PLAYS = 200
MIN_EVAL_WITH_FEATURES = 200
EVAL_SHARE = 0.2
RECENT = 20
SEED = 5
# Half the trees of the first design (200 at 0.05) at twice the rate: the same AUC, half the
# fitting and half the model to store (see the module docstring).
ITERATIONS, LEARNING_RATE = 100, 0.1
STORE_NAME = "preference_model"
# What the retraining cadence digests of a fit's inputs: every column the features read.
INPUT_COLUMNS = (
    "user_id",
    "play_id",
    "played_at_utc",
    "play_date",
    "local_hour",
    "skipped",
    "artist_name",
    "dedup_key",
    "day_part",
    "shuffle",
    "reason_start",
    *AUDIO,
)
# What the model reads of Silver plays: the inputs above but the audio features (the tracks
# give those), the track to join them on, and the source (training_plays' policy). Not every
# column: a thousand listeners' plays in full weigh gigabytes, and sorting them all costs more.
PLAY_COLUMNS = [
    "track_id",
    "source_format",
    *(c for c in INPUT_COLUMNS if c not in AUDIO),
]


class CannotTrain(ValueError):
    """Not enough (or one-sided) history to train and evaluate honestly; the message says why."""


@dataclass
class PreferenceResult:
    user_id: str
    cutoff: str
    n_train: int
    n_eval: int
    n_eval_with_features: int
    auc: float
    baseline_auc: float
    model: HistGradientBoostingClassifier | None  # None: read back from a served fit's row
    eval_days: list[str]
    features: tuple[str, ...] = FEATURES
    left_out: tuple[str, ...] = ()


def _before(values: pd.Series, keys: pd.Series | list[pd.Series] | None = None) -> pd.Series:
    """Mean of `values` over strictly earlier rows (of the same key), NaN with none."""
    groups = values.groupby(keys) if keys is not None else values.groupby(np.zeros(len(values)))
    total = groups.cumsum() - values
    count = groups.cumcount()
    return (total / count.replace(0, np.nan)).astype(float)


def behaviour_features(plays: pd.DataFrame) -> pd.DataFrame:
    """Features from earlier plays only; `plays` is one person's plays."""
    return _features(plays, by_user=False)


def _features(plays: pd.DataFrame, *, by_user: bool) -> pd.DataFrame:
    """`behaviour_features` for many listeners at once: every running statistic is grouped by
    listener too, so no listener's plays count for another and one pass serves them all."""
    order = ["user_id"] if by_user else []
    p = plays.sort_values([*order, "played_at_utc", "play_id"]).reset_index(drop=True)
    person = p["user_id"] if by_user else pd.Series(np.zeros(len(p)), index=p.index)
    skipped = p["skipped"].astype(float)
    artist = p["artist_name"].fillna("?")
    song = p["dedup_key"].fillna("?")
    p["artist_plays_before"] = p.groupby([person, artist]).cumcount()
    p["track_plays_before"] = p.groupby([person, song]).cumcount()
    p["artist_skip_rate_before"] = _before(skipped, [person, artist])
    p["track_skip_rate_before"] = _before(skipped, [person, song])
    p["skip_rate_before"] = _before(skipped, person)
    earlier = skipped.groupby(person).shift(1)
    recent = earlier.groupby(person).rolling(RECENT, min_periods=1).mean()
    p["recent_skip_rate"] = recent.droplevel(0)
    p["day_part_code"] = p["day_part"].map({d: i for i, d in enumerate(DAY_PARTS)})
    p["shuffle_flag"] = p["shuffle"].astype(float)
    p["reason_start_code"] = p["reason_start"].map({r: i for i, r in enumerate(REASONS)})
    p["enjoyed"] = ~p["skipped"].astype(bool)
    return p


def baseline_score(p: pd.DataFrame) -> np.ndarray:
    """The simple rule: you enjoy what you have not skipped before (artist, else overall)."""
    rate = p["artist_skip_rate_before"].fillna(p["skip_rate_before"]).fillna(0.5)
    return (1 - rate).to_numpy()


def train_user(user_id: str, plays: pd.DataFrame) -> PreferenceResult:
    if len(plays) < MIN_PLAYS:
        raise CannotTrain(f"{len(plays)} plays; at least {MIN_PLAYS} needed")
    return _train(user_id, behaviour_features(plays))


def _train(user_id: str, p: pd.DataFrame) -> PreferenceResult:
    """`train_user` on features already computed (in time order), so `fit_listeners` can
    compute them for everyone in one pass."""
    if len(p) < MIN_PLAYS:
        raise CannotTrain(f"{len(p)} plays; at least {MIN_PLAYS} needed")
    day = p["play_date"].astype(str)
    days = sorted(day.unique())
    if len(days) < 5:
        raise CannotTrain(f"plays on {len(days)} day(s); a time split needs at least 5")
    cutoff = days[int(len(days) * (1 - EVAL_SHARE))]
    train = p[(day < cutoff).to_numpy()]
    test = p[(day >= cutoff).to_numpy()]
    for name, part in (("training", train), ("evaluation", test)):
        if part["enjoyed"].nunique() < 2:
            raise CannotTrain(f"the {name} days (cutoff {cutoff}) hold only one class")
    used, left_out = usable_features(train)
    model = HistGradientBoostingClassifier(
        max_iter=ITERATIONS, learning_rate=LEARNING_RATE, max_leaf_nodes=15, random_state=SEED
    ).fit(train[list(used)].to_numpy(float), train["enjoyed"])
    scores = model.predict_proba(test[list(used)].to_numpy(float))[:, 1]
    return PreferenceResult(
        user_id=user_id,
        cutoff=cutoff,
        n_train=len(train),
        n_eval=len(test),
        n_eval_with_features=int(test["valence"].notna().sum()),
        auc=float(roc_auc_score(test["enjoyed"], scores)),
        baseline_auc=float(roc_auc_score(test["enjoyed"], baseline_score(test))),
        model=model,
        eval_days=sorted(day[(day >= cutoff).to_numpy()].unique()),
        features=used,
        left_out=left_out,
    )


def _fit_one(user_id: str, p: pd.DataFrame) -> PreferenceResult | CannotTrain:
    """One listener's fit for a worker process: a refusal comes back as a value, not raised."""
    try:
        return _train(user_id, p)
    except CannotTrain as err:
        return err


def usable_features(train: pd.DataFrame) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(features to train on, features missing for the whole training set).

    An account-data export has no shuffle flag or start reason, and a listener whose plays
    miss the catalog has no audio features: such a column carries nothing to learn, and
    scikit-learn 1.9 refuses an all-missing column outright.
    """
    empty = tuple(f for f in FEATURES if train[f].isna().all())
    if len(empty) == len(FEATURES):
        raise CannotTrain("every feature is missing for the whole training set")
    return tuple(f for f in FEATURES if f not in empty), empty


@dataclass
class PreferenceRun:
    """A run's output, each trained listener's result (for the plot and the AUC check), and
    what to log: (logging level, message) in listener order."""

    out: ModelOutput
    results: list[PreferenceResult]
    log: list[tuple[int, str]]


def model_inputs(plays: pd.DataFrame, tracks: pd.DataFrame) -> pd.DataFrame:
    """Every listener's plays with their tracks' audio features (Silver as of the day) where
    a track has them: what a fit reads, and what the cadence digests."""
    plays = plays[plays["user_id"].notna()]  # as `groupby("user_id")` always left them out
    return plays.merge(tracks[["track_id", *AUDIO]], on="track_id", how="left")


def eligible(inputs: pd.DataFrame) -> list[str]:
    """Listeners past the model's gates of size (plays, days with plays): one who passes them
    since a fit could have a model now, so the retraining cadence refits for them."""
    per = inputs.groupby("user_id")["play_date"].agg(["size", "nunique"])
    return [str(u) for u in per.index[(per["size"] >= MIN_PLAYS) & (per["nunique"] >= 5)]]


def fit_listeners(
    plays: pd.DataFrame, tracks: pd.DataFrame, as_of: dt.date, *, n_workers: int | None = None
) -> PreferenceRun:
    """A model per listener in `plays` (their training plays), audio features from `tracks`
    (Silver as of `as_of`) where a track has them; one row per listener, trained or why not."""
    return fit_inputs(model_inputs(plays, tracks), as_of, n_workers=n_workers)


def fit_inputs(
    inputs: pd.DataFrame, as_of: dt.date, *, n_workers: int | None = None
) -> PreferenceRun:
    """`fit_listeners` on `model_inputs`. Features are computed for all listeners in one
    grouped pass; the fits run in `n_workers` processes (default `parallel.workers()`), with
    the same results as one process."""
    p = _features(inputs, by_user=True)
    p = p[["user_id", "play_date", "enjoyed", *FEATURES]].assign(
        play_date=p["play_date"].astype(str)
    )
    groups = list(p.groupby("user_id"))
    done = parallel.per_listener(_fit_one, groups, n_workers=n_workers)
    results, rows, log = [], [], []
    for (user_id, _), r in zip(groups, done, strict=True):
        if isinstance(r, CannotTrain):
            log.append((logging.WARNING, f"{user_id}: preference model not trained: {r}"))
            rows.append({"user_id": str(user_id), "status": "skipped", "reason": str(r)})
            continue
        results.append(r)
        note = None
        if r.left_out:
            note = f"trained without {', '.join(r.left_out)}: missing for every training play"
            log.append((logging.INFO, f"{user_id}: preference model {note}"))
        rows.append(
            {
                "user_id": r.user_id,
                "status": "trained",
                "reason": note,
                "cutoff": r.cutoff,
                "n_train": r.n_train,
                "n_eval": r.n_eval,
                "n_eval_with_features": r.n_eval_with_features,
                "auc": r.auc,
                "baseline_auc": r.baseline_auc,
            }
        )
    out = _output(
        pa.Table.from_pylist(
            [{"as_of_date": as_of} | row for row in rows], schema=PREFERENCE_MODEL.schema
        ),
        results,
    )
    out.metrics = {
        "preference_model": [
            metric("auc", r.auc, baseline=r.baseline_auc, n_eval=r.n_eval, note=r.user_id)
            for r in results
        ]
    }
    if results:
        out.store_name = STORE_NAME
        out.artifact = {r.user_id: r.model for r in results}
        out.card = {
            "features": {r.user_id: list(r.features) for r in results},
            "label": "played through, not skipped",
        }
    return PreferenceRun(out, results, log)


def served(rows: pd.DataFrame, fitted: Fitted, as_of: dt.date, plays_now: int) -> PreferenceRun:
    """Today's run from a stored fit: its table rows (`rows`, as of its day) as today's.
    Nothing is fitted or stored, and no model_metrics row is written: those are the fit's."""
    rows = rows.assign(as_of_date=as_of)[PREFERENCE_MODEL.schema.names]
    trained = rows[rows["status"] == "trained"]
    results = [
        PreferenceResult(
            user_id=r.user_id,
            cutoff=r.cutoff,
            n_train=int(r.n_train),
            n_eval=int(r.n_eval),
            n_eval_with_features=int(r.n_eval_with_features),
            auc=float(r.auc),
            baseline_auc=float(r.baseline_auc),
            model=None,
            eval_days=[],
        )
        for r in trained.itertuples()
    ]
    table = pa.Table.from_pandas(rows, schema=PREFERENCE_MODEL.schema, preserve_index=False)
    out = _output(table, results)
    out.metadata |= served_metadata(fitted, as_of, plays_now)
    log = [(logging.INFO, f"preference model served by the fit of {fitted.as_of}; not refitted")]
    return PreferenceRun(out, results, log)


def _output(rows: pa.Table, results: list[PreferenceResult]) -> ModelOutput:
    """The table rows and what the UI shows of them: who was trained, who not and why, and
    the listener with the most evaluation plays."""
    skipped = rows.filter(pc.equal(rows["status"], "skipped")).to_pylist()
    out = ModelOutput(
        rows=rows,
        metadata={
            "users_trained": len(results),
            "users_skipped": {row["user_id"]: row["reason"] for row in skipped},
            "features_left_out": {r.user_id: list(r.left_out) for r in results if r.left_out},
        },
        empty_reason="no listener yet",
    )
    if results:
        main = max(results, key=lambda r: r.n_eval)
        out.metadata |= {
            "auc": main.auc,
            "baseline_auc": main.baseline_auc,
            "n_eval": main.n_eval,
            "cutoff": main.cutoff,
        }
    return out

"""Churn risk: will a listener who is still around stop playing for the next four weeks?

Label at a cutoff day C (local dates): the listener played on or before C, had signed up by
C, last played no more than 2×horizon days before C (older ones are already gone, not at
risk), and has no play on days C+1..C+horizon. Features use only plays on or before C and
the profile:

- recency and rhythm: days since the last play, the usual gap between active days (mean gap
  from the first active day to the last) and the silence in usual gaps, days since the first
  play (tenure), the share of days active since the first play;
- volume: plays in the last 7 / 14 / 28 days, active days in the last 28 (and over what the
  listener's usual pace would give), active days in the 28 up to the last play over the usual
  pace (a fade before going quiet, unlike a sudden break), and the trend: plays in the last
  14 days over plays in the 14 before (missing when those were none);
- engagement: skip rate in the last 28 days and all-time, mean completion in the last 28;
- profile: plan one-hot ('unknown' without a profile) and age band as its lower bound in
  years (ordinal; missing without one). Sessions are left out: active days and plays per
  window carry most of what they would, and the rows stay cheap at 1,000 listeners.

Training uses weekly cutoffs ending at as_of − 2×horizon, whose label windows close by the
evaluation cutoff as_of − horizon; that cutoff's labels close at as_of, so they are known and
the model never saw them. The score is beside "days since the last play" as a risk score.
The model (gradient boosting) is held monotone in the silence: risk never falls as it grows.
The served model is refit on every labelled cutoff up to as_of − horizon and scores listeners
as of as_of; its reasons are the top SHAP contributions (log-odds) put in words, the SHAP
values of features that say one thing summed (SHAP is additive): the silence (days since the
last play, usual gap, their ratio), the last 28 days' activity, the plan's one-hot columns.

Risk bands are fixed: high at 0.5 and up (more likely gone than not), medium from 0.2, low
below 0.2.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
from matplotlib.figure import Figure
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve
from threadpoolctl import threadpool_limits

from moodlake_dagster.ml.explain import contributions, global_importance
from moodlake_dagster.ml.metrics import metric
from moodlake_dagster.ml.output import ModelOutput
from moodlake_dagster.tables import CHURN_RISK

MODEL = "churn"
HORIZON = 28
STEP = 7  # days between cutoffs
MIN_EVAL = 30  # labelled listeners at the evaluation cutoff
SEED = 17
PLANS = ("free", "premium", "family", "student", "duo", "unknown")
FEATURES = (
    "days_since_last_play",
    "usual_gap_days",
    "silence_ratio",
    "tenure_days",
    "active_share",
    "activity_ratio_28d",
    "pre_silence_ratio",
    "plays_last_7d",
    "plays_last_14d",
    "plays_last_28d",
    "active_days_last_28d",
    "trend_14d",
    "skip_rate_28d",
    "skip_rate_all",
    "mean_completion_28d",
    "age_band_low",
    *(f"plan_{p}" for p in PLANS),
)
RISING = ("days_since_last_play", "silence_ratio")  # risk never falls as silence grows
BANDS = ((0.5, "high"), (0.2, "medium"), (0.0, "low"))  # (lowest risk, band)
REASONS = 3
SCHEMA = CHURN_RISK.schema


def _day(value) -> int:
    return int(np.datetime64(pd.Timestamp(value).date(), "D").astype("int64"))


def daily_activity(plays: pd.DataFrame) -> pd.DataFrame:
    """Plays per listener and local day (day = days since 1970-01-01): everything the
    features and labels need, small enough to slice once per cutoff."""
    p = plays[["user_id", "local_date", "skipped", "completion"]]
    g = p.assign(
        skipped=p["skipped"].fillna(False).astype(int),
        has_completion=p["completion"].notna().astype(int),
        completion=p["completion"].fillna(0.0).astype(float),
    ).groupby(["user_id", "local_date"], sort=False)
    daily = g.agg(
        plays=("skipped", "size"),
        skips=("skipped", "sum"),
        completion_sum=("completion", "sum"),
        completion_n=("has_completion", "sum"),
    ).reset_index()
    days = pd.to_datetime(daily["local_date"]).to_numpy().astype("datetime64[D]")
    daily["day"] = days.astype("int64")
    daily["user_id"] = daily["user_id"].astype(str)
    return daily.drop(columns="local_date").sort_values(["user_id", "day"], ignore_index=True)


def _profile_table(profiles: pd.DataFrame | None) -> pd.DataFrame:
    cols = ["plan", "age_band", "age_band_low", "signup_day"]
    if profiles is None or profiles.empty:
        return pd.DataFrame(columns=cols, index=pd.Index([], name="user_id", dtype=str))
    p = profiles.drop_duplicates("user_id", keep="last").set_index("user_id")
    p.index = p.index.astype(str)
    signup = pd.to_datetime(p["signup_date"]).to_numpy().astype("datetime64[D]")
    return pd.DataFrame(
        {
            "plan": p["plan"].where(p["plan"].isin(PLANS), "unknown").fillna("unknown"),
            "age_band": p["age_band"],
            "age_band_low": p["age_band"].astype(str).str.extract(r"(\d+)")[0].astype(float),
            "signup_day": np.where(np.isnat(signup), np.nan, signup.astype("int64").astype(float)),
        },
        index=p.index,
    )


def _features_at(daily: pd.DataFrame, people: pd.DataFrame, cutoff: int) -> pd.DataFrame:
    """Features of every listener with a play on or before `cutoff` (a day number), from
    those plays only; plus the plain figures the reasons quote."""
    d = daily[daily["day"] <= cutoff]
    age = cutoff - d["day"].to_numpy()
    before_last = d.groupby("user_id")["day"].transform("max").to_numpy() - d["day"].to_numpy()
    plays, skips = d["plays"].to_numpy(), d["skips"].to_numpy()
    w28 = age < 28
    parts = pd.DataFrame(
        {
            "user_id": d["user_id"].to_numpy(),
            "plays_all": plays,
            "skips_all": skips,
            "plays_last_7d": plays * (age < 7),
            "plays_last_14d": plays * (age < 14),
            "plays_last_28d": plays * w28,
            "plays_prev_14d": plays * (w28 & (age >= 14)),
            "active_days_last_28d": w28.astype(int),
            "active_days_before_last_28d": (before_last < 28).astype(int),
            "skips_28d": skips * w28,
            "completion_sum_28d": d["completion_sum"].to_numpy() * w28,
            "completion_n_28d": d["completion_n"].to_numpy() * w28,
            "first": d["day"].to_numpy(),
            "last": d["day"].to_numpy(),
            "active_days": 1,
        }
    )
    how = {c: "sum" for c in parts.columns if c != "user_id"} | {"first": "min", "last": "max"}
    f = parts.groupby("user_id", sort=True).agg(how)
    f["days_since_last_play"] = cutoff - f["last"]
    f["tenure_days"] = cutoff - f["first"]
    span = f["last"] - f["first"] + 1
    f["usual_gap_days"] = (span - 1) / (f["active_days"] - 1).replace(0, np.nan)
    f["silence_ratio"] = f["days_since_last_play"] / f["usual_gap_days"]
    f["active_share"] = f["active_days"] / (f["tenure_days"] + 1)
    f["recent_window"] = np.minimum(28, f["tenure_days"] + 1)
    f["activity_ratio_28d"] = f["active_days_last_28d"] / f["recent_window"] / f["active_share"]
    f["pre_window"] = np.minimum(28, span)
    f["pre_usual"] = f["active_days"] / span * f["pre_window"]  # expected at the usual pace
    f["pre_silence_ratio"] = f["active_days_before_last_28d"] / f["pre_usual"]
    f["trend_14d"] = f["plays_last_14d"] / f["plays_prev_14d"].replace(0, np.nan)
    f["skip_rate_28d"] = f["skips_28d"] / f["plays_last_28d"].replace(0, np.nan)
    f["skip_rate_all"] = f["skips_all"] / f["plays_all"]
    f["mean_completion_28d"] = f["completion_sum_28d"] / f["completion_n_28d"].replace(0, np.nan)
    prof = people.reindex(f.index)
    f["plan"] = prof["plan"].fillna("unknown")
    f["age_band"] = prof["age_band"]
    f["age_band_low"] = prof["age_band_low"]
    for p in PLANS:
        f[f"plan_{p}"] = (f["plan"] == p).astype(float)
    f["signed_up"] = ~(prof["signup_day"] > cutoff)  # no profile or no date: counted in
    return f


def features(plays: pd.DataFrame, profiles: pd.DataFrame | None, cutoff: dt.date) -> pd.DataFrame:
    """The model's features (and quoted figures) per listener at `cutoff`, from plays on or
    before it; index `user_id`."""
    return _features_at(daily_activity(plays), _profile_table(profiles), _day(cutoff))


def _labelled(daily: pd.DataFrame, people: pd.DataFrame, cutoff: int, horizon: int) -> pd.DataFrame:
    """Features at `cutoff` of the listeners still around, with `churned` from the next
    `horizon` days."""
    f = _features_at(daily, people, cutoff)
    f = f[f["signed_up"] & (f["days_since_last_play"] <= 2 * horizon)]
    later = daily.loc[(daily["day"] > cutoff) & (daily["day"] <= cutoff + horizon), "user_id"]
    return f.assign(churned=~f.index.isin(later.unique()), cutoff=cutoff)


def labels(
    plays: pd.DataFrame, profiles: pd.DataFrame | None, cutoff: dt.date, horizon: int = HORIZON
) -> pd.Series:
    """Churned (no play on days cutoff+1..cutoff+horizon) per listener still around at
    `cutoff`; index `user_id`."""
    daily = daily_activity(plays)
    return _labelled(daily, _profile_table(profiles), _day(cutoff), horizon)["churned"]


def _model() -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        max_iter=150,
        learning_rate=0.05,
        max_leaf_nodes=15,
        min_samples_leaf=20,
        l2_regularization=1.0,
        early_stopping=False,
        monotonic_cst=[1 if f in RISING else 0 for f in FEATURES],
        random_state=SEED,
    )


def _X(frame: pd.DataFrame) -> np.ndarray:
    return frame[list(FEATURES)].to_numpy(float)


def band(risk: np.ndarray) -> np.ndarray:
    out = np.full(len(risk), BANDS[-1][1], dtype=object)
    for lowest, name in reversed(BANDS):
        out[risk >= lowest] = name
    return out


def _num(x: float) -> str:
    return f"{x:.1f}".removesuffix(".0")


def _days(n: float) -> str:
    return f"{_num(n)} day" + ("" if _num(n) == "1" else "s")


def reason_words(feature: str, row) -> str:
    """A feature of one listener as a short phrase quoting its figures."""
    r = row
    if feature == "days_since_last_play":
        d = int(r.days_since_last_play)
        head = "played today" if d == 0 else f"no play for {_days(d)}"
        gap = r.usual_gap_days
        return head + (f" (usual gap {_days(gap)})" if np.isfinite(gap) else "")
    if feature == "silence":
        d, gap = int(r.days_since_last_play), r.usual_gap_days
        if not np.isfinite(gap):
            return f"no play for {_days(d)}, after a single active day"
        head = "played today" if d == 0 else f"no play for {_days(d)}"
        return f"{head} (usual gap {_days(gap)})"
    if feature == "activity_28d":
        usual = r.active_share * r.recent_window
        return (
            f"active on {int(r.active_days_last_28d)} of the last {int(r.recent_window)} days "
            f"(usually {_num(usual)})"
        )
    if feature == "silence_ratio":
        if not np.isfinite(r.silence_ratio):
            return f"no play for {_days(r.days_since_last_play)}, after a single active day"
        return (
            f"no play for {_days(r.days_since_last_play)}, {_num(r.silence_ratio)} times "
            f"the usual gap of {_days(r.usual_gap_days)}"
        )
    if feature == "usual_gap_days":
        gap = r.usual_gap_days
        return f"usually plays every {_days(gap)}" if np.isfinite(gap) else "played on one day"
    if feature == "tenure_days":
        return f"first play {_days(r.tenure_days)} ago"
    if feature in ("plays_last_7d", "plays_last_14d", "plays_last_28d"):
        window = feature.removeprefix("plays_last_").removesuffix("d")
        return f"{int(getattr(r, feature))} plays in the last {window} days"
    if feature == "active_days_last_28d":
        return f"active on {int(r.active_days_last_28d)} of the last 28 days"
    if feature == "active_share":
        return f"active on {r.active_share:.0%} of days since the first play"
    if feature == "activity_ratio_28d":
        usual = r.active_share * r.recent_window
        return (
            f"active on {int(r.active_days_last_28d)} of the last {int(r.recent_window)} days "
            f"(usually {_num(usual)})"
        )
    if feature == "pre_silence_ratio":
        return (
            f"active on {int(r.active_days_before_last_28d)} of the {int(r.pre_window)} days "
            f"up to the last play (usually {_num(r.pre_usual)})"
        )
    if feature == "trend_14d":
        now, before = int(r.plays_last_14d), int(r.plays_prev_14d)
        if before == 0:
            return f"{now} plays in the last two weeks, none in the two before"
        change = now / before - 1
        verb = "fell" if change < 0 else "rose"
        return f"plays {verb} {abs(change):.0%} over the last two weeks ({now} vs {before})"
    if feature == "skip_rate_28d":
        if not np.isfinite(r.skip_rate_28d):
            return "no plays in the last 28 days"
        return (
            f"skipped {r.skip_rate_28d:.0%} of plays in the last 28 days "
            f"({r.skip_rate_all:.0%} all-time)"
        )
    if feature == "skip_rate_all":
        return f"skips {r.skip_rate_all:.0%} of plays overall"
    if feature == "mean_completion_28d":
        c = r.mean_completion_28d
        if not np.isfinite(c):
            if r.plays_last_28d == 0:
                return "no plays in the last 28 days"
            return f"no completion figure for the {int(r.plays_last_28d)} plays of the last 28 days"
        return f"plays {c:.0%} of a track on average over the last 28 days"
    if feature == "age_band_low":
        return f"age band {r.age_band}" if isinstance(r.age_band, str) else "no age band"
    if feature == "plan":
        return "no profile" if r.plan == "unknown" else f"on the {r.plan} plan"
    raise KeyError(feature)


REASON_OF = {
    "days_since_last_play": "silence",
    "usual_gap_days": "silence",
    "silence_ratio": "silence",
    "active_days_last_28d": "activity_28d",
    "activity_ratio_28d": "activity_28d",
    "active_share": "activity_28d",
} | {f"plan_{p}": "plan" for p in PLANS}


def _grouped(values: np.ndarray, of: dict[str, str]) -> tuple[list[str], np.ndarray]:
    """SHAP columns summed by group (`of`: feature → group; others stand alone)."""
    groups = list(dict.fromkeys(of.get(f, f) for f in FEATURES))
    columns = [
        values[:, [i for i, f in enumerate(FEATURES) if of.get(f, f) == g]].sum(axis=1)
        for g in groups
    ]
    return groups, np.column_stack(columns)


def explain_risk(model, frame: pd.DataFrame) -> tuple[list[str], pd.Series]:
    """(the top SHAP contributions of each listener in words, mean |SHAP| per feature).

    The reasons are those pushing the score the way it went from the average (up for a
    risky listener, down for a safe one), largest first."""
    base, values, output = contributions(model, _X(frame))
    names, grouped = _grouped(values, REASON_OF)
    sign = np.where(output >= base, 1.0, -1.0)[:, None]
    pushed = grouped * sign
    texts = []
    for row, push in zip(frame.itertuples(), pushed, strict=True):
        ranked = [i for i in np.argsort(-push) if push[i] > 0]
        ranked += [i for i in np.argsort(-np.abs(push)) if i not in ranked]
        words: list[str] = []
        for i in ranked:  # two features can say the same thing ("no plays in ...")
            phrase = reason_words(names[i], row)
            if phrase not in words and (push[i] > 0 or len(words) < 2):
                words.append(phrase)
            if len(words) == REASONS:
                break
        texts.append("; ".join(words))
    plan = {f"plan_{p}": "plan" for p in PLANS}
    return texts, global_importance(*reversed(_grouped(values, plan)))


@dataclass
class Evaluation:
    eval_cutoff: dt.date
    train_cutoffs: list[dt.date]
    n_train: int
    n_eval: int
    churn_rate: float
    auc: float
    baseline_auc: float
    average_precision: float
    y: np.ndarray
    score: np.ndarray
    baseline_score: np.ndarray


def _date(day: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=int(day))


def fit(
    plays: pd.DataFrame,
    profiles: pd.DataFrame | None,
    as_of: dt.date,
    *,
    horizon: int = HORIZON,
) -> ModelOutput:
    """Churn risk of every listener still around at `as_of`, with a held-out later cutoff's
    AUC beside days-since-last-play.

    One OpenMP thread: the fits are small, and on a shared few-core machine spinning OpenMP
    threads made a 1,500-row fit 40 times slower (0.9 s against 41 s, measured)."""
    with threadpool_limits(limits=1, user_api="openmp"):
        return _fit(plays, profiles, as_of, horizon)


def _fit(
    plays: pd.DataFrame, profiles: pd.DataFrame | None, as_of: dt.date, horizon: int
) -> ModelOutput:
    daily = daily_activity(plays)
    daily = daily[daily["day"] <= _day(as_of)]
    people = _profile_table(profiles)
    out = ModelOutput(rows=SCHEMA.empty_table(), metrics={MODEL: []}, empty_reason="")
    end = _day(as_of)
    if daily.empty:
        out.empty_reason = f"no plays on or before {as_of}"
        return out
    first = int(daily["day"].min())
    if end - first < 3 * horizon:
        out.empty_reason = (
            f"plays cover {end - first} days up to {as_of} (from {_date(first)}); churn "
            f"needs {3 * horizon} (three {horizon}-day horizons) to train and evaluate"
        )
        return out
    c_eval = end - horizon
    cutoffs = list(range(c_eval - horizon, first + horizon - 1, -STEP))[::-1]
    test = _labelled(daily, people, c_eval, horizon)
    out.metadata = {
        "eval_cutoff": str(_date(c_eval)),
        "train_cutoffs": [str(_date(c)) for c in cutoffs],
        "n_eval": len(test),
    }
    # The evaluation cutoff is judged first: a household's two listeners over ten years would
    # otherwise label some 500 weekly cutoffs for a model that cannot be evaluated.
    problem = None
    if len(test) < MIN_EVAL:
        problem = f"{len(test)} labelled listeners at the evaluation cutoff; {MIN_EVAL} needed"
    elif test["churned"].nunique() < 2:
        problem = "every labelled listener at the evaluation cutoff is in one class"
    else:
        train = pd.concat([_labelled(daily, people, c, horizon) for c in cutoffs])
        out.metadata["n_train"] = len(train)
        if train["churned"].nunique() < 2:
            problem = "every training label is in one class"
    if problem:
        out.empty_reason = f"churn not trained as of {as_of}: {problem}"
        return out
    model = _model().fit(_X(train), train["churned"])
    y = test["churned"].to_numpy()
    score = model.predict_proba(_X(test))[:, 1]
    baseline_score = test["days_since_last_play"].to_numpy(float)
    e = Evaluation(
        eval_cutoff=_date(c_eval),
        train_cutoffs=[_date(c) for c in cutoffs],
        n_train=len(train),
        n_eval=len(test),
        churn_rate=float(y.mean()),
        auc=float(roc_auc_score(y, score)),
        baseline_auc=float(roc_auc_score(y, baseline_score)),
        average_precision=float(average_precision_score(y, score)),
        y=y,
        score=score,
        baseline_score=baseline_score,
    )
    served = _model().fit(_X(pd.concat([train, test])), np.r_[train["churned"], y])
    now = _features_at(daily, people, end)
    around = now["signed_up"] & (now["days_since_last_play"] <= 2 * horizon)
    gone = int((now["days_since_last_play"] > 2 * horizon).sum())
    now = now[around]
    risk = served.predict_proba(_X(now))[:, 1] if len(now) else np.array([])
    reasons, importance = explain_risk(served, now) if len(now) else ([], pd.Series())
    table = pd.DataFrame(
        {
            "as_of_date": as_of,
            "user_id": now.index.astype(str),
            "risk": risk,
            "risk_band": band(risk),
            "days_since_last_play": now["days_since_last_play"].astype("int64").to_numpy(),
            "plays_last_28d": now["plays_last_28d"].astype("int64").to_numpy(),
            "reasons": reasons,
        }
    )
    out.rows = pa.Table.from_pandas(table, schema=SCHEMA, preserve_index=False)
    out.empty_reason = f"no listener played in the last {2 * horizon} days"
    note = f"cutoff {e.eval_cutoff}, trained on {len(cutoffs)} earlier weekly cutoffs"
    out.metrics[MODEL] = [
        metric("roc_auc", e.auc, baseline=e.baseline_auc, n_eval=e.n_eval, note=note),
        metric(
            "average_precision",
            e.average_precision,
            baseline=e.churn_rate,
            n_eval=e.n_eval,
            note=note + "; baseline: the positive rate",
        ),
        metric("n_eval", e.n_eval, note=note),
        metric("churn_rate", e.churn_rate, n_eval=e.n_eval, note=note),
    ]
    out.store_name = MODEL
    out.artifact = served
    out.card = {
        "features": list(FEATURES),
        "horizon_days": horizon,
        "label": f"no play on the {horizon} days after the cutoff (local dates)",
        "risk_bands": {name: lowest for lowest, name in BANDS},
        "trained_on_cutoffs": [str(_date(c)) for c in [*cutoffs, c_eval]],
    }
    out.metadata |= {
        "roc_auc": e.auc,
        "baseline_auc": e.baseline_auc,
        "average_precision": e.average_precision,
        "churn_rate": e.churn_rate,
        "listeners_scored": len(table),
        "already_gone": gone,
        "already_gone_note": (
            f"{gone} listener(s) with no play in the {2 * horizon} days up to {as_of} are "
            "left out: already gone, not at risk"
        ),
        "risk_bands": {name: int((table["risk_band"] == name).sum()) for _, name in BANDS},
    }
    out.figures["plot"] = (
        roc_plot(e),
        "ROC curves on the held-out later cutoff: the model beside days since the last play",
    )
    if len(importance):
        out.figures["shap"] = (
            shap_plot(importance),
            "Mean |SHAP| per feature over the listeners scored: what the risk leans on",
        )
    return out


def roc_plot(e: Evaluation) -> Figure:
    fig = Figure(figsize=(4.8, 4), layout="constrained")
    ax = fig.subplots()
    for score, label, colour in (
        (e.score, f"model (AUC {e.auc:.3f})", "#264653"),
        (e.baseline_score, f"days since last play (AUC {e.baseline_auc:.3f})", "#e9c46a"),
    ):
        fpr, tpr, _ = roc_curve(e.y, score)
        ax.plot(fpr, tpr, label=label, color=colour)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(f"Churn at {e.eval_cutoff} (n={e.n_eval}, {e.churn_rate:.0%} churned)", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    return fig


def shap_plot(importance: pd.Series) -> Figure:
    fig = Figure(figsize=(5.5, 3.8), layout="constrained")
    ax = fig.subplots()
    ax.barh(importance.index, importance.to_numpy(), color="#264653")
    ax.set_xlabel("mean |SHAP| (log-odds)")
    ax.set_title("What the churn risk leans on", fontsize=9)
    return fig

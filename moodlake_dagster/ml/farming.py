"""Stream-farming detection: listener-days that look like bots paid per stream, not people.

Detector: robust z-scores (median/MAD), not an IsolationForest. Each score reads as "this many
typical spreads above the typical listener-day", so a flag explains itself, and it is one-sided
(more plays, repeats, hours, 30–40 s plays, ring plays), where an IsolationForest also isolates
innocent oddities (a quiet day, a night owl) and needs a fit and a cutoff. Median and MAD
ignore up to half the rows, so a farm minority cannot drag the yardstick; no trained state.

A listener-day is its local calendar day (hours 0–23 are the listener's own). It is flagged
when the detector (z ≥ 3.5, the Iglewicz–Hoaglin cut, on an input the rule is not built on)
and a named rule agree, or two rules fire: a heavy but ordinary listener is unusual yet trips
no rule, and a rule alone needs a second, independent witness. The "ring" signal: on a day, a
track is a ring track when ≥ 2 accounts each play it ≥ 20 times and those loopers are at
least half of the accounts playing it that day (a hit that many people play is not).

Answers (the generator's farm accounts) are used only to score, never as a feature: precision
and recall of the flagged listeners beside as many listeners picked by most plays per active
day. Without answers the metric rows carry no value and say "no answer file: unscored".
"""

from __future__ import annotations

import datetime as dt

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pyarrow as pa

from moodlake_dagster.ml.metrics import metric
from moodlake_dagster.ml.output import ModelOutput
from moodlake_dagster.tables import FARM_FLAGS

SHORT_MS = (30_000, 40_000)  # just past the 30 s a stream needs to count, inclusive
LOOP_PLAYS = 20  # plays of one track in a day that make an account a looper of it
RING_MIN_ACCOUNTS = 2  # loopers of a track on a day (this account included)
RING_LOOPER_SHARE = 0.5  # loopers / all accounts playing the track that day
Z_CUT = 3.5
MAD_SCALE = 1.4826  # MAD → standard deviation for normal data
# One-sided detector inputs: +1 = higher is stranger, -1 = lower is; floors keep the spread
# from collapsing to 0 where most listener-days share a value (e.g. no 30–40 s plays at all).
DETECTOR = {
    "log_plays": (1, 0.25),
    "log_repeat_ratio": (1, 0.1),
    "share_30_40s": (1, 0.05),
    "distinct_hours": (1, 1.0),
    "ring_share": (1, 0.05),
}
# Computed and kept, not scored: a night owl, a skip-happy day or a short session is ordinary
# (on the crowd, ordinary listener-days reach z 20 on night share and 8 on median ms).
UNSCORED = ("night_share", "median_ms", "skip_rate")
RULES = {
    "round_the_clock": "round the clock: plays in 20+ distinct hours",
    "short_plays": "just-past-30-s plays: 80% of plays 30–40 s (of 20+ plays)",
    "loops": "loops: 50+ plays of ≤ 15 tracks",
    "ring": "ring: tracks shared with other looping accounts",
}
# The detector inputs each rule is itself built on (they cannot second that rule).
RULE_INPUTS = {
    "round_the_clock": ("distinct_hours",),
    "short_plays": ("share_30_40s",),
    "loops": ("log_plays", "log_repeat_ratio"),
    "ring": ("ring_share",),
}
PLOT_SAMPLE = 5_000

SCHEMA = FARM_FLAGS.schema


def _track_key(plays: pd.DataFrame) -> pd.Series:
    """The track id, or artist and title for a play the catalog could not resolve."""
    fallback = plays["artist_name"].astype(str) + "\x1f" + plays["track_name"].astype(str)
    return plays["track_id"].astype(object).where(plays["track_id"].notna(), fallback)


def day_features(plays: pd.DataFrame) -> pd.DataFrame:
    """One row per (user_id, local_date) with the behaviour and ring features."""
    frame = pd.DataFrame(
        {
            "user_id": plays["user_id"].astype(str).to_numpy(),
            "local_date": plays["local_date"].to_numpy(),
            "track": _track_key(plays).to_numpy(),
            "local_hour": plays["local_hour"].to_numpy(),
            "ms_played": plays["ms_played"].to_numpy(),
            "short": plays["ms_played"].between(*SHORT_MS).to_numpy(),
            "night": (plays["day_part"] == "night").to_numpy(),
            "skipped": plays["skipped"].astype("boolean").astype("float").to_numpy(),
        }
    )
    day = ["user_id", "local_date"]
    per_track = frame.groupby([*day, "track"], sort=False).size().rename("n").reset_index()
    per_track["looped"] = per_track["n"] >= LOOP_PLAYS
    on_day = per_track.groupby(["local_date", "track"], sort=False)["looped"]
    per_track["loopers"] = on_day.transform("sum")
    per_track["accounts"] = on_day.transform("size")
    per_track["ring"] = (
        per_track["looped"]
        & (per_track["loopers"] >= RING_MIN_ACCOUNTS)
        & (per_track["loopers"] >= RING_LOOPER_SHARE * per_track["accounts"])
    )
    g = frame.groupby(day, sort=True)
    days = g.agg(
        plays=("track", "size"),
        distinct_hours=("local_hour", "nunique"),
        share_30_40s=("short", "mean"),
        night_share=("night", "mean"),
        median_ms=("ms_played", "median"),
        skip_rate=("skipped", "mean"),
    )
    tracks = per_track.assign(ring_plays=per_track["n"].where(per_track["ring"], 0))
    tracks = tracks.groupby(day, sort=True).agg(
        distinct_tracks=("track", "size"),
        ring_plays=("ring_plays", "sum"),
        ring_tracks=("ring", "sum"),
    )
    days = days.join(tracks)
    days["repeat_ratio"] = days["plays"] / days["distinct_tracks"]
    days["ring_share"] = days["ring_plays"] / days["plays"]
    days["ring_accounts"] = _ring_partners(per_track).reindex(days.index, fill_value=0)
    return days.reset_index()


def _ring_partners(per_track: pd.DataFrame) -> pd.Series:
    """Distinct *other* accounts looping the same ring tracks on the same day."""
    ring = per_track.loc[per_track["ring"], ["user_id", "local_date", "track"]]
    pairs = ring.merge(ring, on=["local_date", "track"], suffixes=("", "_other"))
    pairs = pairs[pairs["user_id"] != pairs["user_id_other"]]
    return pairs.groupby(["user_id", "local_date"])["user_id_other"].nunique()


def robust_scores(days: pd.DataFrame) -> pd.DataFrame:
    """One-sided robust z per detector input, and the worst of them as `score`."""
    inputs = pd.DataFrame(
        {
            "log_plays": np.log1p(days["plays"]),
            "log_repeat_ratio": np.log(days["repeat_ratio"]),
            "share_30_40s": days["share_30_40s"],
            "distinct_hours": days["distinct_hours"].astype(float),
            "ring_share": days["ring_share"],
        }
    )
    z = pd.DataFrame(index=days.index)
    for name, (sign, floor) in DETECTOR.items():
        x = inputs[name]
        median = x.median()
        spread = max(MAD_SCALE * float((x - median).abs().median()), floor)
        z[name] = (sign * (x - median) / spread).clip(lower=0)
    z["score"] = z[list(DETECTOR)].max(axis=1)
    return z


def rules(days: pd.DataFrame) -> pd.DataFrame:
    """Each named rule per listener-day (booleans, columns as in RULES)."""
    return pd.DataFrame(
        {
            "round_the_clock": days["distinct_hours"] >= 20,
            "short_plays": (days["share_30_40s"] >= 0.8) & (days["plays"] >= 20),
            "loops": (days["plays"] >= 50) & (days["distinct_tracks"] <= 15),
            "ring": days["ring_accounts"] >= 1,
        },
        index=days.index,
    )


def score_days(plays: pd.DataFrame) -> pd.DataFrame:
    """Listener-day features, robust z, rules and the flag.

    The detector agrees with a rule only through inputs the rule is not built on: 20 distinct
    hours is not confirmed by a high z on distinct hours, only by something else being odd.
    """
    days = day_features(plays)
    z = robust_scores(days)
    fired = rules(days)
    days = pd.concat([days, z["score"], fired], axis=1)
    days["rules_fired"] = fired.sum(axis=1)
    days["detector"] = days["score"] >= Z_CUT
    seconded = np.zeros(len(days), bool)
    for name, own in RULE_INPUTS.items():
        others = [c for c in DETECTOR if c not in own]
        seconded |= (fired[name] & (z[others].max(axis=1) >= Z_CUT)).to_numpy()
    days["flagged"] = seconded | (days["rules_fired"] >= 2).to_numpy()
    return days


def _reason(row) -> str:
    """The rules that fired, in words with the numbers of the listener's median flagged day."""
    text = f"{row.plays:.0f} plays a day"
    if row.round_the_clock:
        text += f" in {row.distinct_hours:.0f} distinct hours"
    parts = [text]
    if row.short_plays:
        parts.append(f"{row.share_30_40s:.0%} of them 30–40 s long")
    if row.loops or row.ring:
        loop = f"looping {row.distinct_tracks:.0f} tracks"
        if row.ring:
            others = "account" if round(row.ring_accounts) == 1 else "accounts"
            loop += f" shared with {row.ring_accounts:.0f} other {others}"
        parts.append(loop)
    days = "day" if row.flagged_days == 1 else "days"
    return ", ".join(parts) + f" (robust z up to {row.score:.1f}, {row.flagged_days} {days})"


def _listeners(days: pd.DataFrame) -> pd.DataFrame:
    """One row per flagged listener from their flagged days."""
    flagged = days[days["flagged"]]
    g = flagged.groupby("user_id", sort=True)
    numbers = ["plays", "distinct_hours", "share_30_40s", "distinct_tracks", "ring_accounts"]
    listeners = (
        g[numbers]
        .median()
        .join(
            g.agg(
                flagged_days=("local_date", "size"),
                first_flagged=("local_date", "min"),
                last_flagged=("local_date", "max"),
                plays_on_flagged_days=("plays", "sum"),
                score=("score", "max"),
            )
        )
    )
    # a rule is named when it fired on at least half of the listener's flagged days
    listeners = listeners.join(g[list(RULES)].mean() >= 0.5)
    listeners["reason"] = [_reason(r) for r in listeners.itertuples()]
    return listeners.reset_index()


def detect(plays: pd.DataFrame, as_of: dt.date, *, answers: set[str] | None = None) -> ModelOutput:
    """Flag farm-like listeners in the plays up to `as_of`, and score them against `answers`
    (the generator's farm user ids) beside the "most plays per active day" baseline."""
    plays = plays[pd.to_datetime(plays["play_date"]).dt.date <= as_of]
    days = score_days(plays)
    listeners = _listeners(days)
    rows = listeners.assign(as_of_date=as_of)[SCHEMA.names].astype(
        {"flagged_days": "int64", "plays_on_flagged_days": "int64", "score": "float64"}
    )
    flagged = set(rows["user_id"])
    out = ModelOutput(
        rows=pa.Table.from_pandas(rows, schema=SCHEMA, preserve_index=False),
        metrics={"stream_farming": _metrics(days, flagged, answers)},
        card={
            "detector": f"one-sided robust z (median/MAD), cut {Z_CUT}",
            "inputs": list(DETECTOR),
            "rules": list(RULES.values()),
            "flag": "detector and ≥ 1 rule, or ≥ 2 rules",
        },
        metadata={
            "listener_days_scored": len(days),
            "flagged_listener_days": int(days["flagged"].sum()),
            "flagged_listeners": len(flagged),
            "listeners": int(days["user_id"].nunique()),
            "rule_days": {name: int(days[name].sum()) for name in RULES},
        },
        empty_reason="no listener-day looks farmed",
    )
    out.figures["plot"] = (
        plot(days),
        "listener-days by distinct hours active and share of 30–40 s plays, flagged or not",
    )
    return out


def _metrics(days: pd.DataFrame, flagged: set[str], answers: set[str] | None) -> list[dict]:
    """Precision and recall of the flagged listeners, beside the same number of listeners
    with the most plays per active day."""
    listeners = days.groupby("user_id")["plays"].mean()
    if answers is None:
        note = "no answer file: unscored"
        return [metric("precision", None, note=note), metric("recall", None, note=note)]
    truth = set(answers) & set(listeners.index)
    top = set(listeners.sort_values(ascending=False, kind="stable").index[: len(flagged)])
    n = len(listeners)
    precision, recall = _precision_recall(flagged, truth)
    base_precision, base_recall = _precision_recall(top, truth)
    note = f"{len(flagged)} flagged of {n} listeners, {len(truth)} farm accounts in the answers"
    return [
        metric("precision", precision, baseline=base_precision, n_eval=n, note=note),
        metric("recall", recall, baseline=base_recall, n_eval=n, note=note),
    ]


def _precision_recall(picked: set[str], truth: set[str]) -> tuple[float | None, float | None]:
    hits = len(picked & truth)
    precision = hits / len(picked) if picked else None
    recall = hits / len(truth) if truth else None
    return precision, recall


def plot(days: pd.DataFrame) -> plt.Figure:
    """Farms sit top right: many distinct hours, mostly 30–40 s plays."""
    rng = np.random.default_rng(0)
    fig, ax = plt.subplots(figsize=(5.5, 4), layout="constrained")
    for flag, colour, label in ((False, "#8d99ae", "not flagged"), (True, "#e63946", "flagged")):
        part = days[days["flagged"] == flag]
        if len(part) > PLOT_SAMPLE:
            part = part.sample(n=PLOT_SAMPLE, random_state=0)
        jitter = rng.uniform(-0.25, 0.25, len(part))
        ax.scatter(
            part["distinct_hours"] + jitter,
            part["share_30_40s"],
            s=8,
            alpha=0.5,
            color=colour,
            label=f"{label} ({int((days['flagged'] == flag).sum())})",
        )
    ax.set_xlabel("distinct local hours with plays")
    ax.set_ylabel("share of plays 30–40 s long")
    ax.set_title("Listener-days: farms play round the clock, just past 30 s", fontsize=9)
    ax.legend(fontsize=8)
    return fig


def flagged_users(rows: pd.DataFrame | pa.Table) -> set[str]:
    """The flagged user ids, to keep their plays out of crowd top lists and ALS training."""
    if isinstance(rows, pa.Table):
        rows = rows.to_pandas()
    return set(rows["user_id"].astype(str))

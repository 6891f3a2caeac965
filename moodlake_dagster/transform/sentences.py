"""Insights in words: what the Gold tables let us say about a listener, and nothing more.

Every candidate sentence comes from one row of a Gold table and carries that row's numbers.
A sentence that claims a difference or a trend rests on a test; the tests of one listener's
day are one family, and only those that survive Benjamini-Hochberg at a 5 % false discovery
rate are said. Descriptive habits need a minimum sample instead.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

FALSE_DISCOVERY_RATE = 0.05
MAX_SENTENCES = 8
MIN_SESSIONS = 20
MIN_CORRELATION_TRACKS = 30
MIN_TOP_PLAYS = 3
KIND_ORDER = ("week", "trend", "threshold", "correlation", "habit")
WEEK_TEST = "prediction t-test against the 12 weeks before"
CORRELATION_TEST = "Pearson correlation t-test"
# Said in other words already (plays), or about the data rather than the listener (coverage).
UNSAID_TRENDS = ("minutes", "feature_coverage")

COLUMNS = [
    "user_id",
    "rank",
    "kind",
    "subject",
    "sentence",
    "evidence",
    "test",
    "p_value",
    "p_adjusted",
    "n",
    "sources",
    "as_of_date",
]

# measure → (word when higher, word when lower, how its value reads)
MOOD_WORDS = {
    "valence": ("brighter", "darker"),
    "energy": ("more energetic", "calmer"),
    "danceability": ("more danceable", "less danceable"),
}


@dataclass
class Candidate:
    user_id: str
    kind: str
    subject: str
    sentence: str
    evidence: dict
    n: int
    sources: tuple[str, ...]
    test: str | None = None
    p_value: float | None = None
    p_adjusted: float | None = field(default=None)


def p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _bare(measure: str, value: float) -> str:
    if measure in ("plays", "minutes"):
        return f"{value:.0f}"
    if measure in ("skip_rate", "feature_coverage"):
        return f"{value:.0%}"
    return f"{value:.2f}"


def _number(measure: str, value: float) -> str:
    """A measure's value as a sentence says it: '120 plays', '34%', 'valence 0.62'."""
    if measure in ("plays", "minutes"):
        return f"{_bare(measure, value)} {measure}"
    if measure in MOOD_WORDS:
        return f"{measure} {_bare(measure, value)}"
    return _bare(measure, value)


def _evidence(row: pd.Series, columns: list[str]) -> dict:
    def plain(v):
        if isinstance(v, dt.date):
            return v.isoformat()
        if isinstance(v, np.generic):
            return v.item()
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else v

    return {c: plain(row[c]) for c in columns}


# ---- Candidates, one kind per source table ----------------------------------------------------


def prediction_p(value: float, mean: float, std: float, n: int) -> float:
    """Two-sided p that one new period drawn like the n before would be this far from their
    mean (Student's t prediction interval, n − 1 degrees of freedom)."""
    t = (value - mean) / (std * math.sqrt(1 + 1 / n))
    return float(2 * stats.t.sf(abs(t), n - 1))


def week_candidates(trends: pd.DataFrame) -> list[Candidate]:
    """The last complete week of each measure against the listener's 12 weeks before it."""
    weeks = trends[
        (trends["period"] == "week")
        & trends["complete"]
        & trends["z_score"].notna()
        & ~trends["measure"].isin(UNSAID_TRENDS)
    ]
    # Each listener's last complete week, found once: a filter of every trend row per
    # listener and measure made a thousand listeners' insights quadratic.
    complete = trends[(trends["period"] == "week") & trends["complete"]]
    last_week = complete.groupby("user_id")["period_start"].max()
    out = []
    for (user, measure), rows in weeks.groupby(["user_id", "measure"], sort=True):
        row = rows.sort_values("period_start").iloc[-1]
        if row["period_start"] != last_week.get(user):
            continue  # the last complete week had no value for it: nothing to say of this week
        p = prediction_p(row["value"], row["baseline_mean"], row["baseline_std"], row["baseline_n"])
        higher = row["value"] > row["baseline_mean"]
        when = f"the week of {row['period_start']:%-d %B %Y}"
        usual = _bare(measure, row["baseline_mean"])
        if measure in MOOD_WORDS:
            word = MOOD_WORDS[measure][0 if higher else 1]
            text = f"Your music in {when} was {word} than usual"
        else:
            verb = {"plays": "played", "minutes": "listened", "skip_rate": "skipped"}[measure]
            more = {"minutes": ("longer", "less")}.get(measure, ("more", "less"))
            text = f"You {verb} {more[0 if higher else 1]} than usual in {when}"
        text += (
            f": {_number(measure, row['value'])} against your usual {usual} "
            f"(z = {row['z_score']:.1f}, {p_text(p)})."
        )
        columns = ["period_start", "value", "baseline_mean", "baseline_std", "baseline_n"]
        out.append(
            Candidate(
                user,
                "week",
                measure,
                text,
                _evidence(row, [*columns, "z_score"]),
                int(row["baseline_n"]),
                ("gold/mood_trends",),
                WEEK_TEST,
                p,
            )
        )
    return out


def _split(value: float) -> str:
    """A split point as people read it: two significant digits, never in e-notation."""
    return np.format_float_positional(value, precision=2, fractional=False, trim="-")


def trend_candidates(tests: pd.DataFrame) -> list[Candidate]:
    out = []
    tested = tests[tests["p_value"].notna() & ~tests["measure"].isin(UNSAID_TRENDS)]
    for row in tested.itertuples():
        rising = row.slope_per_month > 0 or (row.slope_per_month == 0 and row.kendall_tau > 0)
        if row.measure in MOOD_WORDS:
            word = MOOD_WORDS[row.measure][0 if rising else 1]
            text = f"Over the last {row.months} months your music has got {word}"
            slope = f"{row.measure} {row.slope_per_month:+.3f} a month"
        elif row.measure in ("plays", "minutes"):
            more = "more" if rising else "less"
            text = f"Over the last {row.months} months you have listened {more}"
            slope = f"{row.slope_per_month:+.0f} {row.measure} a month"
        else:
            what = {"skip_rate": "skipped", "feature_coverage": "played catalog tracks"}
            text = f"Over the last {row.months} months you have {what[row.measure]} "
            text += "more" if rising else "less"
            slope = f"{row.slope_per_month:+.1%} a month"
        text += f": {slope} (Mann-Kendall τ = {row.kendall_tau:.2f}, {p_text(row.p_value)})."
        evidence = _evidence(
            pd.Series(row._asdict()),
            ["measure", "months", "first_month", "last_month", "kendall_tau", "slope_per_month"],
        )
        out.append(
            Candidate(
                row.user_id,
                "trend",
                row.measure,
                text,
                evidence,
                int(row.months),
                ("gold/mood_trend_tests", "gold/mood_trends"),
                row.test,
                float(row.p_value),
            )
        )
    return out


def threshold_candidates(thresholds: pd.DataFrame) -> list[Candidate]:
    out = []
    for row in thresholds[thresholds["p_value"].notna()].itertuples():
        above = row.rate_above > row.rate_below
        where = f"tracks with {row.feature} above {_split(row.split_point)}"
        if row.outcome == "skipped":
            text = f"You skip {where} {'more' if above else 'less'} often"
        else:
            text = f"You play {where} {'further' if above else 'less far'} through"
        text += f": {row.rate_above:.0%} against {row.rate_below:.0%}"
        if row.relative_difference is not None and not pd.isna(row.relative_difference):
            text += f" ({row.relative_difference:+.0%})"
        text += f" on held-out tracks (Mann-Whitney {p_text(row.p_value)})."
        columns = ["feature", "outcome", "split_point", "n_above", "n_below", "rate_above"]
        columns += ["rate_below", "relative_difference", "effect_size"]
        out.append(
            Candidate(
                row.user_id,
                "threshold",
                f"{row.feature}/{row.outcome}",
                text,
                _evidence(pd.Series(row._asdict()), columns),
                int(row.n_above + row.n_below),
                ("gold/feature_thresholds",),
                row.test,
                float(row.p_value),
            )
        )
    return out


def correlation_candidates(correlations: pd.DataFrame) -> list[Candidate]:
    rows = correlations[
        (correlations["metric"] == "play_count")
        & correlations["p_value"].notna()
        & (correlations["n"] >= MIN_CORRELATION_TRACKS)
    ]
    out = []
    for row in rows.itertuples():
        direction = "more" if row.pearson_r > 0 else "less"
        text = (
            f"The more {row.feature} a track has, the {direction} often you play it "
            f"(Pearson r = {row.pearson_r:.2f} over {row.n} tracks, {p_text(row.p_value)})."
        )
        out.append(
            Candidate(
                row.user_id,
                "correlation",
                row.feature,
                text,
                _evidence(pd.Series(row._asdict()), ["feature", "metric", "pearson_r", "n"]),
                int(row.n),
                ("gold/feature_correlations",),
                CORRELATION_TEST,
                float(row.p_value),
            )
        )
    return out


def habit_candidates(sessions: pd.DataFrame, artists: pd.DataFrame) -> list[Candidate]:
    """Facts about the past with a minimum sample, no claim of a difference."""
    out = []
    if not len(sessions):
        sessions = pd.DataFrame(columns=["user_id", "sessions_with_features", "high_energy_share"])
    if not len(artists):
        artists = pd.DataFrame(columns=["user_id", "period", "rank", "plays"])
    enough = sessions[sessions["sessions_with_features"] >= MIN_SESSIONS]
    enough = enough[enough["high_energy_share"].notna()]
    for user, rows in enough.groupby("user_id", sort=True):
        row = rows.sort_values(["high_energy_share", "day_part"], ascending=[False, True]).iloc[0]
        text = (
            f"{row['high_energy_share']:.0%} of your {row['day_part']} sessions are high-energy "
            f"(of {row['sessions_with_features']} sessions with audio features)."
        )
        evidence = _evidence(row, ["day_part", "high_energy_share", "sessions_with_features"])
        n = int(row["sessions_with_features"])
        out.append(
            Candidate(user, "habit", "sessions", text, evidence, n, ("gold/session_summary",))
        )
    week = artists[(artists["period"] == "week") & (artists["rank"] == 1)]
    for row in week[week["plays"] >= MIN_TOP_PLAYS].itertuples():
        text = (
            f"Your most-played artist of the last week: {row.artist_name} "
            f"({row.minutes:.0f} minutes, {row.plays} plays)."
        )
        evidence = _evidence(pd.Series(row._asdict()), ["artist_name", "minutes", "plays"])
        out.append(
            Candidate(
                row.user_id,
                "habit",
                "top_artist",
                text,
                evidence,
                int(row.plays),
                ("gold/top_artists",),
            )
        )
    return out


# ---- Control and ranking ---------------------------------------------------------------------


def benjamini_hochberg(p_values: list[float]) -> list[float]:
    """Adjusted p-values (step-up), in the input's order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, p_values[i] * m / rank)
        adjusted[i] = min(running, 1.0)
    return adjusted


def said(candidates: list[Candidate]) -> list[Candidate]:
    """The candidates of one listener worth saying, ranked: tested ones that survive
    Benjamini-Hochberg, then habits; at most MAX_SENTENCES."""
    tested = [c for c in candidates if c.p_value is not None]
    for c, adjusted in zip(tested, benjamini_hochberg([c.p_value for c in tested]), strict=True):
        c.p_adjusted = adjusted
    kept = [c for c in tested if c.p_adjusted <= FALSE_DISCOVERY_RATE]
    kept += [c for c in candidates if c.p_value is None]
    kept.sort(key=lambda c: (KIND_ORDER.index(c.kind), c.p_adjusted or 0.0, c.subject))
    return kept[:MAX_SENTENCES]


def insights(sources: dict[str, pd.DataFrame], as_of: dt.date) -> pd.DataFrame:
    """Per listener, the ranked sentences the Gold tables support as of `as_of`.

    `sources` maps table paths (gold/mood_trends, …) to their snapshot rows; a missing or
    empty table contributes no candidates."""

    def table(path: str) -> pd.DataFrame:
        frame = sources.get(path)
        return frame if frame is not None else pd.DataFrame()

    candidates = []
    if len(t := table("gold/mood_trends")):
        candidates += week_candidates(t)
    if len(t := table("gold/mood_trend_tests")):
        candidates += trend_candidates(t)
    if len(t := table("gold/feature_thresholds")):
        candidates += threshold_candidates(t)
    if len(t := table("gold/feature_correlations")):
        candidates += correlation_candidates(t)
    sessions, artists = table("gold/session_summary"), table("gold/top_artists")
    if len(sessions) or len(artists):
        candidates += habit_candidates(sessions, artists)
    by_user: dict[str, list[Candidate]] = {}
    for c in candidates:
        by_user.setdefault(c.user_id, []).append(c)
    rows = []
    for user in sorted(by_user):
        for rank, c in enumerate(said(by_user[user]), start=1):
            rows.append(
                {
                    "user_id": user,
                    "rank": rank,
                    "kind": c.kind,
                    "subject": c.subject,
                    "sentence": c.sentence,
                    "evidence": json.dumps(c.evidence, sort_keys=True),
                    "test": c.test,
                    "p_value": c.p_value,
                    "p_adjusted": c.p_adjusted,
                    "n": c.n,
                    "sources": list(c.sources),
                    "as_of_date": as_of,
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)

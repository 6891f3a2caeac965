"""A listener's recommendations and why, and their insights in words, read from the Gold tables
(no Spark, no retraining).

Behind `moodlake recommend` and `moodlake insights`: they read `gold/recommendations`,
`gold/explanations`, `gold/als_recommendations` and `gold/insights` through delta-rs with
partition filters, so they answer in about a second however large the lake is.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import pandas as pd

from moodlake_dagster import storage
from moodlake_dagster.build_summary import fix_hint
from moodlake_dagster.ingest.privacy import pseudonymize
from moodlake_dagster.tables import (
    ALS_RECOMMENDATIONS,
    EXPLANATIONS,
    INSIGHTS,
    MODEL_METRICS,
    RECOMMENDATIONS,
    Table,
)

KEYS = ["user_id", "day_part", "mode", "rank"]


class ReportError(LookupError):
    """What the person asked for is not in the lake; the message says what is."""


@dataclass
class Report:
    user_id: str
    as_of: dt.date
    mode: str
    day_part: str
    picks: pd.DataFrame
    als_basis: str | None

    def text(self) -> str:
        first = self.picks.iloc[0] if len(self.picks) else None
        head = f"{self.mode.capitalize()} picks for {self.user_id}, {self.day_part}s, "
        head += f"as of {self.as_of}"
        lines = [head]
        if first is not None and self.mode == "coach":
            lines.append(
                f"  one small step up from {first['recent_over']} "
                f"(valence {first['recent_valence']:.2f}, energy {first['recent_energy']:.2f})"
            )
            if first["coach_nudging"]:
                lines.append(
                    f"  after {first['low_valence_days']} low-valence days in a row: "
                    "brighter tracks only"
                )
        if not len(self.picks):
            lines.append("  no track is within the coach's caps for this day part")
        for row in self.picks.itertuples():
            steps = f"Δvalence {row.delta_valence:+.2f}, Δenergy {row.delta_energy:+.2f}"
            score = (
                f"improvement {row.improvement_score:.2f}"
                if self.mode == "coach"
                else f"match {row.match_score:.2f}"
            )
            new = " · new artist" if row.new_artist else ""
            lines.append(f"{row.rank:>3}. {row.track_name} — {row.artists}  [{row.genre}{new}]")
            lines.append(f"     {score}, {steps}")
            if isinstance(row.sentence, str):
                lines.append(f"     {row.sentence}")
        if self.als_basis:
            lines.append(f"Collaborative filtering (ALS): {self.als_basis}.")
        return "\n".join(lines)

    def json(self) -> str:
        columns = [
            "rank",
            "track_id",
            "track_name",
            "artists",
            "genre",
            "match_score",
            "improvement_score",
            "delta_valence",
            "delta_energy",
            "sentence",
        ]
        return json.dumps(
            {
                "user_id": self.user_id,
                "as_of": self.as_of.isoformat(),
                "mode": self.mode,
                "day_part": self.day_part,
                "als_basis": self.als_basis,
                "picks": self.picks.reindex(columns=columns).to_dict("records"),
            },
            indent=2,
            default=str,
        )


def resolve_user(user: str | None, known: list[str], key: bytes) -> str:
    """A pseudonym as stored, or an account name turned into one; the only one if omitted."""
    if user is None:
        if len(known) == 1:
            return known[0]
        raise ReportError(f"several listeners, choose one with --user: {', '.join(known)}")
    for candidate in (user, pseudonymize(user, key)):
        if candidate in known:
            return candidate
    raise ReportError(f"no recommendations for {user!r}; listeners: {', '.join(known)}")


def recommendation_report(
    lake_root: str,
    *,
    user: str | None,
    mode: str,
    day_part: str,
    as_of: dt.date | None,
    key: bytes,
    limit: int = 10,
    storage_options=None,
) -> Report:
    uri = storage.table_uri(lake_root, RECOMMENDATIONS.layer, RECOMMENDATIONS.name)
    if not storage.table_exists(uri, storage_options):
        raise ReportError("no recommendations yet: run `moodlake build` (or materialize them)")
    day = storage.snapshot_day(uri, as_of or dt.date.max, storage_options)
    reasons, built = not_recommended(lake_root, as_of, storage_options)
    if built is not None and (day is None or built > day):
        day = built  # the latest build made no list at all: an older one is not current
    picks = (
        storage.read_frame(uri, [("as_of_date", "=", day)], None, storage_options)
        if day is not None
        else pd.DataFrame(columns=KEYS)
    )
    known = sorted(picks["user_id"].unique())
    if not known and not reasons:
        raise ReportError(f"no recommendations as of {as_of or 'the latest build'}")
    user_id = resolve_user(user, sorted(set(known) | set(reasons)), key)
    if user_id not in known:
        why = reasons.get(user_id, "no list was made")
        raise ReportError(
            f"no recommendations for {user_id} as of {day}: {why}\n  → {fix_hint(why)}"
        )
    picks = picks[
        (picks["user_id"] == user_id) & (picks["mode"] == mode) & (picks["day_part"] == day_part)
    ].sort_values("rank")
    picks = picks.head(limit)
    sentences = _read(lake_root, EXPLANATIONS, day, storage_options)
    if sentences is not None and len(sentences):
        wanted = sentences[sentences["subject"] == "recommendation"][[*KEYS, "sentence"]]
        picks = picks.merge(wanted, on=KEYS, how="left")
    else:
        picks = picks.assign(sentence=None)
    als_rows = _read(lake_root, ALS_RECOMMENDATIONS, day, storage_options)
    basis = None
    if als_rows is not None and (als_rows["user_id"] == user_id).any():
        basis = als_rows.loc[als_rows["user_id"] == user_id, "basis"].iloc[0]
    return Report(user_id, day, mode, day_part, picks.reset_index(drop=True), basis)


def listener_rows(
    uri: str, day: dt.date, user: str | None, key: bytes, storage_options, *, nobody, unknown
) -> tuple[str, pd.DataFrame]:
    """One listener's rows of a snapshot: (pseudonym, rows). `nobody` says the snapshot holds
    no listener; `unknown`, followed by the listeners it holds, that `user` is not one."""
    rows = storage.read_frame(uri, [("as_of_date", "=", day)], None, storage_options)
    known = sorted(rows["user_id"].unique())
    if not known:
        raise ReportError(nobody)
    try:
        user_id = resolve_user(user, known, key)
    except ReportError:
        if user is None:
            raise
        raise ReportError(f"{unknown}: {', '.join(known)}") from None
    return user_id, rows[rows["user_id"] == user_id]


def insights_report(
    lake_root: str,
    *,
    user: str | None,
    as_of: dt.date | None,
    key: bytes,
    storage_options=None,
) -> tuple[str, dt.date, pd.DataFrame]:
    """(listener, snapshot day, their sentences in rank order) from `gold/insights`."""
    uri = storage.table_uri(lake_root, INSIGHTS.layer, INSIGHTS.name)
    if not storage.table_exists(uri, storage_options):
        raise ReportError("no insights yet: run `moodlake build` (or materialize gold/insights)")
    day = storage.snapshot_day(uri, as_of or dt.date.max, storage_options)
    if day is None:
        raise ReportError(f"no insights as of {as_of}: the first build is later")
    user_id, rows = listener_rows(
        uri,
        day,
        user,
        key,
        storage_options,
        nobody=f"the data as of {day} supports no insight about anyone yet",
        unknown=f"nothing the data supports about {user!r} as of {day}; listeners with insights",
    )
    return user_id, day, rows.sort_values("rank")


def not_recommended(
    lake_root: str, as_of: dt.date | None, storage_options=None
) -> tuple[dict[str, str], dt.date | None]:
    """{listener: why no list was made} as recorded in model_metrics by the build as of
    `as_of` (the latest by default), and that build's day."""
    uri = storage.table_uri(lake_root, MODEL_METRICS.layer, MODEL_METRICS.name)
    if not storage.table_exists(uri, storage_options):
        return {}, None
    rows = storage.read_frame(uri, [("model", "=", "match_model")], None, storage_options)
    days = sorted(d for d in rows["as_of_date"].unique() if as_of is None or d <= as_of)
    if not days:
        return {}, None
    latest = rows[(rows["as_of_date"] == days[-1]) & (rows["metric"] == "not_recommended")]
    reasons = dict(note.split(": ", 1) for note in latest["note"].dropna())
    return reasons, days[-1]


def _read(lake_root: str, table: Table, day: dt.date, storage_options) -> pd.DataFrame | None:
    uri = storage.table_uri(lake_root, table.layer, table.name)
    if not storage.table_exists(uri, storage_options):
        return None
    return storage.read_frame(uri, [("as_of_date", "=", day)], None, storage_options)

"""Gold per listener, read through delta-rs by committed Delta version, for `moodlake serve`.

A `Snapshot` is every table the page shows, each read at one committed version: a build
writing meanwhile adds versions the snapshot does not see, so a half-written table is never
served. `Gold` holds the current snapshot and swaps in a new one, whole, when a table's
version has moved (checked at most every few seconds, off the request path). Each listener's
answers are computed once per snapshot as plain JSON-ready dicts, so a request is a lookup.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from deltalake import DeltaTable

from moodlake_dagster import storage
from moodlake_dagster.tables import (
    ALS_RECOMMENDATIONS,
    EXPLANATIONS,
    FEATURE_GAPS,
    GENRE_DISCOVERY,
    GENRE_MIX,
    INSIGHTS,
    LISTENING_BY_DAYPART,
    LISTENING_MODES,
    MODEL_METRICS,
    MOOD_BY_DAY,
    MOOD_BY_HOUR,
    RECOMMENDATIONS,
    USERS,
    Table,
)
from moodlake_dagster.vocabulary import DAY_PARTS, day_part

MODES = ("mirror", "coach")
# The tables the page and the API read; snapshot tables at their latest as_of_date.
READ = (
    USERS,
    MOOD_BY_HOUR,
    LISTENING_BY_DAYPART,
    MOOD_BY_DAY,
    LISTENING_MODES,
    GENRE_MIX,
    GENRE_DISCOVERY,
    FEATURE_GAPS,
    RECOMMENDATIONS,
    EXPLANATIONS,
    ALS_RECOMMENDATIONS,
    INSIGHTS,
    MODEL_METRICS,
)
PICK_COLUMNS = [
    "rank",
    "track_id",
    "track_name",
    "artists",
    "genre",
    "source",
    "new_artist",
    "listening_mode",
    "match_score",
    "improvement_score",
    "valence",
    "energy",
    "delta_valence",
    "delta_energy",
    "sentence",
]
RECOMMENDATION_KEYS = ["user_id", "day_part", "mode", "rank"]
CHECK_EVERY_S = 3.0


class NotFound(LookupError):
    """What a request names is not in the listener's data; the message says so."""


def _plain(value):
    """A JSON-ready scalar: NaN and NaT become None, dates ISO strings, numpy types Python's."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def records(frame: pd.DataFrame, columns: list[str] | None = None) -> list[dict]:
    if columns is not None:
        frame = frame.reindex(columns=columns)
    return [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _local_version(log: Path) -> int | None:
    """The highest committed version in a local `_delta_log`: its commit files are written
    whole (put-if-absent), so a listed one is committed. None if there is none."""
    try:
        names = [entry.name for entry in os.scandir(log)]
    except FileNotFoundError:
        return None
    found = [int(n[:-5]) for n in names if n.endswith(".json") and n[:-5].isdigit()]
    return max(found) if found else None


def versions(lake_root: str, storage_options: Mapping[str, str] | None = None) -> dict:
    """{table path: its latest committed version, or None if not written yet}.

    On a local lake a directory listing per table (microseconds); elsewhere delta-rs."""
    local = "://" not in lake_root or lake_root.startswith("file://")
    found = {}
    for table in READ:
        uri = storage.table_uri(lake_root, table.layer, table.name)
        if local:
            log = Path(uri.removeprefix("file://")) / "_delta_log"
            found[table.path] = _local_version(log)
        elif DeltaTable.is_deltatable(uri, storage_options=dict(storage_options or {}) or None):
            found[table.path] = DeltaTable(uri, storage_options=storage_options).version()
        else:
            found[table.path] = None
    return found


def _read(
    lake_root: str, table: Table, version: int | None, storage_options, filters=None
) -> pd.DataFrame | None:
    if version is None:
        return None
    uri = storage.table_uri(lake_root, table.layer, table.name)
    delta = DeltaTable(uri, version=version, storage_options=storage_options)
    return delta.to_pyarrow_table(filters=filters).to_pandas()


def _latest_day(lake_root: str, table: Table, version: int | None, storage_options):
    if version is None:
        return None
    uri = storage.table_uri(lake_root, table.layer, table.name)
    delta = DeltaTable(uri, version=version, storage_options=storage_options)
    days = {p["as_of_date"] for p in delta.partitions() if p.get("as_of_date")}
    return max(dt.date.fromisoformat(d) for d in days) if days else None


@dataclass
class Listener:
    """One listener's answers, each a JSON-ready dict."""

    user_id: str
    timezone: str
    me: dict
    moods: dict
    modes: dict
    genres: dict
    insights: dict
    recommendations: dict[tuple[str, str], dict]
    explanations: dict[str, dict]

    def current_day_part(self, now: dt.datetime | None = None) -> str:
        now = now or dt.datetime.now(dt.UTC)
        try:
            return day_part(now.astimezone(ZoneInfo(self.timezone)).hour)
        except (ValueError, KeyError):
            return day_part(now.hour)


@dataclass
class Snapshot:
    """Every listener's answers as of one committed version of each table."""

    versions: dict
    listeners: dict[str, Listener] = field(default_factory=dict)
    loaded_at: float = 0.0


def load_snapshot(
    lake_root: str, found: dict, storage_options: Mapping[str, str] | None = None
) -> Snapshot:
    """Read every table at the versions in `found`, and each listener's answers from them."""
    opts = dict(storage_options or {}) or None

    def latest(table: Table) -> tuple[pd.DataFrame | None, dt.date | None]:
        version = found.get(table.path)
        day = _latest_day(lake_root, table, version, opts)
        if day is None:
            return None, None
        return _read(lake_root, table, version, opts, [("as_of_date", "=", day)]), day

    users, users_day = latest(USERS)
    snapshot = Snapshot(versions=dict(found), loaded_at=time.time())
    if users is None or not len(users):
        return snapshot
    by_hour, _ = latest(MOOD_BY_HOUR)
    by_part, _ = latest(LISTENING_BY_DAYPART)
    by_day = _read(lake_root, MOOD_BY_DAY, found.get(MOOD_BY_DAY.path), opts)
    modes, modes_day = latest(LISTENING_MODES)
    mix, _ = latest(GENRE_MIX)
    discovery, _ = latest(GENRE_DISCOVERY)
    gaps, _ = latest(FEATURE_GAPS)
    insights, insights_day = latest(INSIGHTS)
    recs, recs_day = latest(RECOMMENDATIONS)
    reasons, built = _not_recommended(lake_root, found.get(MODEL_METRICS.path), opts)
    if built is not None and (recs_day is None or built > recs_day):
        recs, recs_day = None, built  # the latest build made no list at all
    sentences = als = None
    if recs_day is not None:
        day_filter = [("as_of_date", "=", recs_day)]
        sentences = _read(lake_root, EXPLANATIONS, found.get(EXPLANATIONS.path), opts, day_filter)
        als = _read(
            lake_root, ALS_RECOMMENDATIONS, found.get(ALS_RECOMMENDATIONS.path), opts, day_filter
        )

    def mine(frame: pd.DataFrame | None, user_id: str) -> pd.DataFrame:
        if frame is None or "user_id" not in frame.columns:
            return pd.DataFrame()
        return frame[frame["user_id"] == user_id]

    for user in users.to_dict("records"):
        uid = user["user_id"]
        timezone = user.get("timezone") or "UTC"
        me = {k: _plain(v) for k, v in user.items()}
        me["as_of_date"] = _plain(users_day)
        me["recommendations_as_of"] = _plain(recs_day)
        me["day_parts"] = list(DAY_PARTS)
        me["modes"] = list(MODES)
        hours = mine(by_hour, uid).sort_values("local_hour") if by_hour is not None else None
        parts = mine(by_part, uid)
        if len(parts):
            parts = parts.sort_values(["weekday", "day_part"])
        days = mine(by_day, uid)
        if len(days):
            days = days.sort_values("local_date")
        moods = {
            "user_id": uid,
            "timezone": timezone,
            "by_hour": records(hours.drop(columns=["user_id"])) if hours is not None else [],
            "by_day_part_weekday": records(parts.drop(columns=["user_id"], errors="ignore")),
            "by_day": records(days.drop(columns=["user_id"], errors="ignore")),
        }
        theirs = mine(modes, uid)
        if len(theirs):
            theirs = theirs.sort_values("share", ascending=False)
        mode_rows = records(theirs.drop(columns=["user_id"], errors="ignore"))
        modes_answer = {"user_id": uid, "as_of_date": _plain(modes_day), "modes": mode_rows}
        if not mode_rows:
            modes_answer["why"] = "no listening modes yet: at least 30 plays with audio features"
        top = mine(mix, uid)
        unexplored = mine(discovery, uid)
        if len(unexplored):
            unexplored = unexplored[~unexplored["explored"].astype(bool)]
            unexplored = unexplored.sort_values("affinity", ascending=False).head(10)
        genres = {
            "user_id": uid,
            "top": records(
                (top.sort_values("rank").head(15) if len(top) else top).drop(
                    columns=["user_id"], errors="ignore"
                )
            ),
            "gaps": records(mine(gaps, uid).drop(columns=["user_id"], errors="ignore")),
            "unexplored": records(unexplored.drop(columns=["user_id"], errors="ignore")),
        }
        said = mine(insights, uid)
        insights_answer = {
            "user_id": uid,
            "as_of_date": _plain(insights_day),
            "insights": records(
                (said.sort_values("rank") if len(said) else said).drop(
                    columns=["user_id"], errors="ignore"
                )
            ),
        }
        picks, explained = _recommendations(uid, recs, recs_day, sentences, als, reasons)
        snapshot.listeners[uid] = Listener(
            user_id=uid,
            timezone=timezone,
            me=me,
            moods=moods,
            modes=modes_answer,
            genres=genres,
            insights=insights_answer,
            recommendations=picks,
            explanations=explained,
        )
    return snapshot


def _not_recommended(lake_root: str, version: int | None, opts) -> tuple[dict, dt.date | None]:
    """{listener: why no list was made} from the latest build's model_metrics (reports.py's
    rule, read at a version)."""
    rows = _read(lake_root, MODEL_METRICS, version, opts, [("model", "=", "match_model")])
    if rows is None or not len(rows):
        return {}, None
    latest = max(rows["as_of_date"])
    wanted = rows[(rows["as_of_date"] == latest) & (rows["metric"] == "not_recommended")]
    return dict(note.split(": ", 1) for note in wanted["note"].dropna()), latest


def _recommendations(uid, recs, day, sentences, als, reasons):
    """{(mode, day_part): answer} and {track_id: its explanations} for one listener."""
    theirs = recs[recs["user_id"] == uid] if recs is not None else pd.DataFrame()
    if len(theirs) and sentences is not None and len(sentences):
        wanted = sentences[
            (sentences["subject"] == "recommendation") & (sentences["user_id"] == uid)
        ][[*RECOMMENDATION_KEYS, "sentence"]]
        theirs = theirs.merge(wanted, on=RECOMMENDATION_KEYS, how="left")
    elif len(theirs):
        theirs = theirs.assign(sentence=None)
    basis = None
    if als is not None and len(als) and (als["user_id"] == uid).any():
        basis = _plain(als.loc[als["user_id"] == uid, "basis"].iloc[0])
    why = None
    if not len(theirs):
        reason = reasons.get(uid, "no list was made")
        why = f"no recommendations yet for {uid} as of {day or 'the latest build'}: {reason}"
    answers = {}
    for mode in MODES:
        for part in DAY_PARTS:
            rows = (
                theirs[(theirs["mode"] == mode) & (theirs["day_part"] == part)]
                if len(theirs)
                else theirs
            )
            rows = rows.sort_values("rank") if len(rows) else rows
            answer = {
                "user_id": uid,
                "as_of_date": _plain(day),
                "mode": mode,
                "day_part": part,
                "als_basis": basis,
                "picks": records(rows, PICK_COLUMNS) if len(rows) else [],
            }
            if len(rows):
                first = rows.iloc[0]
                answer["recent"] = {
                    "over": _plain(first.get("recent_over")),
                    "valence": _plain(first.get("recent_valence")),
                    "energy": _plain(first.get("recent_energy")),
                    "low_valence_days": _plain(first.get("low_valence_days")),
                    "coach_nudging": _plain(first.get("coach_nudging")),
                }
            else:
                answer["why"] = why or f"no {mode} pick is within reach for the {part}"
            answers[(mode, part)] = answer
    explained: dict[str, dict] = {}
    if len(theirs) and sentences is not None and len(sentences):
        tracks = set(theirs["track_id"])
        about = sentences[
            sentences["track_id"].isin(tracks)
            & (
                ((sentences["subject"] == "recommendation") & (sentences["user_id"] == uid))
                | (sentences["subject"] == "mood")
            )
        ]
        for track_id in tracks:
            rows = about[about["track_id"] == track_id]
            picked = theirs[theirs["track_id"] == track_id].iloc[0]
            explained[track_id] = {
                "user_id": uid,
                "track_id": track_id,
                "track_name": _plain(picked["track_name"]),
                "artists": _plain(picked["artists"]),
                "as_of_date": _plain(day),
                "explanations": records(
                    rows.drop(columns=["user_id", "as_of_date"], errors="ignore").astype(
                        {"rank": "Int64"}
                    )
                ),
            }
    elif len(theirs):
        for track_id in set(theirs["track_id"]):
            explained[track_id] = {"user_id": uid, "track_id": track_id, "explanations": []}
    return answers, explained


class Gold:
    """The current snapshot, swapped whole when a table's Delta version moves.

    `refresh()` checks the versions at most every `check_every_s` seconds; `start()` runs it
    in a daemon thread so that no request waits for a reload.
    """

    def __init__(
        self,
        lake_root: str,
        storage_options: Mapping[str, str] | None = None,
        check_every_s: float = CHECK_EVERY_S,
    ):
        self.lake_root = lake_root
        self.storage_options = dict(storage_options or {}) or None
        self.check_every_s = check_every_s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.checked_at = 0.0
        self.snapshot = load_snapshot(lake_root, versions(lake_root, self.storage_options))

    def refresh(self, force: bool = False) -> bool:
        """Load a new snapshot if any table has a new committed version; True if it did."""
        with self._lock:
            if not force and time.monotonic() - self.checked_at < self.check_every_s:
                return False
            self.checked_at = time.monotonic()
            found = versions(self.lake_root, self.storage_options)
            if found == self.snapshot.versions:
                return False
            self.snapshot = load_snapshot(self.lake_root, found, self.storage_options)
            return True

    def start(self) -> threading.Thread:
        def loop():
            while not self._stop.wait(self.check_every_s):
                try:
                    self.refresh(force=True)
                except Exception as err:  # a table mid-rewrite, a vacuum: keep the old one
                    print(f"moodlake serve: Gold not reloaded ({err}); serving the last snapshot")

        thread = threading.Thread(target=loop, name="gold-refresh", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    def listener(self, user_id: str) -> Listener | None:
        return self.snapshot.listeners.get(user_id)

    @property
    def known(self) -> list[str]:
        return sorted(self.snapshot.listeners)

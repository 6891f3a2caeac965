"""What changed in the landing folder since the last look, and which play days it touches.

The landing sensor keeps a cursor of every history file it has handed to a run (size, mtime,
content hash and the play days it held). A file is ready when it has been still for a settle
time and parses to its end; a file still being written is waited for, never half-ingested.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from moodlake_dagster.ingest.history import HistorySource, discover_history_files, record_day
from moodlake_dagster.ingest.landing_store import LandingStore
from moodlake_dagster.ingest.records import CHUNK_BYTES, iter_json_stream

CURSOR_VERSION = 1


@dataclass
class FileState:
    size: int
    mtime_ns: int
    sha256: str
    days: list[list[str]]  # closed day ranges [[first, last], ...], compact for multi-year files

    def day_set(self) -> set[dt.date]:
        return set(expand_runs(self.days))


@dataclass
class LandingCursor:
    files: dict[str, FileState] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: str | None) -> LandingCursor:
        if not raw:
            return cls()
        data = json.loads(raw)
        if data.get("version") != CURSOR_VERSION:
            raise ValueError(f"landing cursor version {data.get('version')!r} is not supported")
        return cls({name: FileState(**state) for name, state in data["files"].items()})

    def dump(self) -> str:
        files = {name: vars(state) for name, state in sorted(self.files.items())}
        return json.dumps({"version": CURSOR_VERSION, "files": files}, separators=(",", ":"))


@dataclass
class LandingChanges:
    """One look at the landing folder: what to ingest, what to wait for, what is broken."""

    cursor: LandingCursor
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    waiting: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    days: set[dt.date] = field(default_factory=set)

    @property
    def fingerprint(self) -> str:
        """Identifies this set of changes: the run key, so a repeated tick never repeats work."""
        parts = [f"{name}:{self.cursor.files[name].sha256}" for name in sorted(self.changed)]
        parts += [f"removed:{name}" for name in sorted(self.removed)]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


def compact_runs(days: Iterable[dt.date]) -> list[list[str]]:
    runs: list[list[dt.date]] = []
    for day in sorted(set(days)):
        if runs and (day - runs[-1][1]).days == 1:
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return [[first.isoformat(), last.isoformat()] for first, last in runs]


def expand_runs(runs: list[list[str]]) -> Iterable[dt.date]:
    for first, last in runs:
        day, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
        while day <= end:
            yield day
            day += dt.timedelta(days=1)


def _files_by_location(store: LandingStore) -> dict[str, list[HistorySource]]:
    """History sources grouped by the file that holds them (a zip holds several)."""
    sources, _ = discover_history_files(store)
    grouped: dict[str, list[HistorySource]] = {}
    for source in sources:
        grouped.setdefault(str(source.location), []).append(source)
    return grouped


def read_days(sources: list[HistorySource], now: dt.datetime) -> tuple[set[dt.date], str | None]:
    """Play days held by a file's records, and why it looks unfinished (None when complete)."""
    days: set[dt.date] = set()
    problem = None
    for source in sources:
        try:
            source_days, source_problem = _stream_days(source, now)
        except Exception:
            if source.member is None:
                raise
            # A damaged zip member: the build quarantines it; it holds no day to wait for.
            continue
        days |= source_days
        problem = source_problem or problem
    return days, problem


def _stream_days(source: HistorySource, now: dt.datetime) -> tuple[set[dt.date], str | None]:
    """One source's play days and unfinished state, streamed: a big file is never held."""
    days: set[dt.date] = set()
    problem = None
    with source.open() as stream:
        for value, error, raw in iter_json_stream(stream):
            if error:
                if raw is None or error.startswith("truncated"):
                    label = f"{source.member}: " if source.member else ""
                    problem = f"{label}{error}"
                continue
            day = record_day(value, source.format, now)
            if day is not None:
                days.add(day)
    return days, problem


def _file_sha256(store: LandingStore, relative: PurePosixPath) -> str:
    digest = hashlib.sha256()
    with store.open(relative) as handle:
        while block := handle.read(CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def scan_landing(
    landing: LandingStore | Path | str,
    cursor: LandingCursor,
    *,
    now: dt.datetime,
    settle_s: float,
    patience_s: float,
) -> LandingChanges:
    """Compare the landing folder with `cursor`; return the new cursor and what changed.

    A file modified less than `settle_s` ago is still being written: wait. A file that does
    not parse to its end (truncated, array not closed) is waited for until it has been still
    for `patience_s`; after that it is ingested as it is and its damage quarantined. A removed
    file's days are re-derived too, so its plays leave the lake.
    """
    store = LandingStore.of(landing)
    stats = {str(f.relative): f for f in store.files()}
    files = _files_by_location(store)
    result = LandingChanges(LandingCursor(dict(cursor.files)))
    now_s = now.timestamp()
    for name, sources in files.items():
        stat = stats[name]
        old = cursor.files.get(name)
        if old and (old.size, old.mtime_ns) == (stat.size, stat.mtime_ns):
            continue
        still_for = now_s - stat.mtime_ns / 1e9
        if still_for < settle_s:
            result.waiting[name] = (
                f"modified {still_for:.0f} s ago; waiting until it has been unchanged for "
                f"{settle_s:.0f} s"
            )
            continue
        digest = _file_sha256(store, stat.relative)
        if old and old.sha256 == digest:  # touched, not changed
            result.cursor.files[name] = FileState(stat.size, stat.mtime_ns, digest, old.days)
            continue
        days, problem = read_days(sources, now)
        if problem and still_for < patience_s:
            result.waiting[name] = (
                f"{problem}; waiting for the writer to finish (up to {patience_s:.0f} s)"
            )
            continue
        if problem:
            result.problems[name] = f"{problem}; ingested as it is, the damage is quarantined"
        result.cursor.files[name] = FileState(stat.size, stat.mtime_ns, digest, compact_runs(days))
        result.changed.append(name)
        result.days |= days | (old.day_set() if old else set())
    for name in sorted(set(cursor.files) - set(files)):
        result.removed.append(name)
        result.days |= result.cursor.files.pop(name).day_set()
    return result

"""What each landing history file held, remembered by its content, so that a run over a few
days reads only the files with records on those days.

A run must account for every file in the landing folder (its records, bad records, unknown
fields and the days its plays span), and it used to parse every record of every file to do so:
a new day of a thousand listeners' histories spent most of its events stage re-reading the
files of the days before. A summary is keyed by the file's SHA-256 and format, and the summaries
by the code that parsed them (the parser and what it imports): a changed file, or new parsing
code, is read again.

A file is passed over unread only where nothing in it can matter to the run: none of its records
with a day (landed or bad) falls on the run's days, and it has no bad record without a day
(every run keeps those, and a time stamp in the future today may be a play tomorrow). The
summaries hold counts, days and field names: nothing about a listener.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import platform
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from moodlake_dagster.fingerprints import source_version

log = logging.getLogger(__name__)

Span = tuple[dt.date, dt.date]


@dataclass
class FileSummary:
    records: int = 0
    bad: int = 0
    unknown_fields: Counter = field(default_factory=Counter)
    play_days: Span | None = None  # the days of its landed plays
    dated: Span | None = None  # the days of every record that has one, landed or bad
    undated_bad: int = 0
    read_at: dt.datetime | None = None  # the clock of the run that read it

    def saw(self, day: dt.date | None, *, landed: bool) -> None:
        """One record of the file: a landed play on `day`, or a bad record (`day` None where
        it has none)."""
        if day is None:
            self.undated_bad += 1
            return
        self.dated = _widen(self.dated, day)
        if landed:
            self.play_days = _widen(self.play_days, day)

    def can_pass_over(self, start: dt.date, end: dt.date, now: dt.datetime) -> bool:
        """Whether a run over [start, end] at `now` may take this summary instead of reading
        the file. A clock behind the one that read it could find some of its plays in the
        future."""
        if self.undated_bad or self.read_at is None or now < self.read_at:
            return False
        return self.dated is None or self.dated[1] < start or self.dated[0] > end

    def to_json(self) -> dict:
        return {
            "records": self.records,
            "bad": self.bad,
            "unknown_fields": dict(self.unknown_fields),
            "play_days": _span_json(self.play_days),
            "dated": _span_json(self.dated),
            "undated_bad": self.undated_bad,
            "read_at": self.read_at.isoformat() if self.read_at else None,
        }

    @classmethod
    def from_json(cls, data: dict) -> FileSummary:
        return cls(
            records=int(data["records"]),
            bad=int(data["bad"]),
            unknown_fields=Counter(data["unknown_fields"]),
            play_days=_span(data["play_days"]),
            dated=_span(data["dated"]),
            undated_bad=int(data["undated_bad"]),
            read_at=dt.datetime.fromisoformat(data["read_at"]) if data.get("read_at") else None,
        )


def _widen(span: Span | None, day: dt.date) -> Span:
    return (day, day) if span is None else (min(span[0], day), max(span[1], day))


def _span_json(span: Span | None) -> list[str] | None:
    return None if span is None else [span[0].isoformat(), span[1].isoformat()]


def _span(value: list[str] | None) -> Span | None:
    return (
        None
        if value is None
        else (dt.date.fromisoformat(value[0]), dt.date.fromisoformat(value[1]))
    )


class FileSummaries:
    """The summaries of one landing folder's files, in one JSON file (under the home)."""

    def __init__(self, path: Path, code: str):
        self.path, self.code = path, code
        self._known = self._read()
        self._seen: dict[str, FileSummary] = {}

    def _read(self) -> dict[str, FileSummary]:
        try:
            data = json.loads(self.path.read_text())
            if data.get("code") != self.code:
                return {}  # parsed by other code: every file is read again
            return {key: FileSummary.from_json(s) for key, s in data["files"].items()}
        except FileNotFoundError:
            return {}
        except Exception as err:  # a cache: the files are read instead
            log.warning(f"file summaries in {self.path} unreadable ({err!r}): reading every file")
            return {}

    def get(self, sha256: str, fmt: str) -> FileSummary | None:
        summary = self._known.get(f"{sha256}:{fmt}")
        if summary is not None:
            self._seen[f"{sha256}:{fmt}"] = summary
        return summary

    def put(self, sha256: str, fmt: str, summary: FileSummary) -> None:
        self._seen[f"{sha256}:{fmt}"] = summary

    def save(self) -> None:
        """Keep the summaries of the files this run saw (a file gone from the landing folder
        takes its summary with it), written whole or not at all."""
        data = {"code": self.code, "files": {k: s.to_json() for k, s in self._seen.items()}}
        temp = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=self.path.parent, prefix=".summaries-")
            with os.fdopen(fd, "w") as out:
                json.dump(data, out)
            os.replace(temp, self.path)
        except OSError as err:  # a cache: the next run reads the files again
            log.warning(f"file summaries not saved to {self.path} ({err!r})")
            if temp is not None:
                Path(temp).unlink(missing_ok=True)


# The code a summary comes from: the history parser, the summaries, and what they import.
PARSER = ("moodlake_dagster.ingest.history", "moodlake_dagster.ingest.file_summaries")


def kept_at(path: Path) -> FileSummaries:
    """The summaries kept at `path` (`Settings.landing_summaries`), for the code and the
    Python that parse the files now (a change to code the parser does not import, a model's
    or an asset's, keeps them)."""
    return FileSummaries(path, f"{source_version(*PARSER)}-{platform.python_version()}")

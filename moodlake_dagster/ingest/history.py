"""Parse Spotify listening-history files (every export kind) into Bronze rows.

Formats, recognised by file name (`FORMATS`):
- account-data export ("basic"): `StreamingHistory<N>.json` / `StreamingHistory_music_<N>.json`
  (endTime "YYYY-MM-DD HH:MM" UTC, artistName, trackName, msPlayed), and beside them
  `StreamingHistory_podcast_<N>.json` (podcastName, episodeName) and, since 2024,
  `StreamingHistory_audiobook_<N>.json` (audiobookName, chapterName, authorName);
- Extended Streaming History: `Streaming_History_Audio_*.json` (ts = when the stream ended)
  and `Streaming_History_Video_*.json` (same fields; lands as content_type "video");
- legacy extended: `endsong_<N>.json` (adds username, ip_addr_decrypted, user_agent_decrypted).

Every record lands, with its `content_type` (track, episode, audiobook, video), or goes to
quarantine; what counts as a music play is Silver's decision. A play's day is the UTC day it
*started* (end − ms played), as ListenBrainz and Last.fm count it. Every other file is
reported with the reason it was not read.

Files may also arrive inside the `.zip` Spotify sends; its members are read in place.
The account a file belongs to is its `username` field where present, else the first folder
under the landing root (`landing/alice/...` is alice), else MOODLAKE_DEFAULT_USER.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
import zipfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import IO, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from moodlake_dagster.ingest.file_summaries import FileSummaries, FileSummary
from moodlake_dagster.ingest.landing_store import LandingStore
from moodlake_dagster.ingest.privacy import DROPPED_FIELDS, pseudonymize
from moodlake_dagster.ingest.records import CHUNK_BYTES, BadRecord, iter_json_stream, safe_raw
from moodlake_dagster.ml import parallel
from moodlake_dagster.tables import LISTENING_EVENTS
from moodlake_dagster.vocabulary import EPISODE_FIELDS

# (format, file name): the first match claims a file.
FORMATS = (
    ("extended", re.compile(r"^Streaming_History_Audio_.*\.json$")),
    ("extended_video", re.compile(r"^Streaming_History_Video_.*\.json$")),
    ("endsong", re.compile(r"^endsong(_\d+)?\.json$")),
    ("basic", re.compile(r"^StreamingHistory(_music_)?\d+\.json$")),
    ("basic_podcast", re.compile(r"^StreamingHistory_podcast_\d+\.json$")),
    ("basic_audiobook", re.compile(r"^StreamingHistory_audiobook_\d+\.json$")),
)
# The record layout each format shares (`source_format` in Bronze and Silver).
SOURCE_FORMAT = {
    "extended": "extended",
    "extended_video": "extended",
    "endsong": "endsong",
    "basic": "basic",
    "basic_podcast": "basic",
    "basic_audiobook": "basic",
}
# The rest of an account-data export: named so the summary can say what they are.
_ACCOUNT_NAMES = (
    r"YourLibrary|Playlist|Userdata|Identity|Identifiers|Payments|Inferences|FamilyPlan|"
    r"DuoNewFamily|Follow|SearchQueries|Marquee|YourSoundCapsule|Wrapped|YourPodcasts?|"
    r"Read_Me_First"
)
_ACCOUNT_DATA = re.compile(rf"^(?:{_ACCOUNT_NAMES})\d*\b.*$", re.IGNORECASE)
_PARTIAL = (".part", ".crdownload", ".tmp")
# Spotify's own names for what its exports hold, kept in clear in lineage (with the `_GENERATED`
# mark MoodLake's generator adds). Strict on purpose: a name that merely begins like one
# ("Streaming_History_Audio_alice.json") is pseudonymized.
_SPOTIFY_NAMES = re.compile(
    r"^(?:"
    r"(?:Streaming_History_(?:Audio|Video)_[\d_-]+|endsong(?:_\d+)?|"
    r"StreamingHistory(?:_music_|_podcast_|_audiobook_)?\d+)(?<!_)(?:_GENERATED)?\.json|"
    rf"(?:{_ACCOUNT_NAMES})[\d_]*\.(?:json|pdf)|"
    r"MyData|my_spotify_data(?:\.zip)?|"
    r"Spotify (?:Account Data|Extended Streaming History|Technical Log Information)(?:\.zip)?"
    r")$"
)
_KEPT_SUFFIXES = (".zip", ".json")

_EXTENDED_FIELDS = {
    "ts",
    "platform",
    "ms_played",
    "conn_country",
    "master_metadata_track_name",
    "master_metadata_album_artist_name",
    "master_metadata_album_album_name",
    "spotify_track_uri",
    *EPISODE_FIELDS,
    "reason_start",
    "reason_end",
    "shuffle",
    "skipped",
    "offline",
    "offline_timestamp",
    "incognito_mode",
}
KNOWN_FIELDS = {
    "basic": {"endTime", "artistName", "trackName", "msPlayed"},
    "basic_podcast": {"endTime", "podcastName", "episodeName", "msPlayed"},
    "basic_audiobook": {"endTime", "audiobookName", "chapterName", "authorName", "msPlayed"},
    "extended": _EXTENDED_FIELDS,
    "extended_video": _EXTENDED_FIELDS,
    "endsong": _EXTENDED_FIELDS,
}

# A clock a few minutes ahead is not an error; a play from tomorrow is.
FUTURE_TOLERANCE = dt.timedelta(minutes=5)
# Below this many bytes of history to read, worker processes cost more than they save.
PARALLEL_MIN_BYTES = 4 * 1024 * 1024
# Parsed rows become an Arrow record batch this often: a big file's rows are held as Arrow
# columns, not as a dict each.
BATCH_ROWS = 5_000


class RecordError(ValueError):
    """A record that cannot land; the message is the quarantine reason."""


class PassedOver(NamedTuple):
    """A file no parser claims, and why (lineage path: names not Spotify's pseudonymized)."""

    path: str
    reason: str


@dataclass
class FileReport:
    source_file: str
    format: str
    sha256: str
    records: int = 0
    bad: int = 0
    unknown_fields: Counter = field(default_factory=Counter)
    duplicate_of: str | None = None
    unread: bool = False  # accounted for from its summary: nothing in it on the run's days


class HistoryBatch:
    """What `parse_history` read: the landed rows (`rows`, an Arrow table; `events` gives
    them as dicts, for small batches), bad records, every file's report and the files passed
    over. Parsed for the days `days` only, rows and dated bad records of other days are
    counted in their file's records but not kept.
    """

    def __init__(
        self,
        events: list[dict] | None = None,
        bad: list[BadRecord] | None = None,
        files: list[FileReport] | None = None,
        passed_over: list[PassedOver] | None = None,
        *,
        rows: pa.Table | None = None,
        days: tuple[dt.date, dt.date] = (dt.date.min, dt.date.max),
        play_days: tuple[dt.date, dt.date] | None = None,
    ) -> None:
        self._events = events
        self.rows = rows if rows is not None else events_table(events or [])
        self.bad = bad if bad is not None else []
        self.files = files if files is not None else []
        self.passed_over = passed_over if passed_over is not None else []
        self.days = days
        self.play_days = play_days

    @cached_property
    def events(self) -> list[dict]:
        """The landed rows as dicts (every column of the Bronze schema)."""
        return self._events if self._events is not None else self.rows.to_pylist()

    @property
    def records_in(self) -> int:
        return sum(f.records for f in self.files)

    @property
    def ignored_files(self) -> list[str]:
        return [p.path for p in self.passed_over]

    def unknown_field_messages(self) -> list[str]:
        return [
            f"{f.source_file}: unknown field {name!r} in {n} record(s); dropped, record kept"
            for f in self.files
            for name, n in sorted(f.unknown_fields.items())
        ]


def history_format(name: str) -> str | None:
    """The export format a file name belongs to (None for anything else)."""
    for fmt, pattern in FORMATS:
        if pattern.match(name):
            return fmt
    return None


def pass_over_reason(name: str) -> str:
    """Why a file that is not listening history was not read, in the user's words."""
    if re.match(r"(?i)profiles.*\.(csv|json)$", name):
        return "listener profiles: read by bronze/profiles, not as listening history"
    if not name.lower().endswith(".json"):
        return "not a JSON file: not read"
    if _ACCOUNT_DATA.match(name):
        return "account data, not listening history (library, playlists, profile, …): not read"
    return (
        "no parser claims this file name (StreamingHistory*, Streaming_History_Audio_* / "
        "_Video_*, endsong_*): not read"
    )


@dataclass(frozen=True)
class HistorySource:
    """One history file: a JSON file under the landing folder or a member of a `.zip` there.

    `location` is the file relative to the landing folder (the archive for a member); its
    first folder, if any, names the account.
    """

    landing: LandingStore
    location: PurePosixPath
    format: str
    member: str | None = None
    size: int = 0  # bytes to read (a member's uncompressed size)

    @contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        """The file as a binary stream (a zip member is decompressed as it is read)."""
        with self.landing.open(self.location) as handle:
            if self.member is None:
                yield handle
                return
            with zipfile.ZipFile(handle) as archive, archive.open(self.member) as member:
                yield member

    def sha256(self) -> str:
        """The content's hash, read in chunks (a zip member's CRC is checked at its end)."""
        digest = hashlib.sha256()
        with self.open() as stream:
            while block := stream.read(CHUNK_BYTES):
                digest.update(block)
        return digest.hexdigest()

    def lineage(self, key: bytes) -> str:
        """Path for lineage columns (`archive.zip/member`), names that are not Spotify's
        pseudonymized."""
        base = lineage_path(self.location, key)
        return f"{base}/{member_lineage(self.member, key)}" if self.member else base


def archive_members(handle) -> tuple[list[tuple[str, str, int]], list[tuple[str, str]]]:
    """(member, format, size) of the history files inside a zip, and (member, reason) of the
    rest."""
    found, passed = [], []
    with zipfile.ZipFile(handle) as archive:
        for info in sorted(archive.infolist(), key=lambda info: info.filename):
            member = info.filename
            name = PurePosixPath(member).name
            if member.endswith("/") or name.startswith("."):
                continue
            fmt = history_format(name)
            if fmt:
                found.append((member, fmt, info.file_size))
            else:
                passed.append((member, pass_over_reason(name)))
    return found, passed


def discover_history_files(
    landing: LandingStore | Path | str,
) -> tuple[list[HistorySource], list[tuple[str, str]]]:
    """History files under `landing` (recursively, sorted; zips opened), and every other file
    with the reason it is not read. Hidden files are not looked at; partial downloads
    (`.part`, `.crdownload`, `.tmp`) are listed as not history yet.
    """
    store = LandingStore.of(landing)
    found: list[HistorySource] = []
    passed: list[tuple[str, str]] = []
    for landed in store.files():
        relative = landed.relative
        if any(part.startswith(".") for part in relative.parts):
            continue
        if relative.suffix in _PARTIAL:
            passed.append((str(relative), "partial download: read once it is complete"))
        elif relative.suffix == ".zip":
            try:
                with store.open(relative) as handle:
                    members, inside = archive_members(handle)
            except zipfile.BadZipFile:
                passed.append((str(relative), "not a readable zip archive"))
                continue
            found += [
                HistorySource(store, relative, fmt, member, size) for member, fmt, size in members
            ]
            passed += [(f"{relative}/{member}", why) for member, why in inside]
        elif fmt := history_format(relative.name):
            found.append(HistorySource(store, relative, fmt, size=landed.size))
        else:
            passed.append((str(relative), pass_over_reason(relative.name)))
    return found, passed


def account_label(location: PurePosixPath, default_user: str) -> str:
    return location.parts[0] if len(location.parts) > 1 else default_user


def lineage_path(relative: PurePosixPath, key: bytes) -> str:
    """The file's path under the landing folder (a zip member's after the archive's) as lineage
    columns may carry it.

    Folder names are account names, and an operator may name a folder or an archive after a
    person (`alice_smith.zip`): the account folder (a first part that is not an archive) is
    always pseudonymized, every other part too unless it is one of Spotify's own names."""
    parts = relative.parts
    folder = len(parts) > 1 and not parts[0].lower().endswith(".zip")
    account = [pseudonymize(parts[0], key)] if folder else []
    rest = (_clear_or_pseudonym(part, key) for part in parts[len(account) :])
    return str(PurePosixPath(*account, *rest))


def member_lineage(member: str, key: bytes) -> str:
    """A zip member's path (`folder/file.json`), each part kept only if it is Spotify's name."""
    return "/".join(_clear_or_pseudonym(part, key) for part in PurePosixPath(member).parts)


def _clear_or_pseudonym(part: str, key: bytes) -> str:
    if _SPOTIFY_NAMES.match(part):
        return part
    suffix = next((s for s in _KEPT_SUFFIXES if part.lower().endswith(s)), "")
    return pseudonymize(part[: len(part) - len(suffix)], key) + suffix


def _is_basic(fmt: str) -> bool:
    return SOURCE_FORMAT[fmt] == "basic"


def _parse_ts(value: object, fmt: str) -> dt.datetime:
    if not isinstance(value, str) or not value:
        raise RecordError(f"missing or non-text time stamp ({value!r:.100})")
    try:
        if _is_basic(fmt):
            parsed = dt.datetime.strptime(value, "%Y-%m-%d %H:%M")
        else:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as err:
        raise RecordError(f"unparseable time stamp {value!r:.100}") from err
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError as err:  # year 1 or 9999 with an offset: no UTC time exists
        raise RecordError(f"time stamp {value!r} is out of range in UTC") from err


def _typed(record: dict, name: str, kind: type | tuple[type, ...]) -> object:
    value = record.get(name)
    if value is None:
        return None
    # The usual case, about 20 fields a record: exactly the type asked for, no float (which
    # may be infinite) and ASCII text (which holds no lone surrogate).
    plain = type(value) is kind and kind is not float
    if plain and (kind is not str or value.isascii() or _is_unicode(value)):
        return value
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and int in kinds and bool not in kinds:
        raise RecordError(f"field {name!r} should be a number, got {value!r}")
    if not isinstance(value, kind):
        raise RecordError(f"field {name!r} has the wrong type ({type(value).__name__})")
    if isinstance(value, str) and not _is_unicode(value):
        raise RecordError(f"field {name!r} holds a lone surrogate (\\u escape), not text")
    if isinstance(value, float) and not math.isfinite(value):
        raise RecordError(f"field {name!r} is not a finite number ({value!r})")
    return value


def _is_unicode(text: str) -> bool:
    """Text UTF-8 can hold: JSON's `\\ud800` escapes decode to lone surrogates, which no
    table column can store."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def play_day(ended: dt.datetime, ms_played: int | None) -> dt.date:
    """The UTC day a play started: exports stamp the end, listening tools count the start."""
    return (ended - dt.timedelta(milliseconds=ms_played or 0)).date()


_BASIC_TEXT = {
    "basic": {"track_name": "trackName", "artist_name": "artistName"},
    "basic_podcast": {"episode_name": "episodeName", "episode_show_name": "podcastName"},
    # The author goes where a track's artist goes: a public credit, like an artist's name.
    "basic_audiobook": {
        "audiobook_title": "audiobookName",
        "audiobook_chapter_title": "chapterName",
        "artist_name": "authorName",
    },
}
_BASIC_KIND = {"basic": "track", "basic_podcast": "episode", "basic_audiobook": "audiobook"}
_EXTENDED_TEXT = {
    "track_name": "master_metadata_track_name",
    "artist_name": "master_metadata_album_artist_name",
    "album_name": "master_metadata_album_album_name",
    "track_uri": "spotify_track_uri",
    "episode_name": "episode_name",
    "episode_show_name": "episode_show_name",
    "episode_uri": "spotify_episode_uri",
    "audiobook_title": "audiobook_title",
    "audiobook_chapter_title": "audiobook_chapter_title",
    "reason_start": "reason_start",
    "reason_end": "reason_end",
    "platform": "platform",
    "conn_country": "conn_country",
}


def conform(record: object, fmt: str, now: dt.datetime) -> dict:
    """One export record → one Bronze row (without user and lineage columns)."""
    if not isinstance(record, dict):
        raise RecordError(f"expected a JSON object, got {type(record).__name__}")
    ts = _parse_ts(record.get("endTime" if _is_basic(fmt) else "ts"), fmt)
    if ts > now + FUTURE_TOLERANCE:
        raise RecordError(f"time stamp {ts.isoformat()} is in the future")
    ms = _typed(record, "msPlayed" if _is_basic(fmt) else "ms_played", int)
    if ms is None or ms < 0:
        raise RecordError(f"missing or negative ms played ({ms!r})")
    try:
        day = play_day(ts, ms)
    except OverflowError as err:
        raise RecordError(f"ms played {ms} starts the play before year 1") from err
    username = record.get("username")
    if isinstance(username, str) and not _is_unicode(username):
        raise RecordError("field 'username' holds a lone surrogate (\\u escape), not text")
    row = {
        "play_date": day,
        "ts": ts,
        "ms_played": ms,
        "source_format": SOURCE_FORMAT[fmt],
    }
    if _is_basic(fmt):
        for column, source in _BASIC_TEXT[fmt].items():
            row[column] = _typed(record, source, str)
        row["content_type"] = _BASIC_KIND[fmt]
        return row
    for column, source in _EXTENDED_TEXT.items():
        row[column] = _typed(record, source, str)
    row["audiobook_uri"] = _typed(record, "audiobook_uri", str) or _typed(
        record, "audiobook_chapter_uri", str
    )
    for flag in ("shuffle", "skipped", "offline", "incognito_mode"):
        row[flag] = _typed(record, flag, bool)
    offline_ts = _typed(record, "offline_timestamp", (int, float))
    if offline_ts is not None and not -(2**63) <= offline_ts < 2**63:
        raise RecordError(f"field 'offline_timestamp' is out of range ({offline_ts!r})")
    row["offline_timestamp"] = int(offline_ts) if offline_ts is not None else None
    row["content_type"] = (
        "video"
        if fmt == "extended_video"
        else "track"
        if row["track_uri"]
        else "episode"
        if row["episode_uri"]
        else "audiobook"
        if row["audiobook_uri"]
        else "unknown"
    )
    return row


@dataclass(frozen=True)
class _ReadJob:
    """One file to stream, and what the first pass learned of it."""

    file: HistorySource
    source: str
    digest: str
    duplicate_of: str | None
    remembers: bool  # whether its summary is kept (a duplicate's is not)


@dataclass(frozen=True)
class _RunTerms:
    """What every file's read of one run shares."""

    key: bytes
    default_user: str
    now: dt.datetime
    batch_id: str
    ingested_at: dt.datetime
    start: dt.date
    end: dt.date


@dataclass
class _FileRead:
    """One file's part of a parse: its summary (records, bad ones, unknown fields, days), its
    bad records of the run's days and its rows of them (Arrow)."""

    summary: FileSummary
    bad: list[BadRecord] = field(default_factory=list)
    batches: list[pa.RecordBatch] = field(default_factory=list)


def _read_file(job: _ReadJob, run: _RunTerms) -> _FileRead:
    """Stream one history file: each record lands, is quarantined or is only counted. Depends
    on nothing but the file and the run, so files are read in any process, in any order; an
    error that is not a record's says which file (a worker's traceback does not)."""
    try:
        return _read(job, run)
    except Exception as err:
        err.add_note(f"while reading the history file {job.source}")
        raise


def _read(job: _ReadJob, run: _RunTerms) -> _FileRead:
    fmt, source, start, end = job.file.format, job.source, run.start, run.end
    summary = FileSummary(read_at=run.now)
    read = _FileRead(summary)
    pending: list[dict] = []

    def keep_bad(record: BadRecord) -> None:
        if record.record_date is None or start <= record.record_date <= end:
            read.bad.append(record)

    folder_user = pseudonymize(account_label(job.file.location, run.default_user), run.key)
    with job.file.open() as stream:  # UTF-8; a re-saved file's BOM is dropped
        for index, (value, error, raw) in enumerate(iter_json_stream(stream)):
            summary.records += 1
            if error:
                keep_bad(BadRecord(source, None if raw is None else index, error, safe_raw(raw)))
                summary.bad += 1
                summary.saw(None, landed=False)
                continue
            try:
                row = conform(value, fmt, run.now)
            except RecordError as err:
                day = record_day(value, fmt, run.now)
                keep_bad(BadRecord(source, index, str(err), safe_raw(value), day))
                summary.bad += 1
                summary.saw(day, landed=False)
                continue
            if job.duplicate_of:
                reason = f"duplicate file: byte-identical to {job.duplicate_of}"
                keep_bad(BadRecord(source, index, reason, None, row["play_date"]))
                summary.bad += 1
                continue
            summary.unknown_fields.update(set(value) - KNOWN_FIELDS[fmt] - DROPPED_FIELDS)
            day = row["play_date"]
            summary.saw(day, landed=True)
            if not start <= day <= end:
                continue
            username = value.get("username")
            row["user_id"] = (
                pseudonymize(username, run.key)
                if isinstance(username, str) and username
                else folder_user
            )
            row |= {
                "_source_file": source,
                "_record_index": index,
                "_ingested_at": run.ingested_at,
                "_batch_id": run.batch_id,
            }
            pending.append(row)
            if len(pending) >= BATCH_ROWS:
                read.batches.append(pa.RecordBatch.from_pylist(pending, LISTENING_EVENTS.schema))
                pending = []
    if pending:
        read.batches.append(pa.RecordBatch.from_pylist(pending, LISTENING_EVENTS.schema))
    return read


def _worth_processes(files: list[HistorySource], workers: int | None) -> bool:
    """Whether reading `files` is worth worker processes: more than one of each, and enough
    bytes to read (starting the workers costs about a second) unless `workers` is given."""
    if (workers or parallel.workers()) == 1 or len(files) < 2:
        return False
    return workers is not None or sum(file.size for file in files) >= PARALLEL_MIN_BYTES


def parse_history(
    landing: LandingStore | Path | str,
    *,
    key: bytes,
    default_user: str,
    now: dt.datetime,
    batch_id: str,
    ingested_at: dt.datetime,
    start: dt.date = dt.date.min,
    end: dt.date = dt.date.max,
    summaries: FileSummaries | None = None,
    workers: int | None = None,
) -> HistoryBatch:
    """Parse every history file under `landing`; each record lands or is quarantined.

    Files are streamed, never read whole. Only the rows of the days [start, end] are kept
    (as Arrow record batches), and only the bad records of those days or of no readable day:
    a run over those days owns nothing else (`HistoryRun`), and every record still counts in
    its file's `records`, so a one-day run of a big file holds one day of it. With
    `summaries`, a file with nothing on those days is accounted for from its summary, unread.

    A first pass hashes every file in order (a duplicate is known before its records are);
    then the files are read, in worker processes when there are enough bytes to read
    (`workers`: 1 reads here, None decides by size), and put together in file order: the same
    batch whichever process read which file.
    """
    files, passed = discover_history_files(landing)
    bad_by_file: list[list[BadRecord]] = []
    reports: list[FileReport] = []
    jobs: dict[int, _ReadJob] = {}
    seen_hashes: dict[str, str] = {}
    first_day, last_day = dt.date.max, dt.date.min
    for file in files:
        fmt = file.format
        source = file.lineage(key)
        try:
            digest = file.sha256()
        except Exception as err:
            # A damaged zip member (CRC, deflate stream, header) is that one file's problem; a
            # plain file that cannot be read is the store's, and fails the run.
            if file.member is None:
                raise
            reports.append(FileReport(source, fmt, "", records=1, bad=1))
            reason = f"unreadable member of a damaged zip archive ({type(err).__name__}: {err})"
            bad_by_file.append([BadRecord(source, None, reason)])
            continue
        report = FileReport(source, fmt, digest)
        first = seen_hashes.setdefault(report.sha256, source)
        report.duplicate_of = first if first != source else None
        reports.append(report)
        bad_by_file.append([])
        # A duplicate's records are judged against another file: it is always read.
        remembers = summaries is not None and not report.duplicate_of
        known = summaries.get(digest, fmt) if remembers else None
        if known is not None and known.can_pass_over(start, end, now):
            report.records, report.bad, report.unread = known.records, known.bad, True
            report.unknown_fields.update(known.unknown_fields)
            if known.play_days:
                first_day = min(first_day, known.play_days[0])
                last_day = max(last_day, known.play_days[1])
            continue
        jobs[len(reports) - 1] = _ReadJob(file, source, digest, report.duplicate_of, remembers)

    run = _RunTerms(key, default_user, now, batch_id, ingested_at, start, end)
    todo = list(jobs.values())
    if _worth_processes([job.file for job in todo], workers):
        # A file at a time: a worker hands back one file's rows, not a chunk of files'.
        reads = parallel.in_processes(
            _read_file, [(job, run) for job in todo], n_workers=workers, chunk=1
        )
    else:
        reads = [_read_file(job, run) for job in todo]
    batches: list[pa.RecordBatch] = []
    for (at, job), read in zip(jobs.items(), reads, strict=True):
        report, summary = reports[at], read.summary
        report.records, report.bad = summary.records, summary.bad
        report.unknown_fields.update(summary.unknown_fields)
        bad_by_file[at] = read.bad
        batches += read.batches
        if summary.play_days:
            first_day = min(first_day, summary.play_days[0])
            last_day = max(last_day, summary.play_days[1])
        if job.remembers:
            summaries.put(job.digest, job.file.format, summary)
    if summaries is not None:
        summaries.save()
    passed_over = [PassedOver(lineage_path(PurePosixPath(p), key), why) for p, why in passed]
    return HistoryBatch(
        None,
        [record for found in bad_by_file for record in found],
        reports,
        passed_over,
        rows=pa.Table.from_batches(batches, LISTENING_EVENTS.schema),
        days=(start, end),
        play_days=(first_day, last_day) if first_day <= last_day else None,
    )


def play_day_span(
    landing: LandingStore | Path | str,
    now: dt.datetime,
    summaries: FileSummaries | None = None,
) -> tuple[dt.date, dt.date] | None:
    """First and last play day of the records that would land (None: none would), with no
    row kept: every file is streamed and judged as `parse_history` judges it (or taken from
    its summary)."""
    batch = parse_history(
        landing,
        key=b"range-scan",
        default_user="-",
        now=now,
        batch_id="scan",
        ingested_at=now,
        start=dt.date.max,
        end=dt.date.min,
        summaries=summaries,
    )
    return batch.play_days


def record_day(value: object, fmt: str, now: dt.datetime) -> dt.date | None:
    """The play day of a record when its time stamp is still readable and not future
    (the end day when its ms played is unreadable)."""
    if not isinstance(value, dict):
        return None
    try:
        ts = _parse_ts(value.get("endTime" if _is_basic(fmt) else "ts"), fmt)
    except RecordError:
        return None
    if ts > now + FUTURE_TOLERANCE:
        return None
    ms = value.get("msPlayed" if _is_basic(fmt) else "ms_played")
    readable = isinstance(ms, int) and not isinstance(ms, bool) and ms >= 0
    try:
        return play_day(ts, ms if readable else 0)
    except OverflowError:
        return ts.date()


def events_table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=LISTENING_EVENTS.schema)


def content_kind(event: dict) -> str:
    """What a landed record is, in the words the build summary uses."""
    kind = event["content_type"]
    if kind != "track":
        return {"episode": "podcast"}.get(kind, kind)
    if event.get("incognito_mode"):
        return "private session"
    return "0 ms (never sounded)" if event["ms_played"] == 0 else "music"


def file_accounting(batch: HistoryBatch, landed: list[dict], bad: list[BadRecord]) -> list[dict]:
    """Every file in the landing folder, accounted for: its format, records, how many landed
    (by kind), were quarantined or fall outside the run's days; and for every file no parser
    claims, why. Web API plays are one more source. records = landed + quarantined + outside.
    """
    landed_by_file: dict[str, Counter] = {}
    for event in landed:
        landed_by_file.setdefault(event["_source_file"], Counter())[content_kind(event)] += 1
    return _accounting_rows(batch, landed_by_file, bad)


def kinds_by_file(table: pa.Table) -> dict[str, Counter]:
    """`content_kind` counted per `_source_file` over a table of landed rows, column-wise."""
    content = table["content_type"]
    track = pc.if_else(
        pc.fill_null(table["incognito_mode"], False),
        "private session",
        pc.if_else(pc.equal(table["ms_played"], 0), "0 ms (never sounded)", "music"),
    )
    other = pc.if_else(pc.equal(content, "episode"), "podcast", content)
    kind = pc.if_else(pc.equal(content, "track"), track, other)
    counts = (
        pa.table({"file": table["_source_file"], "kind": kind})
        .group_by(["file", "kind"])
        .aggregate([("kind", "count", pc.CountOptions(mode="all"))])
    )
    found: dict[str, Counter] = {}
    for file, name, n in zip(*(counts[c].to_pylist() for c in counts.column_names), strict=True):
        found.setdefault(file, Counter())[name] = n
    return found


def _accounting_rows(
    batch: HistoryBatch, landed_by_file: dict[str, Counter], bad: list[BadRecord]
) -> list[dict]:
    landed_by_file = dict(landed_by_file)
    quarantined = Counter(b.source_file for b in bad)
    rows = []
    for f in batch.files:
        kinds = landed_by_file.pop(f.source_file, Counter())
        rows.append(
            {
                "file": f.source_file,
                "format": f.format,
                "records": f.records,
                "landed": sum(kinds.values()),
                "quarantined": quarantined[f.source_file],
                "outside_range": f.records - sum(kinds.values()) - quarantined[f.source_file],
                "kinds": dict(sorted(kinds.items())),
            }
        )
    for source, kinds in sorted(landed_by_file.items()):  # Web API responses
        rows.append(
            {
                "file": source,
                "format": "api",
                "records": sum(kinds.values()) + quarantined[source],
                "landed": sum(kinds.values()),
                "quarantined": quarantined[source],
                "outside_range": 0,
                "kinds": dict(sorted(kinds.items())),
            }
        )
    rows += [
        {"file": p.path, "format": None, "records": 0, "reason": p.reason}
        for p in batch.passed_over
    ]
    return rows


@dataclass
class HistoryRun:
    """What a run over the days [start, end] owns of the landing folder's parse and the Web
    API's plays: the plays of its days land; bad records of its days (or of no readable day)
    are quarantined; everything else belongs to other runs' days and is only counted."""

    batch: HistoryBatch
    api_plays: list[dict]
    api_bad: list[BadRecord]
    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        first, last = self.batch.days
        if not first <= self.start <= self.end <= last:
            raise ValueError(
                f"a run over {self.start}..{self.end} needs a parse of those days; "
                f"the batch holds {first}..{last}"
            )

    @cached_property
    def table(self) -> pa.Table:
        """The landed rows: the files' of the run's days, then the Web API's."""
        rows = self.batch.rows
        if self.batch.days != (self.start, self.end):  # parsed for these days: all ours
            play_date = rows["play_date"]
            rows = rows.filter(
                pc.and_(
                    pc.greater_equal(play_date, pa.scalar(self.start, pa.date32())),
                    pc.less_equal(play_date, pa.scalar(self.end, pa.date32())),
                )
            )
        api = [e for e in self.api_plays if self.start <= e["play_date"] <= self.end]
        return pa.concat_tables([rows, events_table(api)])

    @cached_property
    def landed(self) -> list[dict]:
        """The landed rows as dicts: for small runs (the asset uses `table`)."""
        return self.table.to_pylist()

    @cached_property
    def bad(self) -> list[BadRecord]:
        return [
            b
            for b in self.batch.bad + self.api_bad
            if b.record_date is None or self.start <= b.record_date <= self.end
        ]

    def problems(self) -> list[str]:
        """What a run warns about beside its bad records: unknown fields, duplicate files."""
        return self.batch.unknown_field_messages() + [
            f"{f.source_file}: byte-identical to {f.duplicate_of}; its records are quarantined"
            for f in self.batch.files
            if f.duplicate_of
        ]

    def totals(self) -> dict:
        """records_in = landed + quarantined; the files' and the API's records are those plus
        the ones outside the run's days."""
        landed, bad = self.table.num_rows, len(self.bad)
        from_api = pc.sum(pc.equal(self.table["source_format"], "api")).as_py() or 0
        return {
            "records_in": landed + bad,
            "rows_landed": landed,
            "rows_quarantined": bad,
            "records_in_files": self.batch.records_in,
            "plays_from_api": from_api,
            "records_outside_range": self.batch.records_in
            + len(self.api_plays)
            + len(self.api_bad)
            - landed
            - bad,
            "files": len(self.batch.files),
            "duplicate_files": sum(1 for f in self.batch.files if f.duplicate_of),
            # Accounted for from their summaries: nothing in them on the run's days.
            "files_unread": sum(1 for f in self.batch.files if f.unread),
            "ignored_files": self.batch.ignored_files,
        }

    def accounting(self) -> list[dict]:
        """Every file (and Web API source) accounted for: see `file_accounting`."""
        return _accounting_rows(self.batch, kinds_by_file(self.table), self.bad)


def landed_counts(table: pa.Table) -> dict:
    """Days, listeners and content types among the landed plays, counted in Arrow (the range
    is never copied into pandas for them)."""
    kinds = pc.value_counts(table["content_type"]).to_pylist() if table.num_rows else []
    by_count = sorted(
        ((kind["values"], kind["counts"]) for kind in kinds if kind["values"] is not None),
        key=lambda pair: -pair[1],
    )
    return {
        "days_with_plays": pc.count_distinct(table["play_date"]).as_py() if table.num_rows else 0,
        "users": pc.count_distinct(table["user_id"]).as_py() if table.num_rows else 0,
        "content_types": dict(by_count),
    }

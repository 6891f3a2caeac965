"""Parse Spotify listening-history files (all three export formats) into Bronze rows.

Formats, recognised by file name:
- basic privacy export: `StreamingHistory<N>.json`, `StreamingHistory_music_<N>.json`
  (endTime "YYYY-MM-DD HH:MM" UTC, artistName, trackName, msPlayed);
- Extended Streaming History: `Streaming_History_Audio_*.json` (ts = when the stream ended);
- legacy extended: `endsong_<N>.json` (adds username, ip_addr_decrypted, user_agent_decrypted).

Files may also arrive inside the `.zip` Spotify sends; its members are read in place.
The account a file belongs to is its `username` field where present, else the first folder
under the landing root (`landing/alice/...` is alice), else MOODLAKE_DEFAULT_USER.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pyarrow as pa

from moodlake_dagster.ingest.landing_store import LandingStore
from moodlake_dagster.ingest.privacy import DROPPED_FIELDS, pseudonymize
from moodlake_dagster.ingest.records import BadRecord, iter_json_array, safe_raw

FORMAT_PATTERNS = (
    ("extended", re.compile(r"^Streaming_History_Audio_.*\.json$")),
    ("endsong", re.compile(r"^endsong(_\d+)?\.json$")),
    ("basic", re.compile(r"^StreamingHistory(_music_)?\d+\.json$")),
)

_EXTENDED_FIELDS = {
    "ts",
    "platform",
    "ms_played",
    "conn_country",
    "master_metadata_track_name",
    "master_metadata_album_artist_name",
    "master_metadata_album_album_name",
    "spotify_track_uri",
    "episode_name",
    "episode_show_name",
    "spotify_episode_uri",
    "audiobook_title",
    "audiobook_uri",
    "audiobook_chapter_uri",
    "audiobook_chapter_title",
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
    "extended": _EXTENDED_FIELDS,
    "endsong": _EXTENDED_FIELDS,
}
# Files with no stake in plays, shipped in the same export folder.
_QUIETLY_IGNORED = re.compile(r"^(StreamingHistory_podcast_\d+|Streaming_History_Video_.*)\.json$")

# A clock a few minutes ahead is not an error; a play from tomorrow is.
FUTURE_TOLERANCE = dt.timedelta(minutes=5)

LISTENING_EVENTS_SCHEMA = pa.schema(
    [
        ("play_date", pa.date32()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("user_id", pa.string()),
        ("ms_played", pa.int64()),
        ("content_type", pa.string()),
        ("track_name", pa.string()),
        ("artist_name", pa.string()),
        ("album_name", pa.string()),
        ("track_uri", pa.string()),
        ("episode_name", pa.string()),
        ("episode_show_name", pa.string()),
        ("episode_uri", pa.string()),
        ("audiobook_uri", pa.string()),
        ("reason_start", pa.string()),
        ("reason_end", pa.string()),
        ("shuffle", pa.bool_()),
        ("skipped", pa.bool_()),
        ("offline", pa.bool_()),
        ("offline_timestamp", pa.int64()),
        ("incognito_mode", pa.bool_()),
        ("platform", pa.string()),
        ("conn_country", pa.string()),
        ("source_format", pa.string()),
        ("_source_file", pa.string()),
        ("_record_index", pa.int64()),
        ("_ingested_at", pa.timestamp("us", tz="UTC")),
        ("_batch_id", pa.string()),
    ]
)


class RecordError(ValueError):
    """A record that cannot land; the message is the quarantine reason."""


@dataclass
class FileReport:
    source_file: str
    format: str
    sha256: str
    records: int = 0
    bad: int = 0
    unknown_fields: Counter = field(default_factory=Counter)
    duplicate_of: str | None = None


@dataclass
class HistoryBatch:
    events: list[dict]
    bad: list[BadRecord]
    files: list[FileReport]
    ignored_files: list[str]

    @property
    def records_in(self) -> int:
        return sum(f.records for f in self.files)

    def unknown_field_messages(self) -> list[str]:
        return [
            f"{f.source_file}: unknown field {name!r} in {n} record(s); dropped, record kept"
            for f in self.files
            for name, n in sorted(f.unknown_fields.items())
        ]


def history_format(name: str) -> str | None:
    """The export format a file name belongs to (None for anything else)."""
    for fmt, pattern in FORMAT_PATTERNS:
        if pattern.match(name):
            return fmt
    return None


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

    def read(self) -> bytes:
        if self.member is None:
            return self.landing.read_bytes(self.location)
        with self.landing.open(self.location) as handle, zipfile.ZipFile(handle) as archive:
            return archive.read(self.member)

    def lineage(self, key: bytes) -> str:
        """Path for lineage columns, account folder pseudonymized (`archive.zip/member`)."""
        base = lineage_path(self.location, key)
        return f"{base}/{self.member}" if self.member else base


def archive_members(handle) -> tuple[list[tuple[str, str]], list[str]]:
    """(member, format) of the history files inside a zip, and the JSON members passed over."""
    found, ignored = [], []
    with zipfile.ZipFile(handle) as archive:
        for member in sorted(archive.namelist()):
            name = PurePosixPath(member).name
            if not name.endswith(".json"):
                continue
            fmt = history_format(name)
            if fmt:
                found.append((member, fmt))
            elif not _QUIETLY_IGNORED.match(name):
                ignored.append(member)
    return found, ignored


def discover_history_files(
    landing: LandingStore | Path | str,
) -> tuple[list[HistorySource], list[str]]:
    """History files under `landing` (recursively, sorted; zips opened) and those passed over.

    Hidden files and partial downloads (`.part`, `.crdownload`, `.tmp`) are not history yet.
    """
    store = LandingStore.of(landing)
    found: list[HistorySource] = []
    ignored: list[str] = []
    for landed in store.files():
        relative = landed.relative
        if any(part.startswith(".") for part in relative.parts):
            continue
        if relative.suffix == ".json":
            fmt = history_format(relative.name)
            if fmt:
                found.append(HistorySource(store, relative, fmt))
            elif not _QUIETLY_IGNORED.match(relative.name):
                ignored.append(str(relative))
        elif relative.suffix == ".zip":
            try:
                with store.open(relative) as handle:
                    members, passed = archive_members(handle)
            except zipfile.BadZipFile:
                ignored.append(f"{relative} (not a readable zip archive)")
                continue
            found += [HistorySource(store, relative, fmt, member) for member, fmt in members]
            ignored += [f"{relative}/{member}" for member in passed]
    return found, ignored


def account_label(location: PurePosixPath, default_user: str) -> str:
    return location.parts[0] if len(location.parts) > 1 else default_user


def lineage_path(relative: PurePosixPath, key: bytes) -> str:
    """The file's path under the landing folder with the account folder pseudonymized.

    Folder names are account names, and lineage columns must not carry them in clear.
    """
    if len(relative.parts) == 1:
        return relative.name
    return str(PurePosixPath(pseudonymize(relative.parts[0], key), *relative.parts[1:]))


def _parse_ts(value: object, fmt: str) -> dt.datetime:
    if not isinstance(value, str) or not value:
        raise RecordError(f"missing or non-text time stamp ({value!r})")
    try:
        if fmt == "basic":
            parsed = dt.datetime.strptime(value, "%Y-%m-%d %H:%M")
        else:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as err:
        raise RecordError(f"unparseable time stamp {value!r}") from err
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _typed(record: dict, name: str, kind: type | tuple[type, ...]) -> object:
    value = record.get(name)
    if value is None:
        return None
    if isinstance(value, bool) and kind is int:
        raise RecordError(f"field {name!r} should be a number, got {value!r}")
    if not isinstance(value, kind):
        raise RecordError(f"field {name!r} has the wrong type ({type(value).__name__})")
    return value


def conform(record: object, fmt: str, now: dt.datetime) -> dict:
    """One export record → one Bronze row (without user and lineage columns)."""
    if not isinstance(record, dict):
        raise RecordError(f"expected a JSON object, got {type(record).__name__}")
    ts = _parse_ts(record.get("endTime" if fmt == "basic" else "ts"), fmt)
    if ts > now + FUTURE_TOLERANCE:
        raise RecordError(f"time stamp {ts.isoformat()} is in the future")
    ms = _typed(record, "msPlayed" if fmt == "basic" else "ms_played", int)
    if ms is None or ms < 0:
        raise RecordError(f"missing or negative ms played ({ms!r})")
    row = {"play_date": ts.date(), "ts": ts, "ms_played": ms, "source_format": fmt}
    if fmt == "basic":
        row |= {
            "track_name": _typed(record, "trackName", str),
            "artist_name": _typed(record, "artistName", str),
            "content_type": "track",
        }
        return row
    text_fields = {
        "track_name": "master_metadata_track_name",
        "artist_name": "master_metadata_album_artist_name",
        "album_name": "master_metadata_album_album_name",
        "track_uri": "spotify_track_uri",
        "episode_name": "episode_name",
        "episode_show_name": "episode_show_name",
        "episode_uri": "spotify_episode_uri",
        "reason_start": "reason_start",
        "reason_end": "reason_end",
        "platform": "platform",
        "conn_country": "conn_country",
    }
    for column, source in text_fields.items():
        row[column] = _typed(record, source, str)
    row["audiobook_uri"] = _typed(record, "audiobook_uri", str) or _typed(
        record, "audiobook_chapter_uri", str
    )
    for flag in ("shuffle", "skipped", "offline", "incognito_mode"):
        row[flag] = _typed(record, flag, bool)
    offline_ts = _typed(record, "offline_timestamp", (int, float))
    row["offline_timestamp"] = int(offline_ts) if offline_ts is not None else None
    row["content_type"] = (
        "track"
        if row["track_uri"]
        else "episode"
        if row["episode_uri"]
        else "audiobook"
        if row["audiobook_uri"]
        else "unknown"
    )
    return row


def parse_history(
    landing: LandingStore | Path | str,
    *,
    key: bytes,
    default_user: str,
    now: dt.datetime,
    batch_id: str,
    ingested_at: dt.datetime,
) -> HistoryBatch:
    """Parse every history file under `landing`; each record lands or is quarantined."""
    files, ignored = discover_history_files(landing)
    events: list[dict] = []
    bad: list[BadRecord] = []
    reports: list[FileReport] = []
    seen_hashes: dict[str, str] = {}
    for file in files:
        fmt = file.format
        source = file.lineage(key)
        data = file.read()
        report = FileReport(source, fmt, hashlib.sha256(data).hexdigest())
        first = seen_hashes.setdefault(report.sha256, source)
        report.duplicate_of = first if first != source else None
        reports.append(report)
        folder_user = pseudonymize(account_label(file.location, default_user), key)
        text = data.decode("utf-8", errors="replace")
        for index, (value, error, raw) in enumerate(iter_json_array(text)):
            report.records += 1
            if error:
                bad.append(BadRecord(source, None if raw is None else index, error, safe_raw(raw)))
                report.bad += 1
                continue
            try:
                row = conform(value, fmt, now)
            except RecordError as err:
                bad.append(
                    BadRecord(source, index, str(err), safe_raw(value), record_day(value, fmt, now))
                )
                report.bad += 1
                continue
            if report.duplicate_of:
                reason = f"duplicate file: byte-identical to {report.duplicate_of}"
                bad.append(BadRecord(source, index, reason, None, row["play_date"]))
                report.bad += 1
                continue
            unknown = set(value) - KNOWN_FIELDS[fmt] - DROPPED_FIELDS
            report.unknown_fields.update(unknown)
            username = value.get("username")
            row["user_id"] = (
                pseudonymize(username, key)
                if isinstance(username, str) and username
                else folder_user
            )
            row |= {
                "_source_file": source,
                "_record_index": index,
                "_ingested_at": ingested_at,
                "_batch_id": batch_id,
            }
            events.append(row)
    return HistoryBatch(
        events, bad, reports, [lineage_path(PurePosixPath(p), key) for p in ignored]
    )


def record_day(value: object, fmt: str, now: dt.datetime) -> dt.date | None:
    """The play day of a bad record when its time stamp is still readable and not future."""
    if not isinstance(value, dict):
        return None
    try:
        ts = _parse_ts(value.get("endTime" if fmt == "basic" else "ts"), fmt)
    except RecordError:
        return None
    return ts.date() if ts <= now + FUTURE_TOLERANCE else None


def events_table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=LISTENING_EVENTS_SCHEMA)

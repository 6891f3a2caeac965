"""A listener's row in the operator's profiles files: found, copied out, and cut out.

The landing folder's `profiles*.csv` / `profiles*.json` hold the listener in clear (account
name, email); the next build would bring an erased listener back from them. A row is theirs
when `pseudonymize(account) == user_id`, the account read exactly as `ingest/profiles.py` reads
it. Cutting keeps everything else as written: a CSV loses only the lines of their record (a
quoted field may span lines), a JSON array only their element and one comma beside it. The
new file is written beside the old one and swapped in with `os.replace`, so a reader (or the
landing sensor) never sees half a file.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from moodlake_dagster.ingest.privacy import pseudonymize
from moodlake_dagster.ingest.profiles import _text, discover_profile_files
from moodlake_dagster.ingest.records import iter_json_array

BOM = "\ufeff"


@dataclass(frozen=True)
class ProfileRecord:
    """One record of a profiles file: its fields as written and where its text lies."""

    index: int  # the 0-based record index ingest gives it (Bronze's _record_index)
    fields: dict[str, object]  # column/key as written → value as written
    account: str | None  # trimmed, as ingest reads it
    start: int  # [start, end) in the decoded text (BOM excluded)
    end: int


@dataclass(frozen=True)
class _File:
    bom: str
    text: str
    records: list[ProfileRecord]


def _account(fields: dict[str, object]) -> str | None:
    """The first field whose name, trimmed and lower-cased, is `account` (as ingest does)."""
    for name, value in fields.items():
        if str(name).strip().lower() == "account":
            text = _text(value)
            return text.strip() if text and text.strip() else None
    return None


def _csv_records(text: str) -> list[ProfileRecord]:
    lines = list(io.StringIO(text, newline=""))  # line ends kept as written
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    reader = csv.reader(iter(lines))
    try:
        header = next(reader, [])
    except csv.Error:
        return []
    records, index, done = [], 0, reader.line_num
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error:  # unreadable: ingest quarantines it; it cannot be matched here
            index, done = index + 1, reader.line_num
            continue
        span = (offsets[done], offsets[reader.line_num])
        done = reader.line_num
        if not values:
            continue
        fields: dict[str, object] = {}
        for name, value in zip(header, values, strict=False):
            fields.setdefault(name, value)
        if len(values) > len(header):
            fields["(extra fields)"] = values[len(header) :]
        records.append(ProfileRecord(index, fields, _account(fields), *span))
        index += 1
    return records


def _json_records(text: str) -> list[ProfileRecord]:
    records, cursor = [], 0
    for index, (value, error, raw) in enumerate(iter_json_array(text)):
        if raw is None:
            continue
        # `raw` is the element's exact text, and only spaces and commas lie before it.
        start = text.find(raw, cursor)
        if start < 0:
            break
        cursor = start + len(raw)
        if error is None and isinstance(value, dict):
            records.append(ProfileRecord(index, value, _account(value), start, cursor))
    return records


def _read(path: Path) -> _File:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:  # as ingest reads it; a rewrite then keeps the replacements
        text = data.decode("utf-8", errors="replace")
    bom = BOM if text.startswith(BOM) else ""
    text = text[len(bom) :]
    parse = _json_records if path.suffix.lower() == ".json" else _csv_records
    return _File(bom, text, parse(text))


def _theirs(records: list[ProfileRecord], user_id: str, key: bytes) -> list[ProfileRecord]:
    return [r for r in records if r.account and pseudonymize(r.account, key) == user_id]


def accounts(landing: Path | None, key: bytes) -> dict[str, str]:
    """Pseudonym → account name of every listener in the landing folder's profiles files."""
    if landing is None:
        return {}
    found: dict[str, str] = {}
    for path in discover_profile_files(landing):
        for record in _read(path).records:
            if record.account:
                found.setdefault(pseudonymize(record.account, key), record.account)
    return found


def listener_rows(landing: Path | None, user_id: str, key: bytes) -> list[dict]:
    """The listener's records as the files hold them (clear email included), each with the
    file and record index it came from."""
    if landing is None:
        return []
    return [
        {"_source_file": path.name, "_record_index": record.index, **record.fields}
        for path in discover_profile_files(landing)
        for record in _theirs(_read(path).records, user_id, key)
    ]


def holding_files(landing: Path | None, user_id: str, key: bytes) -> dict[Path, int]:
    """Profiles files holding the listener → how many of their rows each holds."""
    if landing is None:
        return {}
    held = {}
    for path in discover_profile_files(landing):
        if rows := len(_theirs(_read(path).records, user_id, key)):
            held[path] = rows
    return held


def _cut_json(text: str, start: int, end: int) -> str:
    """The array without one element and the comma after it (or, for the last, before it)."""
    after = end
    while after < len(text) and text[after] in " \t\r\n":
        after += 1
    if after < len(text) and text[after] == ",":
        after += 1
        while after < len(text) and text[after] in " \t\r\n":
            after += 1
        return text[:start] + text[after:]
    before = start
    while before > 0 and text[before - 1] in " \t\r\n":
        before -= 1
    if before > 0 and text[before - 1] == ",":
        before -= 1
        while before > 0 and text[before - 1] in " \t\r\n":
            before -= 1
        return text[:before] + text[end:]
    return text[:start] + text[end:]


def _write_beside(path: Path, data: bytes) -> None:
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        shutil.copymode(path, temp)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def remove_listener(path: Path, user_id: str, key: bytes) -> int:
    """Rewrite one profiles file without the listener's rows; rows removed (0: untouched)."""
    read = _read(path)
    theirs = _theirs(read.records, user_id, key)
    if not theirs:
        return 0
    text = read.text
    for record in sorted(theirs, key=lambda r: r.start, reverse=True):  # spans stay valid
        if path.suffix.lower() == ".json":
            text = _cut_json(text, record.start, record.end)
        else:
            text = text[: record.start] + text[record.end :]
    _write_beside(path, (read.bom + text).encode("utf-8"))
    return len(theirs)

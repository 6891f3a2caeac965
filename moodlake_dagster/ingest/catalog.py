"""Parse the Kaggle "Spotify Tracks Dataset" CSV into Bronze rows, row by row.

Row-level parsing (rather than a bulk reader) is what lets one bad row be quarantined with its
line number while the other 113,999 land.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from moodlake_dagster.ingest.records import BadRecord, safe_raw

# (column, type, lower bound, upper bound); bounds are the documented ranges of the features.
NUMERIC_COLUMNS = (
    ("popularity", int, 0, 100),
    ("duration_ms", int, 0, None),
    ("danceability", float, 0.0, 1.0),
    ("energy", float, 0.0, 1.0),
    ("key", int, -1, 11),
    ("loudness", float, -60.0, 5.0),
    ("mode", int, 0, 1),
    ("speechiness", float, 0.0, 1.0),
    ("acousticness", float, 0.0, 1.0),
    ("instrumentalness", float, 0.0, 1.0),
    ("liveness", float, 0.0, 1.0),
    ("valence", float, 0.0, 1.0),
    ("tempo", float, 0.0, 300.0),
    ("time_signature", int, 0, 7),
)
TEXT_COLUMNS = ("track_id", "artists", "album_name", "track_name", "track_genre")
REQUIRED_COLUMNS = ("track_id", "artists", "track_name", "track_genre") + tuple(
    name for name, *_ in NUMERIC_COLUMNS
)
OPTIONAL_COLUMNS = ("album_name", "explicit")
# The source's own row index column ("" in the original file, "Unnamed: 0" after a pandas save).
INDEX_COLUMNS = ("", "Unnamed: 0")
_TRACK_ID = re.compile(r"^[0-9A-Za-z]{22}$")

CATALOG_TRACKS_SCHEMA = pa.schema(
    [
        ("as_of_date", pa.date32()),
        ("track_id", pa.string()),
        ("artists", pa.string()),
        ("album_name", pa.string()),
        ("track_name", pa.string()),
        ("popularity", pa.int64()),
        ("duration_ms", pa.int64()),
        ("explicit", pa.bool_()),
        ("danceability", pa.float64()),
        ("energy", pa.float64()),
        ("key", pa.int64()),
        ("loudness", pa.float64()),
        ("mode", pa.int64()),
        ("speechiness", pa.float64()),
        ("acousticness", pa.float64()),
        ("instrumentalness", pa.float64()),
        ("liveness", pa.float64()),
        ("valence", pa.float64()),
        ("tempo", pa.float64()),
        ("time_signature", pa.int64()),
        ("track_genre", pa.string()),
        ("_source_file", pa.string()),
        ("_source_row", pa.int64()),
        ("_source_sha256", pa.string()),
        ("_ingested_at", pa.timestamp("us", tz="UTC")),
        ("_batch_id", pa.string()),
    ]
)


class CatalogHeaderError(ValueError):
    """The CSV header lacks required columns: no row of it can be trusted."""


@dataclass
class CatalogBatch:
    rows: list[dict]
    bad: list[BadRecord]
    records_in: int
    sha256: str
    unknown_columns: list[str]


def _convert(row: dict, name: str, kind: type, low, high):
    raw = (row.get(name) or "").strip()
    if raw == "":
        raise ValueError(f"{name} is empty")
    try:
        value = kind(float(raw)) if kind is int else kind(raw)
    except ValueError as err:
        raise ValueError(f"{name}={raw!r} is not a number") from err
    if kind is int and float(raw) != value:
        raise ValueError(f"{name}={raw!r} is not a whole number")
    if value != value or (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name}={value} outside [{low}, {high if high is not None else '∞'}]")
    return value


def _explicit(raw: str | None) -> bool | None:
    text = (raw or "").strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    if text == "":
        return None
    raise ValueError(f"explicit={raw!r} is not a boolean")


def parse_catalog(
    path: Path, *, as_of: dt.date, batch_id: str, ingested_at: dt.datetime, source_name: str
) -> CatalogBatch:
    """Parse the catalog CSV; a wrong header quarantines every row with the reason."""
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    lines = data.decode("utf-8-sig", errors="replace").splitlines()
    if not lines:
        return CatalogBatch([], [BadRecord(source_name, None, "empty file")], 1, sha, [])
    reader = csv.DictReader(lines)
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    known = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS) | set(INDEX_COLUMNS)
    unknown = [c for c in header if c not in known]
    rows, bad = [], []
    records_in = 0
    for line_no, raw in enumerate(reader, start=2):
        records_in += 1
        try:
            if missing:
                raise ValueError(
                    f"header lacks required column(s) {', '.join(missing)}; found {header}"
                )
            if None in raw:
                raise ValueError(f"row has more fields than the header's {len(header)}")
            if any(value is None for value in raw.values()):
                raise ValueError(f"row has fewer fields than the header's {len(header)}")
            row = {
                name: _convert(raw, name, kind, lo, hi) for name, kind, lo, hi in NUMERIC_COLUMNS
            }
            for name in TEXT_COLUMNS:
                row[name] = (raw.get(name) or "").strip() or None
            if not row["track_id"] or not _TRACK_ID.match(row["track_id"]):
                raise ValueError(f"track_id={raw.get('track_id')!r} is not a Spotify id")
            if not row["track_name"] or not row["artists"] or not row["track_genre"]:
                raise ValueError("track_name, artists and track_genre must not be empty")
            row["explicit"] = _explicit(raw.get("explicit"))
        except ValueError as err:
            bad.append(BadRecord(source_name, line_no, str(err), safe_raw(raw), unit="line"))
            continue
        row |= {
            "as_of_date": as_of,
            "_source_file": source_name,
            "_source_row": line_no,
            "_source_sha256": sha,
            "_ingested_at": ingested_at,
            "_batch_id": batch_id,
        }
        rows.append(row)
    return CatalogBatch(rows, bad, records_in, sha, unknown)


def catalog_table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=CATALOG_TRACKS_SCHEMA)

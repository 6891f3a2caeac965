"""Parse catalog CSVs into Bronze rows: several files, three known layouts, one Bronze shape.

Layouts are recognised from the header, never the file name:

- ``kaggle_tracks``: Kaggle "Spotify Tracks Dataset" (maharshipandya, 114k rows). A track
  appears once per genre; ``artists`` is already ";"-joined.
- ``songs_1_2m``: "Spotify 1.2M+ Songs" (rodolfofigueroa, ``tracks_features.csv``). id, name
  and album become track_id, track_name and album_name; no popularity, no genre.
- ``tracks_600k``: "Spotify Dataset 1921-2020, 600k+ Tracks" (yamaerenay, ``tracks.csv``).
  explicit is 0/1; no album, no genre.

In the last two ``artists`` is a Python list literal (``['A', 'B']``), landed ";"-joined like
the Kaggle file's. A missing popularity lands as null (unknown, not "0 = unpopular") and a
missing genre as a null ``track_genre``; ``_catalog_layout`` says which layout a row came from.
A header matching no layout is refused (`CatalogHeaderError`); a known layout missing a
required column quarantines every row with the reason.

Precedence (`parse_catalogs`): files are read in the order given, first = highest. A track_id
landed by an earlier file is not landed again from a later one; the later file's rows for it
are counted per file as ``rows_superseded``, never dropped silently. Within one file every
valid row lands (the Kaggle file's per-genre repeats included).

Speed: rows are read with the C csv reader in chunks and checked column by column (numpy,
pyarrow), so a 1.2M-row file parses in seconds without a dict per row. Only a row that fails a
bulk check is re-checked on its own, which gives its reason and line number (the 1-based
record number, the header being line 1).
"""

from __future__ import annotations

import ast
import csv
import datetime as dt
import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from moodlake_dagster.ingest.records import BadRecord, safe_raw
from moodlake_dagster.tables import CATALOG_TRACKS

if TYPE_CHECKING:
    import pandas as pd

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
TRACK_ID_PATTERN = r"^[0-9A-Za-z]{22}$"
_TRACK_ID = re.compile(TRACK_ID_PATTERN)
CHUNK_ROWS = 20_000  # rows in flight as Python strings: ~25 MB a chunk
_INT64_MIN, _INT64_END = -(2**63), 2**63


class CatalogHeaderError(ValueError):
    """The CSV header matches no known catalog layout: no row of it can be trusted."""


@dataclass(frozen=True)
class Layout:
    """One known catalog CSV shape, in its own column names."""

    name: str
    title: str
    signature: frozenset[str]  # columns that identify the layout in a header
    rename: dict[str, str]  # source column -> Bronze column
    required: tuple[str, ...]  # source columns
    optional: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()  # known columns Bronze does not keep
    list_artists: bool = False

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional + self.ignored

    def expected(self) -> str:
        return f"{self.name} ({self.title}: {', '.join(self.required + self.optional)})"


_FEATURES = tuple(name for name, *_ in NUMERIC_COLUMNS if name != "popularity")
LAYOUTS = (
    Layout(
        name="kaggle_tracks",
        title='Kaggle "Spotify Tracks Dataset"',
        signature=frozenset({"track_id"}),
        rename={},
        required=REQUIRED_COLUMNS,
        optional=OPTIONAL_COLUMNS,
        ignored=INDEX_COLUMNS,
    ),
    Layout(
        name="songs_1_2m",
        title='"Spotify 1.2M+ Songs" tracks_features.csv',
        signature=frozenset({"id", "album_id", "artist_ids"}),
        rename={"id": "track_id", "name": "track_name", "album": "album_name"},
        required=("id", "name", "artists", *_FEATURES),
        optional=("album", "explicit"),
        ignored=("album_id", "artist_ids", "track_number", "disc_number", "year", "release_date"),
        list_artists=True,
    ),
    Layout(
        name="tracks_600k",
        title='"Spotify Dataset 1921-2020, 600k+ Tracks" tracks.csv',
        signature=frozenset({"id", "id_artists"}),
        rename={"id": "track_id", "name": "track_name"},
        required=("id", "name", "artists", "popularity", *_FEATURES),
        optional=("explicit",),
        ignored=("id_artists", "release_date"),
        list_artists=True,
    ),
)


def detect_layout(header: Sequence[str], source_name: str) -> Layout:
    """The layout whose signature columns the header has (the closest one if several)."""
    matches = [layout for layout in LAYOUTS if layout.signature <= set(header)]
    if not matches:
        expected = "; ".join(layout.expected() for layout in LAYOUTS)
        raise CatalogHeaderError(
            f"{source_name}, line 1: header matches no known catalog layout. "
            f"Found columns {list(header)}; expected one of: {expected}"
        )
    return max(matches, key=lambda layout: len(set(layout.columns) & set(header)))


def read_header(path: Path) -> list[str]:
    """The first CSV record of `path` (empty for an empty file)."""
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        return next(csv.reader(handle), [])


def count_records(path: Path) -> int:
    """Data records in a catalog file (for `moodlake catalog list`)."""
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        return max(sum(1 for row in _records(csv.reader(handle)) if row) - 1, 0)


def _records(reader) -> Iterator[list[str] | csv.Error]:
    """The reader's records; one the csv module cannot read (a field over its size limit, as
    an unclosed quote makes) comes back as its error, and reading goes on after it."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            yield err


@dataclass
class CatalogBatch:
    """One file's parse: the landed rows as Arrow, the quarantined ones with their reason."""

    table: pa.Table
    bad: list[BadRecord]
    records_in: int
    sha256: str
    unknown_columns: list[str]
    layout: str | None = None
    source_name: str = ""
    rows_superseded: int = 0

    @cached_property
    def rows(self) -> list[dict]:
        """The landed rows as dicts (small files and tests; the table is the real output)."""
        return self.table.to_pylist()

    @property
    def rows_landed(self) -> int:
        return self.table.num_rows


@dataclass
class MergedCatalog:
    """Every catalog file's parse, in precedence order, and the landed rows of all of them."""

    files: list[CatalogBatch]
    table: pa.Table
    bad: list[BadRecord] = field(default_factory=list)

    @property
    def records_in(self) -> int:
        return sum(f.records_in for f in self.files)

    @property
    def rows_superseded(self) -> int:
        return sum(f.rows_superseded for f in self.files)

    @property
    def source_sha256(self) -> str:
        """The first (highest-precedence) file's checksum, "" without a file."""
        return self.files[0].sha256 if self.files else ""

    def totals(self) -> dict:
        """Every record in is landed, quarantined or superseded by an earlier file's row."""
        return {
            "records_in": self.records_in,
            "rows_landed": self.table.num_rows,
            "rows_quarantined": len(self.bad),
            "rows_superseded": self.rows_superseded,
        }

    def accounting(self) -> list[dict]:
        """The same per file, with the file's layout and checksum."""
        return [
            {
                "file": f.source_name,
                "layout": f.layout,
                "records_in": f.records_in,
                "rows_landed": f.rows_landed,
                "rows_quarantined": len(f.bad),
                "rows_superseded": f.rows_superseded,
                "source_sha256": f.sha256,
            }
            for f in self.files
        ]

    def problems(self) -> list[str]:
        """What a run warns about beside its bad rows: ignored columns, superseded rows."""
        return [
            f"{f.source_name}: unknown column {c!r} ignored"
            for f in self.files
            for c in f.unknown_columns
        ] + [
            f"{f.source_name}: {f.rows_superseded} row(s) superseded by an earlier catalog file"
            for f in self.files
            if f.rows_superseded
        ]


def landed_counts(df: pd.DataFrame) -> dict:
    """Distinct track ids and genres among the landed rows (pandas: the asset's preview frame)."""
    return {
        "unique_track_ids": int(df["track_id"].nunique()) if len(df) else 0,
        "genres": int(df["track_genre"].nunique()) if len(df) else 0,
    }


def _convert(row: dict, name: str, kind: type, low, high):
    raw = (row.get(name) or "").strip()
    if raw == "":
        raise ValueError(f"{name} is empty")
    try:
        value = kind(float(raw)) if kind is int else kind(raw)
    except (ValueError, OverflowError) as err:
        raise ValueError(f"{name}={raw!r} is not a number") from err
    if kind is int and float(raw) != value:
        raise ValueError(f"{name}={raw!r} is not a whole number")
    if kind is int and not _INT64_MIN <= value < _INT64_END:
        raise ValueError(f"{name}={raw!r} does not fit a 64-bit integer")
    if value != value or (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name}={value} outside [{low}, {high if high is not None else '∞'}]")
    return value


_EXPLICIT = {"true": True, "1": True, "false": False, "0": False, "": None}
_BAD = object()


def _explicit(raw: str | None) -> bool | None:
    value = _EXPLICIT.get((raw or "").strip().lower(), _BAD)
    if value is _BAD:
        raise ValueError(f"explicit={raw!r} is not a boolean")
    return value


def _artist_list(raw: str) -> str | None:
    """`['A', "B's"]` -> "A;B's"; anything but a list of strings is refused."""
    text = raw.strip()
    if not text:
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError) as err:
        raise ValueError(
            f"artists={raw[:200]!r} is not a list literal ({type(err).__name__})"
        ) from err
    if not isinstance(value, list | tuple) or not all(isinstance(a, str) for a in value):
        raise ValueError(f"artists={raw[:200]!r} is not a list of names")
    return ";".join(a.strip() for a in value if a.strip()) or None


class _Artists:
    """Memoised list-literal parsing: the same artist list recurs across a big catalog."""

    def __init__(self):
        self.seen: dict[str, str | None | ValueError] = {}

    def __call__(self, raw: str) -> str | None:
        try:
            value = self.seen[raw]
        except KeyError:
            try:
                value = _artist_list(raw)
            except ValueError as err:
                value = err
            self.seen[raw] = value
        if isinstance(value, ValueError):
            raise value
        return value


def _row_problem(raw: dict, layout: Layout, artists: _Artists) -> tuple[dict | None, str | None]:
    """Check one row on its own, in the order of the original row parser: (row, reason)."""
    try:
        row = {
            name: _convert(raw, name, kind, lo, hi)
            for name, kind, lo, hi in NUMERIC_COLUMNS
            if name != "popularity" or name in raw
        }
        for name in TEXT_COLUMNS:
            row[name] = (raw.get(name) or "").strip() or None
        if layout.list_artists:
            row["artists"] = artists(raw.get("artists") or "")
        if not row["track_id"] or not _TRACK_ID.match(row["track_id"]):
            raise ValueError(f"track_id={raw.get('track_id')!r} is not a Spotify id")
        genre = layout.name == "kaggle_tracks"
        if not row["track_name"] or not row["artists"] or (genre and not row["track_genre"]):
            names = "track_name, artists and track_genre" if genre else "track_name and artists"
            raise ValueError(f"{names} must not be empty")
        row["explicit"] = _explicit(raw.get("explicit"))
    except ValueError as err:
        return None, str(err)
    return row, None


def _numbers(values: Sequence[str], kind: type, low, high) -> tuple[np.ndarray, np.ndarray]:
    """(values, ok) for a column of numeric text; the fast path converts it in one go."""
    try:
        numbers = np.array(values, dtype=np.float64)
        ok = np.ones(len(values), dtype=bool)
    except ValueError:
        numbers = np.full(len(values), np.nan)
        ok = np.zeros(len(values), dtype=bool)
        for i, text in enumerate(values):
            try:
                numbers[i] = float(text)
                ok[i] = True
            except ValueError:
                pass
    with np.errstate(invalid="ignore"):
        ok &= np.isfinite(numbers)
        if kind is int:  # whole, and within int64 (1e30 must not wrap around on the cast)
            ok &= (numbers == np.floor(numbers)) & (numbers >= _INT64_MIN) & (numbers < _INT64_END)
        if low is not None:
            ok &= numbers >= low
        if high is not None:
            ok &= numbers <= high
    return numbers, ok


def _texts(values: Sequence[str]) -> list[str | None]:
    return [text.strip() or None for text in values]


def _chunk_table(
    records: list[tuple[int, list[str]]],
    header: list[str],
    layout: Layout,
    artists: _Artists,
    lineage: dict,
    source_name: str,
) -> tuple[pa.Table, list[BadRecord]]:
    """Land one chunk of well-shaped records; re-check only the rows a bulk check fails."""
    count = len(records)
    lines = np.fromiter((line for line, _ in records), dtype=np.int64, count=count)
    columns = zip(*(fields for _, fields in records), strict=True)
    source = dict(zip(header, columns, strict=True))
    ok = np.ones(count, dtype=bool)
    arrays: dict[str, pa.Array] = {}
    for name, kind, low, high in NUMERIC_COLUMNS:
        if name not in source:
            arrays[name] = pa.nulls(count, pa.int64() if kind is int else pa.float64())
            continue
        numbers, good = _numbers(source[name], kind, low, high)
        ok &= good
        if kind is int:
            numbers = np.where(good, numbers, 0).astype(np.int64)
        arrays[name] = pa.array(numbers)
    for name in TEXT_COLUMNS:
        values = source.get(name)
        arrays[name] = pa.array(
            _texts(values) if values is not None else [None] * count, pa.string()
        )
    if layout.list_artists:
        parsed = []
        for i, text in enumerate(source["artists"]):
            try:
                parsed.append(artists(text))
            except ValueError:
                parsed.append(None)
                ok[i] = False
        arrays["artists"] = pa.array(parsed, pa.string())
    ids = pc.fill_null(pc.match_substring_regex(arrays["track_id"], TRACK_ID_PATTERN), False)
    ok &= ids.to_numpy(zero_copy_only=False)
    needed = ["track_name", "artists"] + (["track_genre"] if layout.name == "kaggle_tracks" else [])
    for name in needed:
        ok &= arrays[name].is_valid().to_numpy(zero_copy_only=False)
    if "explicit" in source:
        flags = [_EXPLICIT.get(text.strip().lower(), _BAD) for text in source["explicit"]]
        bad_flag = np.fromiter((f is _BAD for f in flags), dtype=bool, count=count)
        ok &= ~bad_flag
        arrays["explicit"] = pa.array([None if f is _BAD else f for f in flags], pa.bool_())
    else:
        arrays["explicit"] = pa.nulls(count, pa.bool_())
    arrays["_source_row"] = pa.array(lines)
    table = pa.table(
        {
            name: arrays[name] if name in arrays else pa.nulls(count, type_)
            for name, type_ in zip(
                CATALOG_TRACKS.schema.names, CATALOG_TRACKS.schema.types, strict=True
            )
            if name not in lineage
        }
    )
    bad, rescued = [], []
    for i in np.flatnonzero(~ok):
        line, fields = records[i]
        raw = dict(zip(header, fields, strict=True))
        row, reason = _row_problem(raw, layout, artists)
        if row is None:
            bad.append(BadRecord(source_name, line, reason, safe_raw(raw), unit="line"))
        else:  # stricter bulk check than row check: the row check decides, nothing is lost
            rescued.append(row | {"_source_row": line})
    table = table.filter(pa.array(ok))
    if rescued:
        extra = pa.Table.from_pylist(rescued, schema=table.schema)
        table = pa.concat_tables([table, extra])
    for name, value in lineage.items():
        spec = CATALOG_TRACKS.schema.field(name)
        column = pa.repeat(pa.scalar(value, spec.type), table.num_rows)
        table = table.append_column(spec, column)
    return table.select(CATALOG_TRACKS.schema.names).cast(CATALOG_TRACKS.schema), bad


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def parse_catalog(
    path: Path, *, as_of: dt.date, batch_id: str, ingested_at: dt.datetime, source_name: str
) -> CatalogBatch:
    """Parse one catalog CSV of a known layout.

    An unknown header raises `CatalogHeaderError`; a known layout lacking a required column
    quarantines every row with the reason; a bad row is quarantined with its line number.
    """
    sha = _sha256(path)
    empty = CATALOG_TRACKS.schema.empty_table()
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header:
            bad = [BadRecord(source_name, None, "empty file")]
            return CatalogBatch(empty, bad, 1, sha, [], None, source_name)
        layout = detect_layout(header, source_name)
        missing = [c for c in layout.required if c not in header]
        unknown = [c for c in header if c not in layout.columns]
        names = [layout.rename.get(c, c) for c in header]
        lineage = {
            "as_of_date": as_of,
            "_catalog_layout": layout.name,
            "_source_file": source_name,
            "_source_sha256": sha,
            "_ingested_at": ingested_at,
            "_batch_id": batch_id,
        }
        artists = _Artists()
        tables, bad, records_in = [empty], [], 0
        chunk: list[tuple[int, list[str]]] = []
        line_no = 1
        for fields in _records(reader):
            if not fields:  # a blank line is no record (as csv.DictReader has it)
                continue
            line_no += 1
            records_in += 1
            reason = None
            if isinstance(fields, csv.Error):
                bad.append(
                    BadRecord(source_name, line_no, f"unreadable CSV: {fields}", unit="line")
                )
                continue
            if missing:
                reason = f"header lacks required column(s) {', '.join(missing)}; found {header}"
            elif len(fields) > len(header):
                reason = f"row has more fields than the header's {len(header)}"
            elif len(fields) < len(header):
                reason = f"row has fewer fields than the header's {len(header)}"
            if reason:
                raw = dict(zip(header, fields, strict=False))
                if len(fields) > len(header):
                    raw[None] = fields[len(header) :]
                bad.append(BadRecord(source_name, line_no, reason, safe_raw(raw), unit="line"))
                continue
            chunk.append((line_no, fields))
            if len(chunk) == CHUNK_ROWS:
                table, chunk_bad = _chunk_table(chunk, names, layout, artists, lineage, source_name)
                tables.append(table)
                bad += chunk_bad
                chunk = []
        if chunk:
            table, chunk_bad = _chunk_table(chunk, names, layout, artists, lineage, source_name)
            tables.append(table)
            bad += chunk_bad
    bad.sort(key=lambda b: b.record_index or 0)
    table = pa.concat_tables(tables)  # chunks kept: one copy of the rows, not two
    return CatalogBatch(table, bad, records_in, sha, unknown, layout.name, source_name)


def parse_catalogs(
    paths: Sequence[Path], *, as_of: dt.date, batch_id: str, ingested_at: dt.datetime
) -> MergedCatalog:
    """Parse every catalog file in precedence order (first wins) and merge them.

    A later file's rows whose track_id an earlier file landed are not landed; they are
    counted in that file's `rows_superseded`.
    """
    files, tables, bad = [], [], []
    landed_ids: pa.Array = pa.array([], pa.string())
    for n, path in enumerate(paths, 1):
        batch = parse_catalog(
            path, as_of=as_of, batch_id=batch_id, ingested_at=ingested_at, source_name=path.name
        )
        table = batch.table
        if len(landed_ids) and table.num_rows:
            known = pc.is_in(table["track_id"], value_set=landed_ids)
            batch.rows_superseded = pc.sum(known).as_py() or 0
            table = table.filter(pc.invert(known))
            batch.table = table
        if table.num_rows and n < len(paths):  # only a later file needs them
            new_ids = pc.unique(table["track_id"])
            landed_ids = pa.concat_arrays([landed_ids, new_ids])
        files.append(batch)
        tables.append(table)
        bad += batch.bad
    merged = pa.concat_tables(tables) if tables else CATALOG_TRACKS.schema.empty_table()
    return MergedCatalog(files, merged, bad)


def catalog_table(rows: list[dict] | pa.Table) -> pa.Table:
    if isinstance(rows, pa.Table):
        return rows
    return pa.Table.from_pylist(rows, schema=CATALOG_TRACKS.schema)

"""Fuzzed inputs never break the parsers (issue 23, item 3).

Hypothesis starts from real records (a few dozen per history format from ../shared/data, rows
of the catalog sample) and damages them: fields dropped or replaced with the wrong type, huge
strings, unicode (emoji, RTL, NUL, lone surrogates), NaN/±inf, nested garbage, time stamps at
the edges, the serialized file cut at any byte, stray JSON punctuation spliced in, a damaged
zip. Whatever comes in, the parser does not raise; every record is landed or quarantined with a
reason that names its file and record; records in = landed + quarantined per file; a landed row
has a valid play day and fits its Bronze table.

The shrunk failures the fuzzing found are kept, synthetic, in tests/fuzz_corpus/ and run
through the same checks by `test_corpus_case`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import re
import tempfile
import zipfile
from pathlib import Path

import pytest
from helpers import CATALOG_SAMPLE, EXTENDED, HISTORY
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from moodlake_dagster.ingest import catalog
from moodlake_dagster.ingest.catalog import NUMERIC_COLUMNS, parse_catalogs
from moodlake_dagster.ingest.history import (
    FUTURE_TOLERANCE,
    HistoryRun,
    events_table,
    parse_history,
)
from moodlake_dagster.ingest.records import quarantine_table
from moodlake_dagster.tables import CATALOG_TRACKS

NOW = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)
KEY = b"fuzz-key"
CORPUS = Path(__file__).parent / "fuzz_corpus"
SAMPLE_SIZE = 40  # real records per format
EXAMPLES = 120  # per property and format; see README "Bad input"
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Hypothesis keeps caches (unicode tables, constants) even without a database: not in the repo.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "moodlake-hypothesis")
needs_real = pytest.mark.skipif(
    not HISTORY.is_dir(),
    reason=f"real listening histories not found at {HISTORY} (../shared/data is absent)",
)

# File name per format: the name alone decides the parser (history.FORMATS).
FILE_NAMES = {
    "basic": "StreamingHistory0.json",
    "basic_podcast": "StreamingHistory_podcast_0.json",
    "basic_audiobook": "StreamingHistory_audiobook_0.json",
    "extended": "Streaming_History_Audio_2024.json",
    "extended_video": "Streaming_History_Video_2024.json",
    "endsong": "endsong_0.json",
}
WHOLE_FILE_REASONS = ("empty file", "truncated file:", "not a JSON array", "unreadable")


# --- real records, reshaped per format ------------------------------------------------------


def _first_records(folder: Path, pattern: str) -> list[dict]:
    records: list[dict] = []
    for path in sorted(folder.glob(pattern)):
        records += json.loads(path.read_text(encoding="utf-8"))[:SAMPLE_SIZE]
        if len(records) >= SAMPLE_SIZE:
            break
    return records[:SAMPLE_SIZE]


def _real_samples() -> dict[str, list[dict]]:
    """A few dozen real records per format (the podcast, audiobook, video and legacy layouts
    are the real records with their fields renamed or added: the shared data has none)."""
    if not HISTORY.is_dir():
        return {}
    extended = _first_records(EXTENDED, "Streaming_History_Audio_*.json")
    basic = _first_records(HISTORY / "my-spotify-data", "StreamingHistory*.json")
    podcast = [
        {
            "endTime": r["endTime"],
            "podcastName": r["artistName"],
            "episodeName": r["trackName"],
            "msPlayed": r["msPlayed"],
        }
        for r in basic
    ]
    audiobook = [
        {
            "endTime": r["endTime"],
            "audiobookName": r["trackName"],
            "chapterName": f"Chapter {i}",
            "authorName": r["artistName"],
            "msPlayed": r["msPlayed"],
        }
        for i, r in enumerate(basic)
    ]
    endsong = [
        r | {"username": "fuzz-user", "user_agent_decrypted": "unknown", "ip_addr_decrypted": None}
        for r in extended
    ]
    return {
        "basic": basic,
        "basic_podcast": podcast,
        "basic_audiobook": audiobook,
        "extended": extended,
        "extended_video": extended,
        "endsong": endsong,
    }


SAMPLES = _real_samples()


def _time_field(fmt: str) -> tuple[str, str]:
    return ("endTime", "msPlayed") if fmt.startswith("basic") else ("ts", "ms_played")


# --- damage -------------------------------------------------------------------------------

HUGE = st.sampled_from(["x" * 100_000, "🎵" * 30_000, "\u202e" + "ب" * 50_000])
UNICODE = st.sampled_from(
    [
        "🎵🔥",
        "\u202eevil\u202c",
        "مرحبا",
        "日本語",
        "\x00",
        "a\x00b",
        "\ud800",
        "x\udfffy",
        "\ufeff",
    ]
)
TEXT = st.one_of(st.text(max_size=20), UNICODE, HUGE)
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 2**31, 2**63, 2**64, 8_640_000_000_000_000, 1e308, -0.0]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
NESTED = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5)),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
GARBAGE = st.one_of(SCALARS, NESTED, NUMBERS.map(str))
_ZONES = st.sampled_from(["Z", "+00:00", "+14:00", "-12:00", "", "+99:00"])
EDGE_TIMES = st.one_of(
    st.sampled_from(
        [
            "0001-01-01T00:00:00Z",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59Z",
            "9999-12-31T23:59:59-12:00",
            "1970-01-01T00:00:00Z",
            "2024-03-01T10:05:00",
            "2024-02-30T00:00:00Z",
            "2024-03-01T24:00:00Z",
            "2024-03-01",
            "0001-01-01 00:00",
            "9999-12-31 23:59",
            "1970-01-01 00:00",
            "2024-03-01 10:05:00",
            "not a date",
            "",
            "0",
        ]
    ),
    st.builds(
        lambda d, zone, sep: d.strftime(f"%Y-%m-%d{sep}%H:%M:%S") + zone,
        st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)),
        _ZONES,
        st.sampled_from(["T", " "]),
    ),
    st.builds(
        lambda d: d.strftime("%Y-%m-%d %H:%M"),
        st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)),
    ),
)


@st.composite
def damaged_record(draw, fmt: str) -> object:
    """A real record of `fmt` with up to three kinds of damage, or (1 in 12) no object at all."""
    if draw(st.integers(0, 11)) == 0:
        return draw(GARBAGE)
    record = dict(draw(st.sampled_from(SAMPLES[fmt])))
    ts_field, ms_field = _time_field(fmt)
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["drop", "replace", "add", "time", "ms", "username"]))
        keys = sorted(record)
        if op == "drop" and keys:
            record.pop(draw(st.sampled_from(keys)))
        elif op == "replace" and keys:
            record[draw(st.sampled_from(keys))] = draw(GARBAGE)
        elif op == "add":
            record[draw(st.one_of(st.text(max_size=8), UNICODE))] = draw(GARBAGE)
        elif op == "time":
            record[ts_field] = draw(EDGE_TIMES)
        elif op == "ms":
            record[ms_field] = draw(NUMBERS)
        elif op == "username":
            record["username"] = draw(st.one_of(TEXT, GARBAGE))
    return record


def serialize(records: list, indent: int | None, ascii_only: bool) -> tuple[bytes, list[tuple]]:
    """The records as a JSON array (NaN/Infinity as Python writes them; lone surrogates as
    invalid UTF-8 when not escaped), and each record's (start, end, value) byte span."""
    out = bytearray(b"[\n" if indent else b"[")
    spans = []
    for i, record in enumerate(records):
        if i:
            out += b",\n" if indent else b", "
        text = json.dumps(record, indent=indent, ensure_ascii=ascii_only)
        start = len(out)
        out += text.encode("utf-8", "surrogatepass")
        spans.append((start, len(out), record))
    out += b"\n]\n" if indent else b"]"
    return bytes(out), spans


def expected_after_cut(spans: list[tuple], cut: int) -> int:
    """Records the reader must report for a file cut to `cut` bytes (array not closed): the
    complete ones, one for the cut tail, and one more when the cut leaves a number's prefix
    (`[12` of `[123`: a number, then the open array)."""
    complete = sum(1 for _, end, _ in spans if end <= cut)
    extra = 0
    for start, end, value in spans:
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if numeric and start < cut < end:
            prefix = json.dumps(value)[: cut - start]
            extra = 1 if re.match(r"-?\d", prefix) else 0
    return complete + 1 + extra


# --- the properties -----------------------------------------------------------------------


def run_history(files: dict[str, bytes]):
    """Parse a landing folder holding `files` (name -> bytes, in one account's folder), check
    every property, and return the batch for further checks."""
    with tempfile.TemporaryDirectory() as tmp:
        landing = Path(tmp)
        for name, data in files.items():
            (landing / "fuzzer").mkdir(exist_ok=True)
            (landing / "fuzzer" / name).write_bytes(data)
        batch = parse_history(
            landing,
            key=KEY,
            default_user="someone",
            now=NOW,
            batch_id="fuzz",
            ingested_at=NOW,
        )
    check_history(batch)
    return batch


def check_history(batch) -> None:
    sources = {f.source_file: f for f in batch.files}
    landed_by_file: dict[str, list[int]] = {s: [] for s in sources}
    bad_by_file: dict[str, list] = {s: [] for s in sources}
    for event in batch.events:
        landed_by_file[event["_source_file"]].append(event["_record_index"])
        assert isinstance(event["play_date"], dt.date)
        assert event["ts"].utcoffset() == dt.timedelta(0)
        assert event["ts"] <= NOW + FUTURE_TOLERANCE
        assert event["play_date"] <= (NOW + FUTURE_TOLERANCE).date()
        assert event["play_date"] <= event["ts"].date()
        assert isinstance(event["ms_played"], int) and event["ms_played"] >= 0
    for bad in batch.bad:
        assert bad.source_file in sources, bad
        assert isinstance(bad.reason, str) and bad.reason.strip(), bad
        if bad.record_index is None:
            assert bad.reason.startswith(WHOLE_FILE_REASONS), bad
        bad_by_file[bad.source_file].append(bad.record_index)
    for source, report in sources.items():
        landed, bad = landed_by_file[source], bad_by_file[source]
        assert report.records == len(landed) + len(bad), source
        assert report.bad == len(bad), source
        indices = landed + [i for i in bad if i is not None]
        assert len(set(indices)) == len(indices), "a record index counted twice"
        assert all(0 <= i < report.records for i in indices)
    # The per-file accounting the build reports, over every day: nothing outside, nothing lost.
    run = HistoryRun(batch, [], [], dt.date.min, dt.date.max)
    for row in run.accounting():
        if row["format"] is not None:
            assert row["records"] == row["landed"] + row["quarantined"], row
            assert row["outside_range"] == 0, row
    # Both tables take what the parser produced.
    assert events_table(batch.events).num_rows == len(batch.events)
    assert quarantine_table("listening_events", batch.bad, "fuzz", NOW).num_rows == len(batch.bad)


FORMATS = sorted(FILE_NAMES)


@needs_real
@pytest.mark.parametrize("fmt", FORMATS)
@FUZZ
@given(data=st.data())
def test_damaged_records_land_or_are_quarantined(fmt, data):
    records = data.draw(st.lists(damaged_record(fmt), max_size=6), label="records")
    indent = data.draw(st.sampled_from([None, 2]), label="indent")
    ascii_only = data.draw(st.booleans(), label="ascii_only")
    text, _ = serialize(records, indent, ascii_only)
    batch = run_history({FILE_NAMES[fmt]: text})
    [report] = batch.files
    assert report.records == len(records)  # valid JSON: one record per element, no more


@needs_real
@pytest.mark.parametrize("fmt", FORMATS)
@FUZZ
@given(data=st.data())
def test_a_file_cut_at_any_byte_keeps_its_complete_records(fmt, data):
    records = data.draw(st.lists(damaged_record(fmt), min_size=1, max_size=5), label="records")
    text, spans = serialize(records, data.draw(st.sampled_from([None, 2])), True)
    cut = data.draw(st.integers(0, len(text) - 2), label="cut")  # the closing ']' goes
    batch = run_history({FILE_NAMES[fmt]: text[:cut]})
    [report] = batch.files
    assert report.records == expected_after_cut(spans, cut)
    landed = {e["_record_index"] for e in batch.events}
    assert landed <= {i for i, (_, end, _) in enumerate(spans) if end <= cut}


SPLICES = st.one_of(
    st.sampled_from(["{", "}", "[", "]", ",", '"', ":", "\\", '{"a": {"b": [', "]}}", "\x00"]),
    st.binary(max_size=12).map(lambda b: b.decode("latin-1")),
    NESTED.map(json.dumps),
)


@needs_real
@FUZZ
@given(data=st.data())
def test_punctuation_spliced_anywhere_never_raises(data):
    fmt = data.draw(st.sampled_from(FORMATS), label="fmt")
    records = data.draw(st.lists(damaged_record(fmt), min_size=1, max_size=5), label="records")
    text, _ = serialize(records, data.draw(st.sampled_from([None, 2])), True)
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(text)), label="at")
        text = text[:at] + data.draw(SPLICES, label="splice").encode() + text[at:]
    run_history({FILE_NAMES[fmt]: text})


@needs_real
@settings(FUZZ, max_examples=EXAMPLES // 2)
@given(data=st.data())
def test_a_damaged_zip_never_raises(data):
    fmt = data.draw(st.sampled_from(FORMATS), label="fmt")
    records = data.draw(st.lists(damaged_record(fmt), min_size=1, max_size=4), label="records")
    text, _ = serialize(records, 2, True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"Spotify Extended Streaming History/{FILE_NAMES[fmt]}", text)
        archive.writestr("Spotify Account Data/StreamingHistory0.json", b"[]")
    blob = bytearray(buffer.getvalue())
    how = data.draw(st.sampled_from(["flip", "cut", "both"]), label="how")
    if how in ("flip", "both"):
        at = data.draw(st.integers(0, len(blob) - 1), label="flip at")
        blob[at] ^= data.draw(st.integers(1, 255), label="xor")
    if how in ("cut", "both"):
        blob = blob[: data.draw(st.integers(0, len(blob)), label="cut")]
    run_history({"my_spotify_data.zip": bytes(blob)})


# --- the catalog --------------------------------------------------------------------------


def _catalog_rows() -> tuple[list[str], list[dict]]:
    with CATALOG_SAMPLE.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = [r for r in reader if r["track_id"] and r["artists"]][:SAMPLE_SIZE]
    return list(rows[0]), rows


KAGGLE_HEADER, KAGGLE_ROWS = _catalog_rows()
FEATURES = [n for n, *_ in NUMERIC_COLUMNS if n != "popularity"]
NUMERIC_NAMES = {n for n, *_ in NUMERIC_COLUMNS}
HEADERS = {
    "kaggle_tracks": KAGGLE_HEADER,
    "songs_1_2m": ["id", "name", "album", "album_id", "artists", "artist_ids", "explicit"]
    + FEATURES
    + ["year", "release_date"],
    "tracks_600k": ["id", "name", "popularity", "explicit", "artists", "id_artists"] + FEATURES,
}


def _as_layout(row: dict, layout: str) -> list[str]:
    """A real Kaggle row in another layout's columns (artists as a list literal there)."""
    if layout == "kaggle_tracks":
        return [row[c] for c in KAGGLE_HEADER]
    names = repr(row["artists"].split(";"))
    source = row | {
        "id": row["track_id"],
        "name": row["track_name"],
        "album": row["album_name"],
        "artists": names,
        "album_id": "0" * 22,
        "artist_ids": "['x']",
        "id_artists": "['x']",
        "year": "2001",
        "release_date": "2001-01-01",
    }
    return [source[c] for c in HEADERS[layout]]


CSV_GARBAGE = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "abc",
            "NaN",
            "nan",
            "inf",
            "-inf",
            "1e999",
            "1e30",
            "-1e30",
            "9223372036854775808",
            "-1",
            "101",
            "12",
            "2",
            "1.5",
            "0x10",
            "1_000",
            " 5 ",
            "٣",
            '"',
            'a"b',
            '""',
            "a,b",
            "line\nbreak",
            "\r",
            "\x00",
            "🎵",
            "\u202e",
            "['a'",
            "[1, 2]",
            "[" * 500,
            "(" * 300,
            "__import__('os')",
            "True",
            "yes",
        ]
    ),
    st.text(max_size=20),
    st.integers().map(str),
    st.floats().map(str),
    st.sampled_from(["x" * 100_000, "y" * 200_000]),
)


NUMERIC_GARBAGE = st.one_of(
    st.sampled_from(["1e30", "-1e30", "1e19", "9223372036854775808", "1e999", "nan", "-0"]),
    st.floats().map(str),
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
)


@st.composite
def damaged_row(draw, layout: str) -> list[str]:
    fields = _as_layout(draw(st.sampled_from(KAGGLE_ROWS)), layout)
    numeric = [i for i, c in enumerate(HEADERS[layout]) if c in NUMERIC_NAMES]
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["replace", "number", "number", "drop", "extra"]))
        if op == "number" and numeric[0] < len(fields):
            at = draw(st.sampled_from([i for i in numeric if i < len(fields)]))
            fields[at] = draw(NUMERIC_GARBAGE)
        elif op == "replace":
            fields[draw(st.integers(0, len(fields) - 1))] = draw(CSV_GARBAGE)
        elif op == "drop" and fields:
            fields.pop(draw(st.integers(0, len(fields) - 1)))
        elif op == "extra":
            fields.append(draw(CSV_GARBAGE))
    return fields


def write_catalog(header: list[str], rows: list[list[str]], quoted: bool) -> bytes:
    if quoted:
        out = io.StringIO(newline="")
        csv.writer(out).writerows([header, *rows])
        text = out.getvalue()
    else:  # no quoting at all: commas, quotes and line breaks in a value break the structure
        text = "".join(",".join(r) + "\n" for r in [header, *rows])
    return text.encode("utf-8", "surrogatepass")


def run_catalog(data: bytes, name: str = "fuzz.csv"):
    """Parse a damaged catalog first and clean real rows second; check the properties."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        clean = Path(tmp) / "clean.csv"
        clean.write_bytes(
            write_catalog(
                KAGGLE_HEADER, [_as_layout(r, "kaggle_tracks") for r in KAGGLE_ROWS], True
            )
        )
        merged = parse_catalogs([path, clean], as_of=NOW.date(), batch_id="fuzz", ingested_at=NOW)
        counted = catalog.count_records(path)
    check_catalog(merged, counted)
    return merged


def check_catalog(merged, counted: int) -> None:
    first = merged.files[0]
    assert first.records_in == counted
    for f in merged.files:
        assert f.records_in == f.rows_landed + len(f.bad) + f.rows_superseded, f.source_name
        assert f.table.schema == CATALOG_TRACKS.schema
        for bad in f.bad:
            assert bad.source_file == f.source_name
            assert isinstance(bad.reason, str) and bad.reason.strip()
            assert bad.record_index is None or 2 <= bad.record_index <= f.records_in + 1
    totals = merged.totals()
    assert totals["records_in"] == (
        totals["rows_landed"] + totals["rows_quarantined"] + totals["rows_superseded"]
    )
    table = merged.table
    ids = table["track_id"].to_pylist()
    assert all(isinstance(i, str) and re.fullmatch(catalog.TRACK_ID_PATTERN, i) for i in ids)
    for name, kind, low, high in NUMERIC_COLUMNS:
        for value in table[name].to_pylist():
            if value is None:
                continue
            assert math.isfinite(value) and isinstance(value, kind), name
            assert low is None or value >= low, (name, value)
            assert high is None or value <= high, (name, value)
    quarantine_table("catalog_tracks", merged.bad, "fuzz", NOW)


LAYOUT_NAMES = sorted(HEADERS)


@pytest.mark.parametrize("layout", LAYOUT_NAMES)
@FUZZ
@given(data=st.data())
def test_damaged_catalog_rows_land_or_are_quarantined(layout, data):
    rows = data.draw(st.lists(damaged_row(layout), max_size=6), label="rows")
    header = list(HEADERS[layout])
    if data.draw(st.integers(0, 9)) == 0:  # a header that lost a required, non-key column
        droppable = [c for c in header if c in FEATURES or c in ("track_name", "name")]
        header.remove(data.draw(st.sampled_from(droppable), label="dropped column"))
    quoted = data.draw(st.booleans(), label="quoted")
    run_catalog(write_catalog(header, rows, quoted))


@pytest.mark.parametrize("layout", LAYOUT_NAMES)
@settings(FUZZ, max_examples=EXAMPLES // 2)
@given(data=st.data())
def test_a_catalog_cut_at_any_byte_never_raises(layout, data):
    rows = data.draw(st.lists(damaged_row(layout), min_size=1, max_size=5), label="rows")
    text = write_catalog(HEADERS[layout], rows, data.draw(st.booleans()))
    header_end = text.index(b"\n") + 1
    cut = data.draw(st.integers(header_end, len(text)), label="cut")
    run_catalog(text[:cut])


# --- the corpus of shrunk failures --------------------------------------------------------


def _corpus() -> list[Path]:
    return sorted(CORPUS.glob("*.json"))


def _decode(case: dict) -> bytes:
    """A corpus case's file content: `text` (UTF-8, surrogates as invalid bytes; `pad`
    [marker, char, count] expands a marker, to keep a huge field out of the corpus file) or
    `records` (serialized by `serialize`)."""
    if "records" in case:
        data, _ = serialize(case["records"], case.get("indent"), case.get("ascii_only", True))
        return data
    text = case["text"]
    if "pad" in case:
        marker, char, count = case["pad"]
        text = text.replace(marker, char * count)
    return text.encode("utf-8", "surrogatepass")


@pytest.mark.parametrize("path", _corpus(), ids=lambda p: p.stem)
def test_corpus_case(path):
    """Each shrunk failure, kept as a regression case: the same checks as the fuzzing."""
    case = json.loads(path.read_text(encoding="utf-8"))
    data = _decode(case)
    if case["kind"] == "catalog":
        merged = run_catalog(data, case.get("file", "fuzz.csv"))
        result = merged.files[0]
        counts = {"records": result.records_in, "landed": result.rows_landed}
        counts["quarantined"] = len(result.bad)
    else:
        if case["kind"] == "zip":
            buffer = io.BytesIO()
            stored = case.get("compression") == "stored"
            method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            with zipfile.ZipFile(buffer, "w", method) as archive:
                archive.writestr(case["file"], data)
            blob = bytearray(buffer.getvalue())
            for at, xor in case.get("flip", []):
                blob[at] ^= xor
            batch = run_history({"my_spotify_data.zip": bytes(blob)})
        else:
            batch = run_history({case["file"]: data})
        counts = {"records": batch.records_in, "landed": len(batch.events)}
        counts["quarantined"] = len(batch.bad)
    for name, value in case.get("expect", {}).items():
        if name == "reasons":
            reasons = [b.reason for b in (merged.bad if case["kind"] == "catalog" else batch.bad)]
            for fragment in value:
                assert any(fragment in r for r in reasons), (fragment, reasons)
        else:
            assert counts[name] == value, (name, counts)


def test_the_corpus_is_there_and_synthetic():
    """The corpus exists, and holds no real record: no real track name from the samples."""
    cases = _corpus()
    assert len(cases) >= 3
    real = {
        r.get("trackName") or r.get("master_metadata_track_name")
        for rs in SAMPLES.values()
        for r in rs
    } - {None}
    for path in cases:
        text = path.read_text(encoding="utf-8")
        assert len(text) < 10_000, path
        assert not any(f'"{name}"' in text for name in real), path

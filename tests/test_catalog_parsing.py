"""Catalog CSV parsing piece by piece (ingest/catalog.py): layouts from headers, the value
rules, chunk boundaries, empty files and precedence, on small hand-made files."""

from __future__ import annotations

import csv
import datetime as dt

import pyarrow as pa
import pytest
from helpers import CATALOG_SAMPLE, NOW

from moodlake_dagster.ingest import catalog
from moodlake_dagster.ingest.catalog import (
    LAYOUTS,
    CatalogHeaderError,
    _artist_list,
    _convert,
    _explicit,
    catalog_table,
    count_records,
    detect_layout,
    parse_catalog,
    parse_catalogs,
    read_header,
)
from moodlake_dagster.tables import CATALOG_TRACKS

AS_OF = dt.date(2026, 1, 1)
KAGGLE_HEADER = CATALOG_SAMPLE.read_text().splitlines()[0].split(",")


def parse(path):
    return parse_catalog(path, as_of=AS_OF, batch_id="b", ingested_at=NOW, source_name=path.name)


def sample_rows(n: int) -> list[list[str]]:
    """The first `n` data rows of the real catalog sample that have every field."""
    with CATALOG_SAMPLE.open(newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    return [r for r in rows if all(r[1:5])][:n]


def write_csv(path, header, rows):
    with path.open("w", newline="") as out:
        csv.writer(out).writerows([header, *rows])
    return path


def test_each_layout_is_recognised_by_its_header_alone():
    by_name = {layout.name: layout for layout in LAYOUTS}
    for layout in LAYOUTS:
        assert detect_layout(list(layout.columns), "f.csv") is layout
    assert detect_layout(KAGGLE_HEADER, "f.csv") is by_name["kaggle_tracks"]
    # Only the signature decides; the column order and extra columns do not.
    shuffled = list(reversed(by_name["songs_1_2m"].columns)) + ["something_else"]
    assert detect_layout(shuffled, "f.csv").name == "songs_1_2m"
    with pytest.raises(CatalogHeaderError, match=r"^f\.csv, line 1: header matches no known"):
        detect_layout(["id", "name"], "f.csv")


def test_the_closest_layout_wins_when_several_signatures_match():
    """A header with both 1.2M and 600k signatures goes to the one sharing more columns."""
    songs = {layout.name: layout for layout in LAYOUTS}["songs_1_2m"]
    header = [*songs.columns, "id_artists"]
    assert detect_layout(header, "f.csv").name == "songs_1_2m"


def test_headers_and_record_counts_ignore_the_bom_and_blank_lines(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text('\ufefftrack_id,artists\n\nx,y\n\n"a,b",c\n', encoding="utf-8")
    assert read_header(path) == ["track_id", "artists"]
    assert count_records(path) == 2
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert read_header(empty) == [] and count_records(empty) == 0


@pytest.mark.parametrize(
    ("raw", "kind", "low", "high", "expected"),
    [
        ("0.5", float, 0.0, 1.0, 0.5),
        (" 7 ", int, -1, 11, 7),
        ("1e2", int, 0, 100, 100),
        ("4.0", int, 0, 7, 4),
        ("-60", float, -60.0, 5.0, -60.0),
    ],
)
def test_numbers_within_their_range_convert(raw, kind, low, high, expected):
    value = _convert({"x": raw}, "x", kind, low, high)
    assert value == expected and type(value) is kind


@pytest.mark.parametrize(
    ("raw", "kind", "low", "high", "reason"),
    [
        ("", float, 0.0, 1.0, "x is empty"),
        ("lots", float, 0.0, 1.0, "x='lots' is not a number"),
        ("3.5", int, 0, 7, "x='3.5' is not a whole number"),
        ("1.01", float, 0.0, 1.0, "x=1.01 outside [0.0, 1.0]"),
        ("nan", float, 0.0, 1.0, "x=nan outside [0.0, 1.0]"),
        ("-1", int, 0, None, "x=-1 outside [0, ∞]"),
        ("inf", int, 0, None, "x='inf' is not a number"),
    ],
)
def test_numbers_that_cannot_land_say_why(raw, kind, low, high, reason):
    with pytest.raises(ValueError) as err:
        _convert({"x": raw}, "x", kind, low, high)
    assert str(err.value) == reason


def test_explicit_flags_and_artist_lists():
    assert [_explicit(v) for v in ("True", "false", " 1 ", "0", "", None)] == [
        True,
        False,
        True,
        False,
        None,
        None,
    ]
    with pytest.raises(ValueError, match="explicit='maybe' is not a boolean"):
        _explicit("maybe")
    assert _artist_list("['A', \"B's\", ' ']") == "A;B's"
    assert _artist_list("('Solo',)") == "Solo"
    assert _artist_list("  ") is None and _artist_list("[]") is None
    with pytest.raises(ValueError, match="is not a list of names"):
        _artist_list("['A', ['B']]")
    with pytest.raises(ValueError, match="is not a list of names"):
        _artist_list("'just a string'")
    with pytest.raises(ValueError, match=r"is not a list literal \(SyntaxError\)"):
        _artist_list("['A'")


def test_an_empty_file_is_one_quarantined_record(tmp_path):
    path = tmp_path / "nothing.csv"
    path.touch()
    batch = parse(path)
    assert batch.records_in == 1 and batch.rows == [] and batch.layout is None
    [bad] = batch.bad
    assert bad.message() == "nothing.csv, whole file: empty file"


def test_rows_land_alike_whatever_the_chunk_size(tmp_path, monkeypatch):
    """The bulk checks run per chunk: a chunk boundary must not change what lands or the
    line numbers of what does not."""
    header = KAGGLE_HEADER
    rows = sample_rows(7)
    rows[1][header.index("valence")] = "2.0"  # line 3
    rows[5][header.index("key")] = "4.5"  # line 7
    path = write_csv(tmp_path / "chunks.csv", header, rows)
    whole = parse(path)
    monkeypatch.setattr(catalog, "CHUNK_ROWS", 2)
    chunked = parse(path)
    assert chunked.table.to_pylist() == whole.table.to_pylist()
    assert [(b.record_index, b.reason) for b in chunked.bad] == [
        (b.record_index, b.reason) for b in whole.bad
    ]
    assert [b.record_index for b in whole.bad] == [3, 7]
    assert whole.records_in == 7 and len(whole.rows) == 5
    assert [r["_source_row"] for r in whole.rows] == [2, 4, 5, 6, 8]


def test_landed_rows_carry_their_lineage_and_types(tmp_path):
    rows = sample_rows(2)
    path = write_csv(tmp_path / "two.csv", KAGGLE_HEADER, rows)
    batch = parse(path)
    assert batch.table.schema == CATALOG_TRACKS.schema and batch.unknown_columns == []
    first = batch.rows[0]
    source = dict(zip(KAGGLE_HEADER, rows[0], strict=True))
    assert first["track_id"] == source["track_id"]
    assert first["valence"] == float(source["valence"])
    assert first["popularity"] == int(source["popularity"])
    assert first["explicit"] is (source["explicit"] == "True")
    assert first["as_of_date"] == AS_OF and first["_batch_id"] == "b"
    assert first["_source_file"] == "two.csv" and first["_catalog_layout"] == "kaggle_tracks"
    assert first["_ingested_at"] == NOW and len(first["_source_sha256"]) == 64


def test_a_bad_track_id_and_missing_names_are_quarantined(tmp_path):
    header = KAGGLE_HEADER
    rows = sample_rows(3)
    rows[0][header.index("track_id")] = "not-an-id"
    rows[1][header.index("track_genre")] = ""
    path = write_csv(tmp_path / "ids.csv", header, rows)
    batch = parse(path)
    reasons = {b.record_index: b.reason for b in batch.bad}
    assert reasons[2] == "track_id='not-an-id' is not a Spotify id"
    assert reasons[3] == "track_name, artists and track_genre must not be empty"
    assert len(batch.rows) == 1 and batch.rows[0]["_source_row"] == 4


def test_three_files_in_precedence_order(tmp_path):
    rows = sample_rows(4)
    ids = [r[KAGGLE_HEADER.index("track_id")] for r in rows]
    first = write_csv(tmp_path / "first.csv", KAGGLE_HEADER, rows[:2])
    second = write_csv(tmp_path / "second.csv", KAGGLE_HEADER, rows[1:3])
    third = write_csv(tmp_path / "third.csv", KAGGLE_HEADER, rows[:4])
    merged = parse_catalogs([first, second, third], as_of=AS_OF, batch_id="b", ingested_at=NOW)
    assert [f.rows_superseded for f in merged.files] == [0, 1, 3]
    assert [f.rows_landed for f in merged.files] == [2, 1, 1]
    assert sorted(merged.table.column("track_id").to_pylist()) == sorted(ids)
    landed_from = {r["track_id"]: r["_source_file"] for r in merged.table.to_pylist()}
    assert landed_from[ids[1]] == "first.csv" and landed_from[ids[3]] == "third.csv"
    assert merged.records_in == 2 + 2 + 4 == merged.table.num_rows + merged.rows_superseded
    nothing = parse_catalogs([], as_of=AS_OF, batch_id="b", ingested_at=NOW)
    assert nothing.table.num_rows == 0 and nothing.files == []


def test_catalog_table_takes_rows_or_a_table():
    table = CATALOG_TRACKS.schema.empty_table()
    assert catalog_table(table) is table
    built = catalog_table([{"track_id": "x", "valence": 0.5}])
    assert built.schema == CATALOG_TRACKS.schema
    assert built.to_pylist()[0]["valence"] == 0.5 and built.to_pylist()[0]["artists"] is None
    assert isinstance(built, pa.Table)

"""Parsing the real catalog sample, the other catalog layouts, broken and merged catalogs."""

from __future__ import annotations

import csv
import datetime as dt

import pytest
from helpers import CATALOG_SAMPLE, NOW

from moodlake_dagster import cli
from moodlake_dagster.ingest.catalog import CatalogHeaderError, parse_catalog, parse_catalogs
from moodlake_dagster.resources import MoodlakeConfig
from moodlake_dagster.settings import load_settings

AS_OF = dt.date(2026, 1, 1)


def parse(path):
    return parse_catalog(path, as_of=AS_OF, batch_id="t", ingested_at=NOW, source_name=path.name)


def test_real_sample_lands_except_the_nameless_row():
    batch = parse(CATALOG_SAMPLE)
    assert batch.records_in == 10_000
    assert len(batch.rows) == 9_999
    assert len({r["track_id"] for r in batch.rows}) == 9_748
    assert len({r["track_genre"] for r in batch.rows}) == 114
    [bad] = batch.bad
    # The Kaggle file's one row without artist, album and title.
    assert (bad.record_index, bad.unit) == (686, "line")
    assert "must not be empty" in bad.reason
    assert bad.message().startswith("catalog_sample.csv, line 686:")


def test_wrong_header_quarantines_every_row_with_the_reason(tmp_path):
    lines = CATALOG_SAMPLE.read_text().splitlines()[:4]
    lines[0] = lines[0].replace("valence", "happiness")
    path = tmp_path / "renamed.csv"
    path.write_text("\n".join(lines))
    batch = parse(path)
    assert batch.rows == [] and batch.records_in == 3 == len(batch.bad)
    assert all("lacks required column(s) valence" in b.reason for b in batch.bad)
    assert batch.unknown_columns == ["happiness"]


def test_bad_rows_are_quarantined_and_the_rest_land(tmp_path):
    with CATALOG_SAMPLE.open(newline="") as source:
        header, *rows = list(csv.reader(source))[:6]
    rows[1][header.index("valence")] = "1.7"
    rows[2][header.index("explicit")] = "maybe"
    rows[3] = rows[3][:5]
    path = tmp_path / "broken.csv"
    with path.open("w", newline="") as out:
        csv.writer(out).writerows([header, *rows])
    batch = parse(path)
    assert len(batch.rows) == 2 and len(batch.bad) == 3
    reasons = {b.record_index: b.reason for b in batch.bad}
    assert reasons[3] == "valence=1.7 outside [0.0, 1.0]"
    assert "explicit='maybe'" in reasons[4]
    assert "fewer fields" in reasons[5]
    assert batch.records_in == len(batch.rows) + len(batch.bad)


SONGS_HEADER = (
    "id,name,album,album_id,artists,artist_ids,track_number,disc_number,explicit,danceability,"
    "energy,key,loudness,mode,speechiness,acousticness,instrumentalness,liveness,valence,tempo,"
    "duration_ms,time_signature,year,release_date"
)
TRACKS_600K_HEADER = (
    "id,name,popularity,duration_ms,explicit,artists,id_artists,release_date,danceability,"
    "energy,key,loudness,mode,speechiness,acousticness,instrumentalness,liveness,valence,tempo,"
    "time_signature"
)
ID_A, ID_B, ID_C = "7lmeHLHBe4nmXzuXc0HDjk", "1wsRitfRRtWyEapl0q22o8", "4ChVFOiAIPwnKLgWGUcErS"


def write(path, header, rows):
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def songs_row(track_id, artists, valence="0.5", name="Testify"):
    features = f"0.47,0.97,7,-5.4,1,0.18,0.0173,2e-06,0.059,{valence},99.3,210133,4.0"
    album, quoted = "The Battle,2eia0myW", '"' + artists.replace('"', '""') + '"'
    return f"{track_id},{name},{album},{quoted},\"['x']\",1,1,False,{features},1999,1999"


def test_songs_1_2m_layout_maps_columns_and_quarantines_bad_rows(tmp_path):
    path = write(
        tmp_path / "tracks_features.csv",
        SONGS_HEADER,
        [
            songs_row(ID_A, "['Rage Against The Machine', \"Guns N' Roses\"]"),
            songs_row(ID_B, "['Unclosed'"),
            songs_row(ID_C, "['Fine']", valence="1.7"),
        ],
    )
    batch = parse(path)
    assert batch.layout == "songs_1_2m" and batch.records_in == 3
    [row] = batch.rows
    assert row["track_id"] == ID_A and row["track_name"] == "Testify"
    assert row["album_name"] == "The Battle"
    assert row["artists"] == "Rage Against The Machine;Guns N' Roses"
    assert row["popularity"] is None and row["track_genre"] is None
    assert row["_catalog_layout"] == "songs_1_2m" and row["explicit"] is False
    reasons = {b.record_index: b.message() for b in batch.bad}
    assert reasons[3].startswith("tracks_features.csv, line 3: artists=")
    assert "not a list literal" in reasons[3]
    assert reasons[4] == "tracks_features.csv, line 4: valence=1.7 outside [0.0, 1.0]"


def test_tracks_600k_layout_maps_columns_and_quarantines_bad_rows(tmp_path):
    features = "0.598,0.224,0,-12.6,1,0.0936,0.743,0.0,0.151,0.127,104.85,3"
    path = write(
        tmp_path / "tracks.csv",
        TRACKS_600K_HEADER,
        [
            f"{ID_A},Carve,6,126903,1,\"['Uli']\",\"['45t']\",1922-02-22,{features}",
            f'{ID_B},Broken,6,126903,0,"Uli, not a list","[\'45t\']",1922,{features}',
            f"{ID_C},Loud,6,126903,0,\"['Uli']\",\"['45t']\",1922,"
            + features.replace("0.598", "lots"),
        ],
    )
    batch = parse(path)
    assert batch.layout == "tracks_600k"
    [row] = batch.rows
    assert (row["track_id"], row["track_name"], row["artists"]) == (ID_A, "Carve", "Uli")
    assert row["popularity"] == 6 and row["explicit"] is True
    assert row["album_name"] is None and row["track_genre"] is None
    reasons = {b.record_index: b.reason for b in batch.bad}
    assert "artists='Uli, not a list'" in reasons[3]
    assert reasons[4] == "danceability='lots' is not a number"
    assert all(b.source_file == "tracks.csv" for b in batch.bad)


def test_earlier_file_wins_a_shared_track_id_and_the_rest_is_counted(tmp_path):
    features = "0.598,0.224,0,-12.6,1,0.0936,0.743,0.0,0.151,0.127,104.85,3"
    first = write(
        tmp_path / "first.csv",
        TRACKS_600K_HEADER,
        [f"{ID_A},From first,6,126903,1,\"['Uli']\",\"['45t']\",1922,{features}"],
    )
    second = write(
        tmp_path / "second.csv",
        SONGS_HEADER,
        [songs_row(ID_A, "['Other']", name="From second"), songs_row(ID_B, "['New']")],
    )
    merged = parse_catalogs([first, second], as_of=AS_OF, batch_id="t", ingested_at=NOW)
    rows = {r["track_id"]: r for r in merged.table.to_pylist()}
    assert rows[ID_A]["track_name"] == "From first" and rows[ID_B]["track_name"] == "Testify"
    assert [f.rows_superseded for f in merged.files] == [0, 1]
    assert [f.rows_landed for f in merged.files] == [1, 1]
    assert merged.records_in == merged.table.num_rows + len(merged.bad) + merged.rows_superseded


def test_unknown_header_is_refused_with_the_expected_layouts(tmp_path):
    path = write(tmp_path / "mystery.csv", "song,singer,mood", ["a,b,c"])
    with pytest.raises(CatalogHeaderError) as err:
        parse(path)
    message = str(err.value)
    assert message.startswith("mystery.csv, line 1: header matches no known catalog layout")
    assert "kaggle_tracks" in message and "songs_1_2m" in message and "tracks_600k" in message


def test_moodlake_catalog_lists_files_in_order(tmp_path):
    settings = load_settings({"MOODLAKE_HOME": str(tmp_path), "MOODLAKE_CATALOG": "a.csv, b.csv"})
    assert [p.name for p in settings.catalogs] == ["a.csv", "b.csv"]
    assert settings.catalog == settings.catalogs[0] and settings.catalog.is_absolute()
    config = MoodlakeConfig.from_settings(settings)
    assert config.settings().catalogs == settings.catalogs
    assert load_settings({"MOODLAKE_HOME": str(tmp_path)}).catalogs == (CATALOG_SAMPLE,)


def test_catalog_add_then_list(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MOODLAKE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MOODLAKE_CATALOG", raising=False)
    monkeypatch.setenv("MOODLAKE_ENV_FILE", str(tmp_path / "no.env"))
    songs = write(tmp_path / "tracks_features.csv", SONGS_HEADER, [songs_row(ID_A, "['A']")])
    assert cli.main(["catalog", "add", str(songs)]) == 0
    assert (tmp_path / "home" / "catalogs.txt").read_text() == f"{songs}\n"
    assert load_settings().catalogs == (songs,)
    capsys.readouterr()
    assert cli.main(["catalog", "list"]) == 0
    out = capsys.readouterr().out
    assert f"1. {songs}  songs_1_2m  1 rows" in out

    mystery = write(tmp_path / "mystery.csv", "song,singer", ["a,b"])
    assert cli.main(["catalog", "add", str(mystery)]) == 1
    assert "header matches no known catalog layout" in capsys.readouterr().err
    assert (tmp_path / "home" / "catalogs.txt").read_text() == f"{songs}\n"

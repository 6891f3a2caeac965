"""The seeded demo generator (demo/generator.py) over the real catalog sample: the same seed
gives the same history, and what it writes is labelled, in range and in the export formats."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json

import pandas as pd
import pytest
from helpers import CATALOG_SAMPLE

from moodlake_dagster.demo.generator import (
    GENERATOR_PLATFORM,
    account_data_records,
    generate_history,
    generate_plays,
    video_records,
    write_account_data_export,
)
from moodlake_dagster.ingest.history import history_format

START = dt.date(2025, 12, 29)


@pytest.fixture(scope="module")
def catalog_ids() -> set[str]:
    return set(pd.read_csv(CATALOG_SAMPLE, usecols=["track_id"])["track_id"])


def test_the_same_seed_gives_the_same_listeners(catalog_ids):
    one = generate_plays(CATALOG_SAMPLE, users=2, start=START, days=6, seed=5)
    again = generate_plays(CATALOG_SAMPLE, users=2, start=START, days=6, seed=5)
    other = generate_plays(CATALOG_SAMPLE, users=2, start=START, days=6, seed=6)
    pd.testing.assert_frame_equal(one, again)
    assert not one["track_id"].equals(other["track_id"])
    assert set(one["user_id"]) == {"demo-listener-1", "demo-listener-2"}
    assert set(one["track_id"]) <= catalog_ids
    assert (one["play_date"] == one["played_at_utc"].dt.date).all()
    assert one["play_date"].min() >= START
    assert one["play_date"].max() < START + dt.timedelta(days=6)
    assert one["skipped"].any() and not one["skipped"].all()


def test_a_history_is_written_per_listener_and_year_and_labelled(tmp_path):
    files = generate_history(CATALOG_SAMPLE, tmp_path, users=1, start=START, days=6, seed=5)
    names = sorted(f.name for f in files)
    assert names == [
        "Streaming_History_Audio_2025_GENERATED.json",
        "Streaming_History_Audio_2026_GENERATED.json",
    ]
    assert all(history_format(name) == "extended" for name in names)
    for path in files:
        year = path.name.split("_")[3]
        records = json.loads(path.read_text())
        assert records and all(r["ts"].startswith(year) for r in records)
        assert {r["platform"] for r in records} == {GENERATOR_PLATFORM}
        documentation = ipaddress.ip_network("192.0.2.0/24")
        assert all(ipaddress.ip_address(r["ip_addr"]) in documentation for r in records)
    assert "generated" in (tmp_path / "GENERATED.md").read_text()
    # The files hold the same plays generate_plays gives for the same seed.
    plays = generate_plays(CATALOG_SAMPLE, users=1, start=START, days=6, seed=5)
    written = sum(len(json.loads(p.read_text())) for p in files)
    assert written == len(plays)


def test_account_data_records_keep_only_what_that_export_has():
    play = {
        "ts": "2025-01-02T10:11:12Z",
        "master_metadata_album_artist_name": "Band",
        "master_metadata_track_name": "Song",
        "ms_played": 1234,
        "spotify_track_uri": "spotify:track:x",
        "shuffle": True,
    }
    assert account_data_records([play]) == [
        {"endTime": "2025-01-02 10:11", "artistName": "Band", "trackName": "Song", "msPlayed": 1234}
    ]
    videos = video_records([play | {"n": i} for i in range(11)], every=5)
    assert [v["n"] for v in videos] == [0, 5, 10]
    assert {v["platform"] for v in videos} == {f"{GENERATOR_PLATFORM} video"}


def test_an_account_data_export_is_split_into_files_of_its_size(tmp_path):
    counts = write_account_data_export(
        CATALOG_SAMPLE, tmp_path / "ann", start=START, days=10, per_file=40
    )
    music = sorted(name for name in counts if name.startswith("StreamingHistory_music_"))
    assert len(music) >= 2 and all(counts[name] <= 40 for name in music)
    assert all(counts[name] == 40 for name in music[:-1])  # only the last file is short
    assert counts["StreamingHistory_podcast_0.json"] == 7
    assert counts["StreamingHistory_audiobook_0.json"] == 3
    for name, n in counts.items():
        assert len(json.loads((tmp_path / "ann" / name).read_text())) == n, name
        assert history_format(name) is not None, name
    for other in ("YourLibrary.json", "Marquee.json", "Read_Me_First_GENERATED.txt"):
        assert (tmp_path / "ann" / other).exists()

"""One history record at a time: file names to formats, records to Bronze rows, and the
reasons a record or a file does not land (ingest/history.py, no Spark)."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from collections import Counter
from pathlib import PurePosixPath

import pytest

from moodlake_dagster.ingest.history import (
    FUTURE_TOLERANCE,
    FileReport,
    HistoryBatch,
    PassedOver,
    RecordError,
    account_label,
    conform,
    content_kind,
    discover_history_files,
    events_table,
    file_accounting,
    history_format,
    lineage_path,
    member_lineage,
    parse_history,
    pass_over_reason,
    play_day,
    record_day,
)
from moodlake_dagster.ingest.privacy import pseudonymize
from moodlake_dagster.ingest.records import BadRecord

NOW = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)
KEY = b"k"
EXTENDED = {
    "ts": "2024-03-01T10:05:00Z",
    "ms_played": 300_000,
    "master_metadata_track_name": "Song",
    "master_metadata_album_artist_name": "Band",
    "master_metadata_album_album_name": "Album",
    "spotify_track_uri": "spotify:track:abc",
    "reason_start": "clickrow",
    "reason_end": "trackdone",
    "shuffle": True,
    "skipped": False,
    "offline": False,
    "offline_timestamp": 1709287200.0,
    "incognito_mode": False,
    "platform": "android",
    "conn_country": "IN",
}


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("Streaming_History_Audio_2024.json", "extended"),
        ("Streaming_History_Audio_2021-2023_7.json", "extended"),
        ("Streaming_History_Video_2024.json", "extended_video"),
        ("endsong.json", "endsong"),
        ("endsong_12.json", "endsong"),
        ("StreamingHistory0.json", "basic"),
        ("StreamingHistory_music_3.json", "basic"),
        ("StreamingHistory_podcast_0.json", "basic_podcast"),
        ("StreamingHistory_audiobook_0.json", "basic_audiobook"),
        ("StreamingHistory.json", None),  # no file number
        ("Streaming_History_Audio_2024.json.part", None),
        ("endsong_x.json", None),
        ("streaminghistory0.json", None),  # Spotify's names are case-exact
        ("YourLibrary.json", None),
    ],
)
def test_file_names_claim_their_format(name, fmt):
    assert history_format(name) == fmt


def test_files_no_parser_claims_say_why():
    assert pass_over_reason("Read_Me_First.pdf") == "not a JSON file: not read"
    for name in ("YourLibrary.json", "Playlist1.json", "Wrapped2023.json", "userdata.json"):
        assert pass_over_reason(name).startswith("account data, not listening history"), name
    other = pass_over_reason("my_history_backup.json")
    assert other.startswith("no parser claims this file name")


def test_a_play_belongs_to_the_utc_day_it_started():
    ended = dt.datetime(2024, 3, 2, 0, 2, tzinfo=dt.UTC)
    assert play_day(ended, 180_000) == dt.date(2024, 3, 1)  # started 23:59
    assert play_day(ended, 60_000) == dt.date(2024, 3, 2)  # started 00:01
    assert play_day(ended, None) == dt.date(2024, 3, 2)


def test_a_basic_record_maps_its_four_fields():
    row = conform(
        {"endTime": "2024-03-01 10:00", "artistName": "A", "trackName": "T", "msPlayed": 5},
        "basic",
        NOW,
    )
    assert row["ts"] == dt.datetime(2024, 3, 1, 10, tzinfo=dt.UTC)
    assert (row["artist_name"], row["track_name"], row["ms_played"]) == ("A", "T", 5)
    assert (row["content_type"], row["source_format"]) == ("track", "basic")
    assert row["play_date"] == dt.date(2024, 3, 1)


def test_podcasts_and_audiobooks_of_the_account_export_land_as_their_kind():
    episode = conform(
        {"endTime": "2024-03-01 10:00", "podcastName": "Show", "episodeName": "E1", "msPlayed": 9},
        "basic_podcast",
        NOW,
    )
    assert episode["content_type"] == "episode"
    assert (episode["episode_show_name"], episode["episode_name"]) == ("Show", "E1")
    assert "track_name" not in episode
    chapter = conform(
        {
            "endTime": "2024-03-01 10:00",
            "audiobookName": "Novel",
            "chapterName": "Ch 1",
            "authorName": "Writer",
            "msPlayed": 9,
        },
        "basic_audiobook",
        NOW,
    )
    assert chapter["content_type"] == "audiobook" and chapter["source_format"] == "basic"
    assert chapter["artist_name"] == "Writer"  # the author stands where an artist would
    assert chapter["audiobook_title"] == "Novel"


def test_an_extended_record_keeps_its_fields_and_drops_nothing_it_knows():
    row = conform(EXTENDED, "extended", NOW)
    assert row["track_name"] == "Song" and row["artist_name"] == "Band"
    assert row["album_name"] == "Album" and row["track_uri"] == "spotify:track:abc"
    assert row["shuffle"] is True and row["skipped"] is False
    assert row["offline_timestamp"] == 1709287200 and isinstance(row["offline_timestamp"], int)
    assert row["conn_country"] == "IN" and row["platform"] == "android"
    assert row["content_type"] == "track" and row["source_format"] == "extended"
    # 10:05 end minus five minutes played: it started at 10:00 the same day.
    assert row["play_date"] == dt.date(2024, 3, 1)


def test_the_content_type_follows_the_uri_that_is_set():
    bare = {k: v for k, v in EXTENDED.items() if k != "spotify_track_uri"}
    assert conform(EXTENDED, "extended_video", NOW)["content_type"] == "video"
    assert conform(bare | {"spotify_episode_uri": "e"}, "extended", NOW)["content_type"] == (
        "episode"
    )
    book = conform(bare | {"audiobook_chapter_uri": "spotify:chapter:c"}, "extended", NOW)
    assert book["content_type"] == "audiobook"
    assert book["audiobook_uri"] == "spotify:chapter:c"  # the chapter stands in for the book
    assert conform(bare, "extended", NOW)["content_type"] == "unknown"
    assert conform(EXTENDED, "endsong", NOW)["source_format"] == "endsong"


def test_time_stamps_with_an_offset_become_utc():
    row = conform(EXTENDED | {"ts": "2024-03-01T01:00:00+02:00", "ms_played": 0}, "extended", NOW)
    assert row["ts"] == dt.datetime(2024, 2, 29, 23, tzinfo=dt.UTC)
    assert row["play_date"] == dt.date(2024, 2, 29)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"ts": None}, "missing or non-text time stamp (None)"),
        ({"ts": 1709287200}, "missing or non-text time stamp (1709287200)"),
        ({"ts": "yesterday"}, "unparseable time stamp 'yesterday'"),
        ({"ms_played": -1}, "missing or negative ms played (-1)"),
        ({"ms_played": None}, "missing or negative ms played (None)"),
        ({"ms_played": True}, "field 'ms_played' should be a number, got True"),
        ({"ms_played": 1.5}, "field 'ms_played' has the wrong type (float)"),
        ({"shuffle": "yes"}, "field 'shuffle' has the wrong type (str)"),
        ({"master_metadata_track_name": 7}, "field 'master_metadata_track_name' has the wrong"),
    ],
)
def test_a_record_that_cannot_land_says_why(change, reason):
    with pytest.raises(RecordError) as err:
        conform(EXTENDED | change, "extended", NOW)
    assert str(err.value).startswith(reason)


def test_only_an_object_is_a_record():
    with pytest.raises(RecordError, match="expected a JSON object, got list"):
        conform([1, 2], "extended", NOW)


def test_a_clock_a_little_ahead_is_tolerated_a_play_from_tomorrow_is_not():
    ahead = NOW + FUTURE_TOLERANCE - dt.timedelta(seconds=1)
    too_far = NOW + FUTURE_TOLERANCE + dt.timedelta(seconds=1)
    assert conform(EXTENDED | {"ts": ahead.isoformat()}, "extended", NOW)["ts"] == ahead
    with pytest.raises(RecordError, match="is in the future"):
        conform(EXTENDED | {"ts": too_far.isoformat()}, "extended", NOW)


def test_a_quarantined_record_keeps_its_day_when_the_time_is_readable():
    """Range runs own the quarantine of their days: the day is read when the time can be."""
    record = EXTENDED | {"ts": "2024-03-02T00:02:00Z", "ms_played": 180_000}
    assert record_day(record, "extended", NOW) == dt.date(2024, 3, 1)  # start day
    unreadable_ms = record | {"ms_played": "lots"}
    assert record_day(unreadable_ms, "extended", NOW) == dt.date(2024, 3, 2)  # end day
    assert record_day(record | {"ms_played": True}, "extended", NOW) == dt.date(2024, 3, 2)
    assert record_day(record | {"ts": "2099-01-01T00:00:00Z"}, "extended", NOW) is None
    assert record_day(record | {"ts": "soon"}, "extended", NOW) is None
    assert record_day("not a record", "extended", NOW) is None
    basic = {"endTime": "2024-03-02 00:01", "msPlayed": 120_000}
    assert record_day(basic, "basic", NOW) == dt.date(2024, 3, 1)


def test_lineage_paths_never_carry_the_account_folder_in_clear():
    assert lineage_path(PurePosixPath("endsong_0.json"), KEY) == "endsong_0.json"
    nested = lineage_path(PurePosixPath("alice/export/StreamingHistory0.json"), KEY)
    alice, export = pseudonymize("alice", KEY), pseudonymize("export", KEY)
    assert nested == f"{alice}/{export}/StreamingHistory0.json"
    spotify = "alice/Spotify Extended Streaming History/Streaming_History_Audio_2023-2024_1.json"
    assert lineage_path(PurePosixPath(spotify), KEY) == spotify.replace("alice", alice)
    generated = "alice/Streaming_History_Audio_2024_GENERATED.json"  # the generator's mark
    assert lineage_path(PurePosixPath(generated), KEY) == generated.replace("alice", alice)
    assert account_label(PurePosixPath("alice/x.json"), "me") == "alice"
    assert account_label(PurePosixPath("x.json"), "me") == "me"


def test_content_kinds_in_the_words_of_the_summary():
    track = {"content_type": "track", "ms_played": 1000, "incognito_mode": False}
    assert content_kind(track) == "music"
    assert content_kind(track | {"incognito_mode": True}) == "private session"
    assert content_kind(track | {"ms_played": 0}) == "0 ms (never sounded)"
    assert content_kind({"content_type": "episode"}) == "podcast"
    assert content_kind({"content_type": "audiobook"}) == "audiobook"
    assert content_kind({"content_type": "video"}) == "video"


def test_batch_totals_come_from_its_file_reports():
    files = [
        FileReport("a.json", "basic", "s1", records=3, bad=1),
        FileReport("b.json", "extended", "s2", records=4, unknown_fields=Counter({"new": 2})),
    ]
    batch = HistoryBatch([], [], files, [PassedOver("x.pdf", "not a JSON file: not read")])
    assert batch.records_in == 7
    assert batch.ignored_files == ["x.pdf"]
    assert batch.unknown_field_messages() == [
        "b.json: unknown field 'new' in 2 record(s); dropped, record kept"
    ]


def test_discovery_skips_hidden_files_and_waits_for_partial_downloads(tmp_path):
    (tmp_path / "me").mkdir()
    (tmp_path / "me" / "StreamingHistory0.json").write_text("[]")
    (tmp_path / "me" / ".StreamingHistory1.json").write_text("[]")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "StreamingHistory2.json").write_text("[]")
    (tmp_path / "me" / "Streaming_History_Audio_2024.json.part").write_text("[")
    (tmp_path / "notes.txt").write_text("hello")
    with zipfile.ZipFile(tmp_path / "me" / "export.zip", "w") as archive:
        archive.writestr("Spotify Account Data/StreamingHistory_music_0.json", "[]")
        archive.writestr("Spotify Account Data/YourLibrary.json", "{}")
        archive.writestr("Spotify Account Data/", "")
    found, passed = discover_history_files(tmp_path)
    assert [(str(s.location), s.format, s.member) for s in found] == [
        ("me/StreamingHistory0.json", "basic", None),
        ("me/export.zip", "basic", "Spotify Account Data/StreamingHistory_music_0.json"),
    ]
    reasons = dict(passed)
    assert reasons["me/Streaming_History_Audio_2024.json.part"].startswith("partial download")
    assert reasons["notes.txt"] == "not a JSON file: not read"
    assert reasons["me/export.zip/Spotify Account Data/YourLibrary.json"].startswith("account data")
    assert len(passed) == 3  # hidden files and the zip's folder entry are not listed


def test_a_legacy_endsong_file_names_its_account_and_drops_its_secrets(tmp_path):
    record = EXTENDED | {
        "username": "Dana",
        "ip_addr_decrypted": "203.0.113.5",
        "user_agent_decrypted": "unknown",
        "episode_name": None,
    }
    (tmp_path / "endsong_0.json").write_text(json.dumps([record, record | {"ms_played": 1}]))
    batch = parse_history(
        tmp_path, key=KEY, default_user="me", now=NOW, batch_id="b", ingested_at=NOW
    )
    assert len(batch.events) == 2 and batch.bad == []
    assert {e["user_id"] for e in batch.events} == {pseudonymize("dana", KEY)}
    assert batch.unknown_field_messages() == []  # dropped fields are known, not "unknown"
    table = events_table(batch.events)
    assert table.num_rows == 2 and table.column("user_id").null_count == 0
    assert {"play_date", "ts", "ms_played", "_source_file", "_record_index"} <= set(
        table.column_names
    )
    flat = json.dumps(table.to_pylist(), default=str)
    for secret in ("Dana", "203.0.113.5", "username", "ip_addr"):
        assert secret not in flat


def test_api_plays_are_accounted_as_a_source_of_their_own():
    batch = HistoryBatch([], [], [FileReport("me/a.json", "basic", "s", records=2)], [])
    landed = [
        {"_source_file": "me/a.json", "content_type": "track", "ms_played": 5},
        {"_source_file": "spotify-api/t/page-0", "content_type": "track", "ms_played": None},
    ]
    rows = file_accounting(batch, landed, [BadRecord("spotify-api/t/page-0", 1, "x")])
    by_file = {r["file"]: r for r in rows}
    assert by_file["me/a.json"] == {
        "file": "me/a.json",
        "format": "basic",
        "records": 2,
        "landed": 1,
        "quarantined": 0,
        "outside_range": 1,
        "kinds": {"music": 1},
    }
    api = by_file["spotify-api/t/page-0"]
    assert api["format"] == "api" and api["records"] == 2 and api["quarantined"] == 1


def test_only_spotifys_own_file_names_stay_in_clear_in_lineage():
    assert "alice_smith" not in lineage_path(PurePosixPath("alice_smith.zip"), KEY)
    nested = lineage_path(PurePosixPath("me/alice-smith-2024/StreamingHistory0.json"), KEY)
    assert "alice-smith" not in nested and nested.endswith("/StreamingHistory0.json")
    # Names that only begin like Spotify's, and folders inside an archive.
    for name in ("Streaming_History_Audio_alice.json", "Identity alice smith.json"):
        assert "alice" not in lineage_path(PurePosixPath(f"me/{name}"), KEY)
    archive = lineage_path(PurePosixPath("alice_smith.zip"), KEY)
    assert archive.endswith(".zip") and "alice" not in archive
    assert member_lineage("alice smith/MyData/YourLibrary.json", KEY) == (
        f"{pseudonymize('alice smith', KEY)}/MyData/YourLibrary.json"
    )
    # A passed-over member's path names the archive as a landed member's does.
    passed = lineage_path(PurePosixPath("alice_smith.zip/notes/x.txt"), KEY)
    assert passed.startswith(archive + "/") and "notes" not in passed

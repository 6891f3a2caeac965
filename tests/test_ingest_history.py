"""Parsing real and broken history files: every record lands or is quarantined with a reason."""

from __future__ import annotations

import json
import re
import shutil

from helpers import BASIC, CATALOG_SAMPLE, EXTENDED, NOW, link_landing

from moodlake_dagster.demo.generator import (
    _load_catalog,
    _user_plays,
    video_records,
    write_account_data_export,
)
from moodlake_dagster.ingest.history import file_accounting, parse_history
from moodlake_dagster.ingest.privacy import pseudonymize

KEY = b"test-key"
IP = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")


def parse(landing, default_user="me"):
    return parse_history(
        landing, key=KEY, default_user=default_user, now=NOW, batch_id="t", ingested_at=NOW
    )


def test_real_extended_history_lands_whole_and_without_ip(shared_data, tmp_path):
    landing = link_landing(tmp_path / "landing", {"efrrowini": EXTENDED})
    batch = parse(landing)
    assert batch.records_in == 6_978
    assert len(batch.events) == 6_978 and batch.bad == []
    kinds = {}
    for event in batch.events:
        kinds[event["content_type"]] = kinds.get(event["content_type"], 0) + 1
    assert kinds == {"track": 6_929, "episode": 49}
    assert {e["user_id"] for e in batch.events} == {pseudonymize("efrrowini", KEY)}
    source_ips = {r["ip_addr"] for f in EXTENDED.glob("*.json") for r in json.loads(f.read_text())}
    assert len(source_ips) > 10
    flat = json.dumps(batch.events, default=str)
    assert not any(ip in flat for ip in source_ips)
    assert "ip_addr" not in batch.events[0]


def test_real_basic_history_and_ignored_files(shared_data, tmp_path):
    landing = link_landing(tmp_path / "landing", {"wardana": BASIC})
    batch = parse(landing)
    assert batch.records_in == len(batch.events) == 45_116
    folder = pseudonymize("wardana", KEY)  # account folders are pseudonymized in lineage
    assert sorted(batch.ignored_files) == [f"{folder}/Playlist1.json", f"{folder}/YourLibrary.json"]
    assert {e["source_format"] for e in batch.events} == {"basic"}
    first = min(batch.events, key=lambda e: e["ts"])
    assert first["ts"].isoformat() == "2021-04-08T13:27:00+00:00"
    assert first["artist_name"] == "Oasis"


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


GOOD = {"endTime": "2024-03-01 10:00", "artistName": "A", "trackName": "T", "msPlayed": 200000}


def test_bad_input_is_quarantined_with_file_and_record_and_nothing_is_lost(tmp_path):
    landing = tmp_path / "landing"
    records = [GOOD, {**GOOD, "endTime": "2024-03-01 11:00"}]
    _write(landing / "me" / "StreamingHistory0.json", json.dumps(records))
    # a duplicate file (byte-identical copy under another name)
    shutil.copy(
        landing / "me" / "StreamingHistory0.json", landing / "me" / "StreamingHistory9.json"
    )
    # malformed record in the middle: the records around it still land
    _write(
        landing / "me" / "StreamingHistory1.json",
        '[{"endTime": "2024-03-02 10:00", "artistName": "A", "trackName": "T", "msPlayed": 1},\n'
        ' {"endTime": "2024-03-02 11:00", "artistName": "A" "trackName": "T"},\n'
        ' {"endTime": "2024-03-02 12:00", "artistName": "B", "trackName": "U", "msPlayed": 5}]',
    )
    # truncated file
    _write(
        landing / "me" / "StreamingHistory2.json",
        '[{"endTime": "2024-03-03 10:00", "artistName": "A", "trackName": "T", "msPlayed": 1},'
        ' {"endTime": "2024-03-03 11:00", "artistNa',
    )
    # empty file; a single object instead of an array; an array that is never closed
    _write(landing / "me" / "StreamingHistory3.json", "")
    _write(landing / "me" / "StreamingHistory4.json", json.dumps(GOOD))
    _write(landing / "me" / "StreamingHistory5.json", "[" + json.dumps(GOOD))
    # a future time stamp, an unknown field, a wrong type
    _write(
        landing / "me" / "Streaming_History_Audio_2024.json",
        json.dumps(
            [
                {
                    "ts": "2030-01-01T00:00:00Z",
                    "ms_played": 1,
                    "spotify_track_uri": "spotify:track:x",
                },
                {
                    "ts": "2024-03-04T00:00:00Z",
                    "ms_played": 1,
                    "spotify_track_uri": "spotify:track:y",
                    "brand_new_field": 1,
                    "ip_addr": "203.0.113.9",
                },
                {
                    "ts": "2024-03-04T00:01:00Z",
                    "ms_played": "lots",
                    "ip_addr": "203.0.113.10",
                    "username": "Someone",
                },
            ]
        ),
    )
    batch = parse(landing)
    me = pseudonymize("me", KEY)

    assert batch.records_in == len(batch.events) + len(batch.bad)
    reasons = {(b.source_file, b.record_index): b.reason for b in batch.bad}
    assert reasons[(f"{me}/StreamingHistory1.json", 1)].startswith("malformed JSON at line 2")
    assert reasons[(f"{me}/StreamingHistory2.json", 1)].startswith("truncated record")
    assert reasons[(f"{me}/StreamingHistory3.json", None)] == "empty file"
    assert reasons[(f"{me}/StreamingHistory4.json", None)].startswith("not a JSON array")
    assert reasons[(f"{me}/StreamingHistory5.json", None)] == (
        "truncated file: the JSON array is not closed"
    )
    assert "in the future" in reasons[(f"{me}/Streaming_History_Audio_2024.json", 0)]
    assert (
        "'ms_played' has the wrong type" in reasons[(f"{me}/Streaming_History_Audio_2024.json", 2)]
    )
    assert reasons[(f"{me}/StreamingHistory9.json", 0)].startswith("duplicate file")
    landed = {(e["_source_file"], e["_record_index"]) for e in batch.events}
    assert landed == {
        (f"{me}/StreamingHistory0.json", 0),
        (f"{me}/StreamingHistory0.json", 1),
        (f"{me}/StreamingHistory1.json", 0),
        (f"{me}/StreamingHistory1.json", 2),
        (f"{me}/StreamingHistory2.json", 0),
        (f"{me}/StreamingHistory5.json", 0),
        (f"{me}/Streaming_History_Audio_2024.json", 1),
    }
    assert batch.unknown_field_messages() == [
        f"{me}/Streaming_History_Audio_2024.json: unknown field 'brand_new_field' in 1 record(s); "
        "dropped, record kept"
    ]
    messages = " ".join(b.message() for b in batch.bad)
    assert f"{me}/StreamingHistory1.json, record 1: malformed JSON" in messages
    # the future record has no usable day; the duplicate-file records keep theirs
    future = next(b for b in batch.bad if "future" in b.reason)
    assert future.record_date is None
    assert not any(IP.search(b.raw or "") for b in batch.bad)
    wrong_type = next(b for b in batch.bad if "'ms_played'" in b.reason)
    assert '"ip_addr": "<redacted>"' in wrong_type.raw and "Someone" not in wrong_type.raw


def test_account_comes_from_username_then_folder_then_default(tmp_path):
    landing = tmp_path / "landing"
    record = {"ts": "2020-01-01T00:00:00Z", "ms_played": 5, "spotify_track_uri": "spotify:track:a"}
    _write(
        landing / "endsong_0.json",
        json.dumps(
            [
                record
                | {
                    "username": "Alice",
                    "ip_addr_decrypted": "198.51.100.7",
                    "user_agent_decrypted": "Mozilla",
                },
                record,
            ]
        ),
    )
    _write(landing / "bob" / "endsong_0.json", json.dumps([record]))
    batch = parse(landing, default_user="carol")
    users = [
        e["user_id"]
        for e in sorted(batch.events, key=lambda e: (e["_source_file"], e["_record_index"]))
    ]
    # files sort as "endsong_0.json" (root: username, then the default), "<bob's pseudonym>/..."
    assert users == [
        pseudonymize("alice", KEY),
        pseudonymize("carol", KEY),
        pseudonymize("bob", KEY),
    ]
    flat = json.dumps(batch.events, default=str)
    for secret in ("Alice", "bob", "198.51.100.7", "Mozilla"):
        assert secret not in flat


def test_the_export_zip_as_spotify_sends_it(shared_data, tmp_path):
    """A zip in an account folder: members parsed, lineage names the member, account kept."""
    import zipfile

    archive = tmp_path / "landing" / "efrrowini" / "my_spotify_data.zip"
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(EXTENDED.glob("*.json")):
            zf.write(path, f"Spotify Extended Streaming History/{path.name}")
        zf.writestr("Spotify Extended Streaming History/ReadMeFirst.pdf", b"%PDF")
    batch = parse(tmp_path / "landing")
    assert len(batch.events) == 6_978 and batch.bad == []
    assert {e["user_id"] for e in batch.events} == {pseudonymize("efrrowini", KEY)}
    sources = {e["_source_file"] for e in batch.events}
    account = pseudonymize("efrrowini", KEY)
    assert (
        f"{account}/my_spotify_data.zip/Spotify Extended Streaming History/"
        + ("Streaming_History_Audio_2024.json")
        in sources
    )
    assert not any("efrrowini" in s for s in sources)


def test_a_corrupt_zip_is_reported_not_fatal(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "export.zip").write_bytes(b"PK\x03\x04 not really a zip")
    batch = parse(landing)
    # The operator named the archive: its name is pseudonymized like a folder's.
    assert batch.events == [] and batch.passed_over == [
        (f"{pseudonymize('export', KEY)}.zip", "not a readable zip archive")
    ]


def test_an_account_data_export_is_accounted_for_file_by_file(tmp_path):
    """Music, podcast and audiobook history land with their kind; the export's other files
    are listed with the reason they are not read; every record is counted once."""
    counts = write_account_data_export(CATALOG_SAMPLE, tmp_path / "landing" / "ann", days=30)
    batch = parse(tmp_path / "landing")
    assert batch.bad == [] and batch.records_in == sum(counts.values())
    rows = {r["file"].split("/")[-1]: r for r in file_accounting(batch, batch.events, [])}
    music = rows["StreamingHistory_music_0.json"]
    assert music["format"] == "basic"
    assert music["records"] == music["landed"] == counts["StreamingHistory_music_0.json"]
    assert rows["StreamingHistory_podcast_0.json"]["kinds"] == {"podcast": 7}
    assert rows["StreamingHistory_audiobook_0.json"]["kinds"] == {"audiobook": 3}
    assert rows["StreamingHistory_audiobook_0.json"]["format"] == "basic_audiobook"
    assert "account data, not listening history" in rows["YourLibrary.json"]["reason"]
    assert "account data" in rows["Marquee.json"]["reason"]
    # Not a name of Spotify's (which is Read_Me_First.pdf): listed under its pseudonym.
    readme = pseudonymize("Read_Me_First_GENERATED.txt", KEY)
    assert rows[readme]["reason"] == "not a JSON file: not read"
    for row in rows.values():
        if row["format"]:
            assert row["records"] == row["landed"] + row["quarantined"] + row["outside_range"]
    chapter = next(e for e in batch.events if e["content_type"] == "audiobook")
    assert chapter["audiobook_title"] == "A Generated Novel"
    assert chapter["audiobook_chapter_title"] == "Chapter 1"
    episode = next(e for e in batch.events if e["content_type"] == "episode")
    assert episode["episode_show_name"] == "Generated Show" and not episode.get("track_name")


def test_video_history_lands_as_video_and_unknown_names_say_why(tmp_path):
    rng = __import__("numpy").random.default_rng(3)
    plays = _user_plays(_load_catalog(CATALOG_SAMPLE), rng, NOW.date().replace(day=1), 3)
    videos = video_records(plays)
    _write(tmp_path / "landing" / "me" / "Streaming_History_Video_2026.json", json.dumps(videos))
    _write(tmp_path / "landing" / "me" / "my_history_backup.json", "[]")
    batch = parse(tmp_path / "landing")
    assert len(batch.events) == len(videos) > 0
    assert {e["content_type"] for e in batch.events} == {"video"}
    assert {e["source_format"] for e in batch.events} == {"extended"}
    (row, unclaimed) = file_accounting(batch, batch.events, [])
    assert row["format"] == "extended_video" and row["kinds"] == {"video": len(videos)}
    assert unclaimed["records"] == 0 and "no parser claims this file name" in unclaimed["reason"]


def test_a_play_belongs_to_the_day_it_started(tmp_path):
    """Exports stamp the end; a play that ends just after midnight started the day before."""
    records = [
        {**GOOD, "endTime": "2024-03-02 00:01", "msPlayed": 180_000},
        {**GOOD, "endTime": "2024-03-02 00:10", "msPlayed": 180_000},
    ]
    _write(tmp_path / "landing" / "me" / "StreamingHistory0.json", json.dumps(records))
    days = [e["play_date"].isoformat() for e in parse(tmp_path / "landing").events]
    assert days == ["2024-03-01", "2024-03-02"]


def test_a_history_folder_linked_into_the_landing_folder_lands(shared_data, tmp_path):
    """`ln -s ~/Downloads/my_spotify_data landing/me` is how a person adds an export."""
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "wardana").symlink_to(BASIC, target_is_directory=True)
    (landing / "loop").symlink_to(landing, target_is_directory=True)  # must not recurse forever
    batch = parse(landing)
    assert batch.records_in == len(batch.events) == 45_116

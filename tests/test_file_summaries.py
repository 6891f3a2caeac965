"""A run over a few days reads only the landing files with records on them; every other file is
accounted for from its summary, exactly as reading it would (ingest/file_summaries.py)."""

from __future__ import annotations

import datetime as dt
import json

from moodlake_dagster.ingest.file_summaries import FileSummaries
from moodlake_dagster.ingest.history import parse_history, play_day_span

NOW = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)
KEY = b"k"
CODE = "code-1"


def record(day: str, uri: str = "spotify:track:abc", **extra) -> dict:
    return {
        "ts": f"{day}T10:05:00Z",
        "ms_played": 200_000,
        "master_metadata_track_name": "Song",
        "master_metadata_album_artist_name": "Band",
        "spotify_track_uri": uri,
        "reason_end": "trackdone",
        "platform": "android",
        **extra,
    }


def landing(tmp_path):
    """Three files: an old year with a bad dated record and an unknown field, last month, and
    a day whose file also holds an unreadable record (no day)."""
    folder = tmp_path / "landing" / "me"
    folder.mkdir(parents=True)
    old = [record(f"2024-03-{d:02d}", new_field=1) for d in range(1, 29)]
    old.append(record("2024-03-05", ms_played="lots"))  # bad, but its day is readable
    recent = [record(f"2026-10-{d:02d}") for d in range(1, 31)]
    undated = [record("2026-11-01"), {"ts": "never"}]
    for name, records in (
        ("Streaming_History_Audio_2024.json", old),
        ("Streaming_History_Audio_2026.json", recent),
        ("Streaming_History_Audio_2026_1.json", undated),
    ):
        (folder / name).write_text(json.dumps(records))
    return tmp_path / "landing"


def parse(root, day: dt.date, summaries=None):
    return parse_history(
        root,
        key=KEY,
        default_user="me",
        now=NOW,
        batch_id="b",
        ingested_at=NOW,
        start=day,
        end=day,
        summaries=summaries,
    )


def same(a, b) -> None:
    """The same parse, but for which files were read."""
    assert a.rows.equals(b.rows)
    assert [(r.source_file, r.record_index, r.reason) for r in a.bad] == [
        (r.source_file, r.record_index, r.reason) for r in b.bad
    ]
    strip = [(f.source_file, f.records, f.bad, dict(f.unknown_fields)) for f in a.files]
    assert strip == [(f.source_file, f.records, f.bad, dict(f.unknown_fields)) for f in b.files]
    assert a.play_days == b.play_days


def test_a_one_day_run_reads_only_the_files_with_records_that_day(tmp_path):
    root = landing(tmp_path)
    path = tmp_path / "home" / "cache" / "landing_files.json"
    first = parse(root, dt.date(2026, 10, 5), FileSummaries(path, CODE))
    assert not any(f.unread for f in first.files)  # nothing known yet: every file read
    day = dt.date(2026, 10, 7)
    remembered = parse(root, day, FileSummaries(path, CODE))
    same(remembered, parse(root, day))
    unread = {f.source_file.rsplit("/", 1)[-1] for f in remembered.files if f.unread}
    # The old year has nothing that day; the file with an undated bad record is always read.
    assert unread == {"Streaming_History_Audio_2024.json"}
    assert remembered.rows.num_rows == 1
    assert [r.reason for r in remembered.bad if r.record_date is None]  # the undated one


def test_a_day_a_remembered_file_has_records_on_reads_it(tmp_path):
    root = landing(tmp_path)
    path = tmp_path / "summaries.json"
    parse(root, dt.date(2026, 10, 5), FileSummaries(path, CODE))
    day = dt.date(2024, 3, 5)  # the old file's good play and its bad record of that day
    remembered = parse(root, day, FileSummaries(path, CODE))
    same(remembered, parse(root, day))
    assert not any(f.unread for f in remembered.files if "2024" in f.source_file)
    assert len(remembered.bad) == 2 and remembered.rows.num_rows == 1


def test_a_changed_file_or_other_code_is_read_again(tmp_path):
    root = landing(tmp_path)
    path = tmp_path / "summaries.json"
    day = dt.date(2026, 10, 7)
    parse(root, day, FileSummaries(path, CODE))
    old = root / "me" / "Streaming_History_Audio_2024.json"
    records = json.loads(old.read_text()) + [record("2026-10-07", uri="spotify:track:new")]
    old.write_text(json.dumps(records))  # re-exported: now it has a play on the day
    changed = parse(root, day, FileSummaries(path, CODE))
    same(changed, parse(root, day))
    assert changed.rows.num_rows == 2 and not any(f.unread for f in changed.files)
    assert not any(f.unread for f in parse(root, day, FileSummaries(path, "code-2")).files)


def test_the_play_day_span_from_summaries_is_the_span_from_reading(tmp_path):
    root = landing(tmp_path)
    path = tmp_path / "summaries.json"
    read = play_day_span(root, NOW)
    assert play_day_span(root, NOW, FileSummaries(path, CODE)) == read
    assert play_day_span(root, NOW, FileSummaries(path, CODE)) == read
    assert read == (dt.date(2024, 3, 1), dt.date(2026, 11, 1))


def test_unreadable_summaries_mean_reading_every_file(tmp_path):
    root = landing(tmp_path)
    path = tmp_path / "summaries.json"
    path.write_text("{not json")
    day = dt.date(2026, 10, 7)
    batch = parse(root, day, FileSummaries(path, CODE))
    same(batch, parse(root, day))
    assert not any(f.unread for f in batch.files)
    assert json.loads(path.read_text())["code"] == CODE  # rewritten whole


def test_summaries_keep_only_the_files_still_landed(tmp_path):
    root = landing(tmp_path)
    path = tmp_path / "summaries.json"
    parse(root, dt.date(2026, 10, 7), FileSummaries(path, CODE))
    assert len(json.loads(path.read_text())["files"]) == 3
    (root / "me" / "Streaming_History_Audio_2024.json").unlink()
    parse(root, dt.date(2026, 10, 7), FileSummaries(path, CODE))
    assert len(json.loads(path.read_text())["files"]) == 2


def test_a_day_with_only_a_bad_record_of_a_remembered_file_reads_it(tmp_path):
    root = landing(tmp_path)
    old = root / "me" / "Streaming_History_Audio_2024.json"
    records = json.loads(old.read_text()) + [record("2024-04-02", ms_played="lots")]
    old.write_text(json.dumps(records))  # its only record of 2024-04-02 is a bad one
    path = tmp_path / "summaries.json"
    parse(root, dt.date(2026, 10, 5), FileSummaries(path, CODE))
    day = dt.date(2024, 4, 2)
    remembered = parse(root, day, FileSummaries(path, CODE))
    same(remembered, parse(root, day))
    assert [r.record_date for r in remembered.bad if r.record_date] == [day]


def test_a_duplicate_file_is_read_not_taken_from_its_originals_summary(tmp_path):
    root = landing(tmp_path)
    original = root / "me" / "Streaming_History_Audio_2026.json"
    path = tmp_path / "summaries.json"
    parse(root, dt.date(2026, 10, 5), FileSummaries(path, CODE))
    (root / "me" / "Streaming_History_Audio_2026_2.json").write_bytes(original.read_bytes())
    day = dt.date(2026, 10, 7)
    remembered = parse(root, day, FileSummaries(path, CODE))
    same(remembered, parse(root, day))
    duplicate = next(f for f in remembered.files if f.duplicate_of)
    assert not duplicate.unread and duplicate.bad == 30  # every record a duplicate's
    assert sum("duplicate file" in r.reason for r in remembered.bad) == 1  # the day's one


def test_a_run_with_an_earlier_clock_reads_the_file_again(tmp_path):
    root = landing(tmp_path)
    path = tmp_path / "summaries.json"
    parse(root, dt.date(2026, 10, 5), FileSummaries(path, CODE))
    earlier = NOW - dt.timedelta(days=400)  # the 2026 plays lie in this clock's future
    batch = parse_history(
        root,
        key=KEY,
        default_user="me",
        now=earlier,
        batch_id="b",
        ingested_at=earlier,
        start=dt.date(2024, 3, 2),
        end=dt.date(2024, 3, 2),
        summaries=FileSummaries(path, CODE),
    )
    assert not any(f.unread for f in batch.files)


def test_the_summaries_name_no_listener_and_no_file(tmp_path):
    folder = tmp_path / "landing" / "alice.smith"
    folder.mkdir(parents=True)
    plays = [
        record(f"2024-03-{d:02d}", username="alice.smith", ip_addr="203.0.113.7")
        for d in range(1, 5)
    ]
    (folder / "endsong_0.json").write_text(json.dumps(plays))
    path = tmp_path / "summaries.json"
    parse(tmp_path / "landing", dt.date(2024, 3, 2), FileSummaries(path, CODE))
    text = path.read_text()
    assert json.loads(text)["files"]  # remembered
    for clear in ("alice", "203.0.113.7", "endsong_0.json", "landing"):
        assert clear not in text

"""The landing sensor's memory and its look at a folder (ingest/landing.py), with no Dagster:
day runs, the cursor's round trip, and scan_landing on a temp folder with a chosen clock."""

from __future__ import annotations

import datetime as dt
import json
import os
import zipfile

import pytest

from moodlake_dagster.ingest.landing import (
    CURSOR_VERSION,
    FileState,
    LandingChanges,
    LandingCursor,
    compact_runs,
    expand_runs,
    scan_landing,
)

D = dt.date
NOW = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)
SETTLE, PATIENCE = 30.0, 600.0


def test_days_compact_into_closed_runs_and_expand_back():
    days = [D(2024, 1, 3), D(2024, 1, 1), D(2024, 1, 2), D(2024, 1, 2), D(2024, 2, 29)]
    runs = compact_runs(days)
    assert runs == [["2024-01-01", "2024-01-03"], ["2024-02-29", "2024-02-29"]]
    assert list(expand_runs(runs)) == sorted(set(days))
    assert compact_runs([]) == []
    # Across a month and a year end, consecutive days are one run.
    year_end = [D(2023, 12, 31) + dt.timedelta(days=i) for i in range(3)]
    assert compact_runs(year_end) == [["2023-12-31", "2024-01-02"]]


def test_the_cursor_round_trips_and_is_compact():
    state = FileState(10, 123, "ab" * 32, [["2024-01-01", "2024-01-05"]])
    cursor = LandingCursor({"z/b.json": state, "a.json": FileState(1, 2, "cd" * 32, [])})
    raw = cursor.dump()
    assert " " not in raw  # compact separators: the cursor is stored on every tick
    data = json.loads(raw)
    assert data["version"] == CURSOR_VERSION and list(data["files"]) == ["a.json", "z/b.json"]
    again = LandingCursor.parse(raw)
    assert again == cursor
    assert again.files["z/b.json"].day_set() == {D(2024, 1, d) for d in range(1, 6)}


def test_no_cursor_is_an_empty_cursor_and_an_unknown_version_is_refused():
    assert LandingCursor.parse(None).files == {} and LandingCursor.parse("").files == {}
    with pytest.raises(ValueError, match="landing cursor version 99 is not supported"):
        LandingCursor.parse(json.dumps({"version": 99, "files": {}}))


def test_the_run_key_follows_what_changed_not_the_order_it_was_found_in():
    files = {n: FileState(1, 1, n * 8, []) for n in ("a", "b")}
    one = LandingChanges(LandingCursor(dict(files)), changed=["a", "b"], removed=["c"])
    two = LandingChanges(LandingCursor(dict(files)), changed=["b", "a"], removed=["c"])
    assert one.fingerprint == two.fingerprint and len(one.fingerprint) == 20
    other_content = LandingCursor(files | {"a": FileState(1, 1, "different", [])})
    assert LandingChanges(other_content, changed=["a", "b"], removed=["c"]).fingerprint != (
        one.fingerprint
    )
    assert LandingChanges(LandingCursor(files), changed=["a", "b"]).fingerprint != one.fingerprint


def _record(day: str, hour: int = 10) -> dict:
    return {"endTime": f"{day} {hour:02d}:00", "artistName": "A", "trackName": "T", "msPlayed": 1}


def _land(path, text: str, age_s: float) -> None:
    """Write `text`, last modified `age_s` seconds before NOW."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    stamp = NOW.timestamp() - age_s
    os.utime(path, (stamp, stamp))


def scan(landing, cursor):
    return scan_landing(landing, cursor, now=NOW, settle_s=SETTLE, patience_s=PATIENCE)


def test_a_new_still_file_is_changed_with_its_play_days(tmp_path):
    records = [_record("2024-03-01"), _record("2024-03-02"), _record("2024-03-05")]
    _land(tmp_path / "me" / "StreamingHistory0.json", json.dumps(records), age_s=60)
    changes = scan(tmp_path, LandingCursor())
    assert changes.changed == ["me/StreamingHistory0.json"] and changes.removed == []
    assert changes.days == {D(2024, 3, 1), D(2024, 3, 2), D(2024, 3, 5)}
    state = changes.cursor.files["me/StreamingHistory0.json"]
    assert state.days == [["2024-03-01", "2024-03-02"], ["2024-03-05", "2024-03-05"]]
    assert state.size == (tmp_path / "me" / "StreamingHistory0.json").stat().st_size
    # Looking again with the new cursor: nothing to do.
    again = scan(tmp_path, changes.cursor)
    assert (again.changed, again.removed, again.days, again.waiting) == ([], [], set(), {})


def test_a_file_written_seconds_ago_is_waited_for(tmp_path):
    _land(tmp_path / "StreamingHistory0.json", json.dumps([_record("2024-03-01")]), age_s=5)
    changes = scan(tmp_path, LandingCursor())
    assert changes.changed == [] and changes.days == set()
    assert "modified 5 s ago" in changes.waiting["StreamingHistory0.json"]
    assert "StreamingHistory0.json" not in changes.cursor.files


def test_a_touched_file_with_the_same_content_only_moves_its_time(tmp_path):
    path = tmp_path / "StreamingHistory0.json"
    text = json.dumps([_record("2024-03-01")])
    _land(path, text, age_s=3600)
    first = scan(tmp_path, LandingCursor()).cursor
    _land(path, text, age_s=120)  # same bytes, newer time
    changes = scan(tmp_path, first)
    assert changes.changed == [] and changes.days == set()
    state = changes.cursor.files["StreamingHistory0.json"]
    assert state.mtime_ns != first.files["StreamingHistory0.json"].mtime_ns
    assert state.days == first.files["StreamingHistory0.json"].days


def test_a_changed_file_re_derives_its_old_days_and_its_new_ones(tmp_path):
    path = tmp_path / "me" / "StreamingHistory0.json"
    _land(path, json.dumps([_record("2024-03-01"), _record("2024-03-02")]), age_s=3600)
    first = scan(tmp_path, LandingCursor()).cursor
    _land(path, json.dumps([_record("2024-03-02"), _record("2024-04-10")]), age_s=120)
    changes = scan(tmp_path, first)
    assert changes.changed == ["me/StreamingHistory0.json"]
    # 03-01 left the file: its plays must leave the lake, so that day is re-derived too.
    assert changes.days == {D(2024, 3, 1), D(2024, 3, 2), D(2024, 4, 10)}
    assert changes.cursor.files["me/StreamingHistory0.json"].days == [
        ["2024-03-02", "2024-03-02"],
        ["2024-04-10", "2024-04-10"],
    ]


def test_a_removed_file_gives_back_its_days(tmp_path):
    path = tmp_path / "StreamingHistory0.json"
    _land(path, json.dumps([_record("2024-03-01"), _record("2024-03-03")]), age_s=3600)
    first = scan(tmp_path, LandingCursor()).cursor
    path.unlink()
    changes = scan(tmp_path, first)
    assert changes.removed == ["StreamingHistory0.json"] and changes.changed == []
    assert changes.days == {D(2024, 3, 1), D(2024, 3, 3)}
    assert changes.cursor.files == {}


def test_a_truncated_file_waits_for_its_writer_then_lands_as_it_is(tmp_path):
    path = tmp_path / "StreamingHistory0.json"
    text = "[" + json.dumps(_record("2024-03-01")) + ", " + json.dumps(_record("2024-03-09"))[:15]
    _land(path, text, age_s=120)  # settled, but within the patience
    waiting = scan(tmp_path, LandingCursor())
    assert waiting.changed == [] and "truncated record" in waiting.waiting[path.name]
    assert f"up to {PATIENCE:.0f} s" in waiting.waiting[path.name]
    _land(path, text, age_s=PATIENCE + 1)  # the writer never came back
    landed = scan(tmp_path, LandingCursor())
    assert landed.changed == [path.name] and landed.days == {D(2024, 3, 1)}
    assert "the damage is quarantined" in landed.problems[path.name]


def test_the_members_of_a_zip_are_one_file_of_the_cursor(tmp_path):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("x/StreamingHistory_music_0.json", json.dumps([_record("2024-05-01")]))
        zf.writestr("x/StreamingHistory_music_1.json", json.dumps([_record("2024-05-03")]))
        zf.writestr("x/YourLibrary.json", "{}")
    stamp = NOW.timestamp() - 3600
    os.utime(archive, (stamp, stamp))
    changes = scan(tmp_path, LandingCursor())
    assert changes.changed == ["export.zip"] and list(changes.cursor.files) == ["export.zip"]
    assert changes.days == {D(2024, 5, 1), D(2024, 5, 3)}


def test_a_damaged_zip_member_and_a_byte_order_mark_do_not_stop_the_sensor(tmp_path):
    """Found by the parser fuzzing: the build quarantined these, the sensor raised or waited."""
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("x/StreamingHistory_music_0.json", json.dumps([_record("2024-05-01")] * 50))
        zf.writestr("x/StreamingHistory_music_1.json", json.dumps([_record("2024-05-03")]))
    data = bytearray(archive.read_bytes())
    data[60] ^= 0xFF  # inside the first member's compressed bytes: its CRC no longer matches
    archive.write_bytes(bytes(data))
    _land(tmp_path / "me" / "StreamingHistory9.json", "", age_s=3600)
    bom = "\ufeff" + json.dumps([_record("2024-06-07")])
    (tmp_path / "me" / "StreamingHistory9.json").write_text(bom, encoding="utf-8")
    stamp = NOW.timestamp() - 3600
    for path in (archive, tmp_path / "me" / "StreamingHistory9.json"):
        os.utime(path, (stamp, stamp))
    changes = scan(tmp_path, LandingCursor())
    assert sorted(changes.changed) == ["export.zip", "me/StreamingHistory9.json"]
    assert changes.waiting == {}
    assert {D(2024, 5, 3), D(2024, 6, 7)} <= changes.days

"""History files read in worker processes give the very batch a read in this process gives.

`parse_history` hashes every file in order and then reads the files apart, in processes when
there are enough bytes; these tests build one landing folder with every kind of trouble (a
duplicate, broken JSON, bad records, an unknown field, a zip with a damaged member, files
of several accounts) and compare the two reads field by field, for the whole span, for one
day, and with file summaries kept and taken.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from helpers import CATALOG_SAMPLE, NOW

from moodlake_dagster.demo.generator import generate_history
from moodlake_dagster.ingest import history
from moodlake_dagster.ingest.file_summaries import FileSummaries
from moodlake_dagster.ingest.history import discover_history_files, parse_history
from moodlake_dagster.ml import parallel

KEY = b"parallel-key"
MARKER = "MARKER-TRACK-NAME-0123456789"


def _landing(root: Path) -> Path:
    landing = root / "landing"
    generate_history(CATALOG_SAMPLE, landing, users=3, start=dt.date(2025, 11, 1), days=60)
    me = landing / "me"
    me.mkdir()
    good = {"endTime": "2025-12-01 10:00", "artistName": "A", "trackName": "T", "msPlayed": 9000}
    (me / "StreamingHistory0.json").write_text(json.dumps([good, {**good, "msPlayed": "x"}]))
    shutil.copy(me / "StreamingHistory0.json", me / "StreamingHistory7.json")  # a duplicate
    (me / "StreamingHistory1.json").write_text(
        '[{"endTime": "2025-12-02 10:00", "artistName": "A", "trackName": "T", "msPlayed": 1},\n'
        ' {"endTime": "2025-12-02 11:00", "artistName": "A" "trackName": "T"}]'
    )
    (me / "StreamingHistory2.json").write_text('[{"endTime": "2025-12-03 10:0')  # truncated
    extended = [
        {"ts": "2025-12-04T08:00:00Z", "ms_played": 5000, "spotify_track_uri": "spotify:track:a"},
        {"ts": "2025-12-04T09:00:00Z", "ms_played": 1, "brand_new_field": True},
        {"ts": "2031-01-01T00:00:00Z", "ms_played": 1},  # in the future: no day
    ]
    (me / "Streaming_History_Audio_2025.json").write_text(json.dumps(extended))
    # An export zip: one readable member, one whose stored bytes no longer match their CRC.
    archive = landing / "zipped" / "my_spotify_data.zip"
    archive.parent.mkdir()
    damaged = [{**good, "trackName": MARKER}]
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("MyData/StreamingHistory0.json", json.dumps([good]))
        zf.writestr("MyData/StreamingHistory1.json", json.dumps(damaged))
    blob = archive.read_bytes()
    archive.write_bytes(blob.replace(MARKER.encode(), MARKER[::-1].encode(), 1))
    return landing


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    return _landing(tmp_path_factory.mktemp("parallel"))


def _parse(landing: Path, workers: int, start=dt.date.min, end=dt.date.max, summaries=None):
    return parse_history(
        landing,
        key=KEY,
        default_user="default",
        now=NOW,
        batch_id="b",
        ingested_at=NOW,
        start=start,
        end=end,
        summaries=summaries,
        workers=workers,
    )


def _same(here: history.HistoryBatch, there: history.HistoryBatch) -> None:
    assert there.rows.equals(here.rows)
    assert [dataclasses.astuple(b) for b in there.bad] == [dataclasses.astuple(b) for b in here.bad]
    assert there.files == here.files
    assert there.passed_over == here.passed_over
    assert there.play_days == here.play_days


def test_the_landing_folder_has_the_trouble_the_comparison_needs(landing):
    batch = _parse(landing, workers=1)
    reasons = " ".join(b.reason for b in batch.bad)
    for trouble in ("duplicate file", "malformed JSON", "truncated", "in the future", "damaged"):
        assert trouble in reasons
    assert batch.unknown_field_messages()
    assert len({u for u in batch.rows["user_id"].to_pylist()}) == 5  # 3 generated, me, zipped
    assert batch.rows.num_rows > 1000


@pytest.mark.parametrize(
    "days",
    [(dt.date.min, dt.date.max), (dt.date(2025, 12, 1), dt.date(2025, 12, 1))],
    ids=["whole span", "one day"],
)
def test_files_read_in_processes_give_the_same_batch(landing, days, monkeypatch):
    calls, real = [], parallel.in_processes

    def spied(work, items, **kwargs):
        items = list(items)
        calls.append(len(items))
        return real(work, items, **kwargs)

    monkeypatch.setattr(parallel, "in_processes", spied)
    here = _parse(landing, 1, *days)
    assert calls == []
    there = _parse(landing, 2, *days)
    assert calls == [len(discover_history_files(landing)[0]) - 1]  # all but the damaged member
    _same(here, there)
    # Bad records in the order of the files they come from, as one process reads them.
    order = [f.lineage(KEY) for f in discover_history_files(landing)[0]]
    at = [order.index(b.source_file) for b in there.bad]
    assert at == sorted(at) and len(set(at)) > 3


def test_summaries_written_and_taken_are_the_same_from_processes(landing, tmp_path):
    """The summaries a parallel read keeps are the ones a serial read keeps, and a later run
    takes them the same way (files with nothing on its day are not read)."""
    kept = {}
    for workers in (1, 2):
        path = tmp_path / f"summaries-{workers}.json"
        first = _parse(landing, workers, summaries=FileSummaries(path, "code"))
        day = dt.date(2025, 12, 2)
        later = _parse(landing, workers, day, day, summaries=FileSummaries(path, "code"))
        assert any(f.unread for f in later.files) and not all(f.unread for f in later.files)
        kept[workers] = (first, later, json.loads(path.read_text()))
    (first_1, later_1, saved_1), (first_2, later_2, saved_2) = kept[1], kept[2]
    _same(first_1, first_2)
    _same(later_1, later_2)
    assert saved_2 == saved_1


def test_only_enough_bytes_are_worth_processes(landing, monkeypatch):
    files = discover_history_files(landing)[0]
    assert all(file.size > 0 for file in files)
    assert not history._worth_processes(files[:1], None)  # one file: nothing to spread
    assert not history._worth_processes(files, 1)
    assert history._worth_processes(files, 2)  # asked for, whatever the size
    monkeypatch.setattr(history, "PARALLEL_MIN_BYTES", sum(f.size for f in files) + 1)
    assert not history._worth_processes(files, None)
    monkeypatch.setattr(history, "PARALLEL_MIN_BYTES", sum(f.size for f in files))
    assert history._worth_processes(files, None)
    monkeypatch.setenv("MOODLAKE_WORKERS", "1")  # one worker: read here
    assert not history._worth_processes(files, None)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_file_that_fails_to_read_is_named(tmp_path, monkeypatch, workers):
    """Not a record's problem (those are quarantined) but the file's: the error, also when it
    comes back from a worker, says which file."""
    landing = _landing(tmp_path)
    vanished = next(p for p in landing.rglob("*.json") if p.parent.name.startswith("demo"))
    hashed = history.HistorySource.sha256

    def sha256(self):  # the vanished file goes once hashed, before it is read
        if self.location.as_posix() != vanished.relative_to(landing).as_posix():
            return hashed(self)
        digest = hashed(self)
        vanished.unlink()
        return digest

    monkeypatch.setattr(history.HistorySource, "sha256", sha256)
    with pytest.raises(FileNotFoundError) as raised:
        _parse(landing, workers=workers)
    assert any(vanished.name in note for note in raised.value.__notes__)

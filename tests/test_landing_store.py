"""Where files land: a local folder (links followed, loops not) or an fsspec prefix
(ingest/landing_store.py)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import PurePosixPath

import fsspec

from moodlake_dagster.ingest.landing_store import LandingStore, _mtime_ns


def test_of_wraps_paths_and_keeps_stores():
    store = LandingStore.of("/data/landing")
    assert LandingStore.of(store) is store and str(store) == "/data/landing"
    assert store.is_local and LandingStore("file:///data/landing").is_local
    assert not LandingStore("s3://bucket/landing").is_local
    assert not LandingStore("memory://x/landing").is_local


def test_a_local_folder_lists_every_file_sorted_with_size_and_time(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "two.json").write_text("22")
    (tmp_path / "a.json").write_text("1")
    os.utime(tmp_path / "a.json", ns=(1_700_000_000_123_456_789, 1_700_000_000_123_456_789))
    store = LandingStore(str(tmp_path))
    assert store.exists() and not LandingStore(str(tmp_path / "nowhere")).exists()
    files = store.files()
    assert [str(f.relative) for f in files] == ["a.json", "b/two.json"]
    assert [f.size for f in files] == [1, 2]
    assert files[0].mtime_ns == 1_700_000_000_123_456_789
    assert store.read_bytes(PurePosixPath("b/two.json")) == b"22"
    with store.open(PurePosixPath("a.json")) as handle:
        assert handle.read() == b"1"


def test_linked_folders_count_once_and_a_loop_ends(tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    (export / "StreamingHistory0.json").write_text("[]" * 10)
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "alice").symlink_to(export, target_is_directory=True)
    (landing / "alice-again").symlink_to(export, target_is_directory=True)
    (landing / "loop").symlink_to(landing, target_is_directory=True)
    (landing / "linked.json").symlink_to(export / "StreamingHistory0.json")
    files = LandingStore(str(landing)).files()
    names = [str(f.relative) for f in files]
    # One of the two links to the same folder is walked; the loop back up is not.
    assert names == ["alice/StreamingHistory0.json", "linked.json"]
    assert {f.size for f in files} == {20}  # the target's size, not the link's


def test_an_object_store_prefix_lists_relative_paths(tmp_path):
    prefix = f"memory://landing-store-{tmp_path.name}/landing"
    fs = fsspec.filesystem("memory")
    fs.pipe(f"{prefix}/me/StreamingHistory0.json", b"[]")
    fs.pipe(f"{prefix}/me/sub/Streaming_History_Audio_2024.json", b"[1]")
    store = LandingStore(prefix)
    assert store.exists()
    files = store.files()
    assert [str(f.relative) for f in files] == [
        "me/StreamingHistory0.json",
        "me/sub/Streaming_History_Audio_2024.json",
    ]
    assert [f.size for f in files] == [2, 3]
    assert store.read_bytes(PurePosixPath("me/sub/Streaming_History_Audio_2024.json")) == b"[1]"


def test_modification_times_are_read_whatever_the_store_calls_them():
    when = dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)
    ns = int(when.timestamp() * 1e9)
    assert _mtime_ns(None, "p", {"mtime": when.timestamp()}) == ns
    assert _mtime_ns(None, "p", {"LastModified": when}) == ns
    assert _mtime_ns(None, "p", {"updated": "2024-05-01T12:00:00+00:00"}) == ns
    # An unreadable value is passed over for the next key, then the filesystem is asked.

    class Fs:
        def modified(self, path):
            assert path == "p"
            return when

    assert _mtime_ns(Fs(), "p", {"mtime": None, "created": "not a time"}) == ns

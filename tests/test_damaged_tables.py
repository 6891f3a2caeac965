"""A damaged table is named in one line: the table, the version, the file, and where to look
for the way back."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from moodlake_dagster import storage
from moodlake_dagster.damaged import DamagedTableError

D = dt.date


def _plays(root) -> str:
    """silver/plays with three commits, one day each."""
    uri = storage.table_uri(str(root), "silver", "plays")
    for day in (1, 2, 3):
        rows = pa.table({"play_date": [D(2024, 7, day)], "play_id": [f"p{day}"]})
        storage.replace_range(
            uri, rows, column="play_date", start=D(2024, 7, day), end=D(2024, 7, day)
        )
    return uri


def test_a_truncated_commit_names_the_table_and_its_version(tmp_path):
    uri = _plays(tmp_path)
    newest = sorted((tmp_path / "silver/plays/_delta_log").glob("*.json"))[-1]
    newest.write_text(newest.read_text()[:40])
    with pytest.raises(DamagedTableError) as err:
        storage.read_frame(uri)
    message = str(err.value)
    assert "silver/plays" in message and newest.name in message and "truncated" in message
    assert "\n" not in message and "A damaged table" in message


def test_a_missing_commit_is_named(tmp_path):
    uri = _plays(tmp_path)
    middle = sorted((tmp_path / "silver/plays/_delta_log").glob("*.json"))[1]
    middle.unlink()
    with pytest.raises(DamagedTableError, match=f"commit {middle.name} is missing"):
        storage.read_rows(uri)


def test_a_missing_data_file_is_named_with_the_version_that_lists_it(tmp_path):
    uri = _plays(tmp_path)
    from deltalake import DeltaTable

    version = DeltaTable(uri).version()
    lost = sorted((tmp_path / "silver/plays").glob("*.parquet"))[0]
    lost.unlink()
    with pytest.raises(DamagedTableError) as err:
        storage.read_frame(uri)
    assert f"silver/plays version {version} lists {lost.name}, which is missing" in str(err.value)
    # A Spark read checks the files before Spark opens any: no JVM stack trace.
    with pytest.raises(DamagedTableError, match=lost.name):
        storage.spark_read(None, uri)

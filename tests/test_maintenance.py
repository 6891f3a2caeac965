"""Housekeeping on real Delta tables: compaction, checkpoint, vacuum, and what is reported."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
from deltalake import DeltaTable

from moodlake_dagster import maintenance, storage

A = dt.date(2024, 1, 1)


def one_day(day: dt.date) -> pa.Table:
    return pa.table({"play_date": pa.array([day] * 4, pa.date32()), "value": [1, 2, 3, 4]})


def test_daily_runs_are_compacted_checkpointed_and_vacuumed(tmp_path):
    root = tmp_path / "lake"
    uri = str(root / "silver" / "plays")
    days = [A + dt.timedelta(days=i) for i in range(12)]
    for day in days:  # twelve daily runs: twelve small files, twelve commits
        storage.replace_range(uri, one_day(day), column="play_date", start=day, end=day)
    storage.replace_range(uri, one_day(A), column="play_date", start=A, end=A)  # a rerun
    assert maintenance.tables(str(root)) == [("silver/plays", uri)]
    before_rows = sorted(map(tuple, DeltaTable(uri).to_pandas().to_numpy().tolist()))

    done = maintenance.tidy("silver/plays", uri, target_file_size=64 << 20, retention_hours=0)

    assert done.before.live_files == 12 and done.after.live_files == 1
    assert done.files_compacted == 12
    assert done.files_vacuumed >= 13  # the 12 compacted, and the rerun's replaced file
    assert done.after.data_bytes_on_disk < done.before.data_bytes_on_disk
    log = root / "silver" / "plays" / "_delta_log"
    assert any(p.name.endswith(".checkpoint.parquet") for p in log.iterdir())
    after_rows = sorted(map(tuple, DeltaTable(uri).to_pandas().to_numpy().tolist()))
    assert after_rows == before_rows  # nothing lost
    row = maintenance.as_rows([done])[0]
    assert row["live_files_before"] == 12 and row["live_files_after"] == 1


def test_a_tidy_table_stays_as_it_is(tmp_path):
    uri = str(tmp_path / "lake" / "gold" / "t")
    storage.replace_range(uri, one_day(A), column="play_date", start=A, end=A)
    done = maintenance.tidy("gold/t", uri, target_file_size=64 << 20, retention_hours=168)
    assert done.files_compacted == 0 and done.files_vacuumed == 0
    assert done.after.live_files == done.before.live_files == 1

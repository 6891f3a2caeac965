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


def test_the_lake_health_asset_reports_before_and_after(tmp_path):
    import dagster as dg

    from moodlake_dagster.assets.maintenance import lake_health
    from moodlake_dagster.resources import LakeResource

    root = tmp_path / "lake"
    uri = str(root / "bronze" / "listening_events")
    for i in range(3):
        day = A + dt.timedelta(days=i)
        storage.replace_range(uri, one_day(day), column="play_date", start=day, end=day)
    lake = LakeResource(root=str(root), vacuum_retention_hours=0)
    result = dg.materialize([lake_health], resources={"lake": lake})
    assert result.success
    (event,) = result.get_asset_materialization_events()
    meta = event.materialization.metadata
    assert meta["tables"].value == 1
    assert meta["live_files_before"].value == 3 and meta["live_files_after"].value == 1
    assert meta["files_vacuumed"].value == 3
    assert "bronze/listening_events" in meta["per_table"].value

"""What housekeeping finds and reports (maintenance.py) on small delta-rs lakes: tables in
layer order, health figures, and the flat rows the UI and the CLI show."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from moodlake_dagster import maintenance, storage

D = dt.date(2024, 1, 1)


def _table(uri: str) -> None:
    data = pa.table({"play_date": pa.array([D, D], pa.date32()), "v": [1, 2]})
    storage.replace_range(uri, data, column="play_date", start=D, end=D)


def test_tables_are_found_in_layer_order_and_only_delta_folders_count(tmp_path):
    root = tmp_path / "lake"
    for path in ("gold/a_gold", "silver/plays", "bronze/z_events", "bronze/a_catalog"):
        _table(str(root / path))
    (root / "silver" / "not_a_table").mkdir()
    (root / "models").mkdir()
    assert [name for name, _ in maintenance.tables(str(root))] == [
        "bronze/a_catalog",
        "bronze/z_events",
        "silver/plays",
        "gold/a_gold",
    ]
    assert maintenance.tables(str(tmp_path / "none")) == []


def test_health_counts_live_files_and_the_log(tmp_path):
    uri = str(tmp_path / "t")
    _table(uri)
    _table(uri)  # the same day again: a second file replaces the first
    health = maintenance.health("silver/t", uri)
    assert health.table == "silver/t" and health.version == 2  # created empty, then two writes
    assert health.live_files == 1 and health.files_under_1mb == 1
    assert health.data_bytes_on_disk > health.live_bytes > 0  # the replaced file is still there
    assert health.log_files >= 2


def test_a_tidy_result_flattens_to_one_row_per_table(tmp_path):
    uri = str(tmp_path / "t")
    _table(uri)
    done = maintenance.tidy("silver/t", uri, target_file_size=64 << 20, retention_hours=168)
    (row,) = maintenance.as_rows([done])
    assert row["table"] == "silver/t"
    assert row["live_files_before"] == done.before.live_files == 1
    assert row["live_files_after"] == done.after.live_files
    assert row["files_compacted"] == 0 and row["files_vacuumed"] == 0
    assert set(maintenance.SHOWN) <= set(row)
    assert done.summary == "1 → 1 live files, 0 vacuumed"

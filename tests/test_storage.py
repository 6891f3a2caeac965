"""Delta writes through delta-rs replace exactly their days; Spark reads what they wrote."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from moodlake_dagster import storage
from moodlake_dagster.ingest.records import BadRecord, quarantine_table

A, B = dt.date(2024, 1, 1), dt.date(2024, 1, 2)


def day(date, values):
    return pa.table(
        {
            "play_date": pa.array([date] * len(values), pa.date32()),
            "value": pa.array(values, pa.int64()),
        }
    )


def test_partition_write_replaces_exactly_its_partition(tmp_path, spark):
    uri = str(tmp_path / "events")
    storage.replace_range(uri, day(A, [1, 2]), column="play_date", start=A, end=A)
    storage.replace_range(uri, day(B, [3, 4, 5]), column="play_date", start=B, end=B)
    storage.replace_range(uri, day(A, [9]), column="play_date", start=A, end=A)

    rows = DeltaTable(uri).to_pyarrow_table().to_pylist()
    by_day = {d: sorted(r["value"] for r in rows if r["play_date"] == d) for d in (A, B)}
    assert by_day == {A: [9], B: [3, 4, 5]}

    frame = storage.spark_read(spark, uri)
    assert "play_date" in frame.columns  # basePath keeps the partition column
    assert sorted((r.play_date, r.value) for r in frame.collect()) == [
        (A, 9),
        (B, 3),
        (B, 4),
        (B, 5),
    ]
    only_b = storage.spark_read(spark, uri, predicate=storage.range_predicate("play_date", B, B))
    assert only_b.count() == 3
    assert storage.partition_days(uri, "play_date") == [A, B]
    assert storage.count_rows(uri, "play_date", B, B) == 3
    assert storage.count_rows(uri, "play_date", A, B) == 4


def test_range_write_refuses_rows_outside_its_range(tmp_path):
    uri = str(tmp_path / "events")
    storage.replace_range(uri, day(A, [1]), column="play_date", start=A, end=A)
    with pytest.raises(Exception, match="failed validation"):
        storage.replace_range(uri, day(B, [2]), column="play_date", start=A, end=A)
    assert DeltaTable(uri).to_pyarrow_table().num_rows == 1


def test_empty_range_write_clears_those_days_and_spark_reads_empty(tmp_path, spark):
    uri = str(tmp_path / "events")
    storage.replace_range(
        uri, pa.concat_tables([day(A, [1]), day(B, [2])]), column="play_date", start=A, end=B
    )
    storage.replace_range(uri, day(A, [])[:0], column="play_date", start=A, end=A)
    assert DeltaTable(uri).to_pyarrow_table().column("value").to_pylist() == [2]
    empty = storage.spark_read(spark, uri, predicate=storage.range_predicate("play_date", A, A))
    assert empty.count() == 0 and sorted(empty.columns) == ["play_date", "value"]


def test_missing_table_names_itself(tmp_path, spark):
    with pytest.raises(storage.MissingTableError, match="materialize its asset first"):
        storage.spark_read(spark, str(tmp_path / "nothing"))


def test_snapshot_day_prefers_latest_on_or_before(tmp_path):
    uri = str(tmp_path / "snap")
    for d in (A, dt.date(2024, 1, 10)):
        table = pa.table({"as_of_date": pa.array([d], pa.date32()), "v": [1]})
        storage.replace_range(uri, table, column="as_of_date", start=d, end=d)
    assert storage.snapshot_day(uri, dt.date(2024, 1, 5)) == A
    assert storage.snapshot_day(uri, dt.date(2024, 2, 1)) == dt.date(2024, 1, 10)
    assert storage.snapshot_day(uri, dt.date(2023, 1, 1)) == A  # earliest, for old backfills


def test_quarantine_replace_is_idempotent_per_asset_and_range(tmp_path):
    uri = str(tmp_path / "quarantine")
    now = dt.datetime(2024, 1, 3, tzinfo=dt.UTC)
    bad = [BadRecord("f.json", 0, "x", record_date=A), BadRecord("f.json", None, "empty file")]
    for _ in range(2):
        storage.replace_quarantine(
            uri, quarantine_table("events", bad, "b", now), asset="events", start=A, end=A
        )
    other = quarantine_table("catalog", [BadRecord("c.csv", 3, "y")], "b", now)
    storage.replace_quarantine(uri, other, asset="catalog", start=A, end=A)
    rows = DeltaTable(uri).to_pyarrow_table().to_pylist()
    assert sorted((r["asset"], r["reason"]) for r in rows) == [
        ("catalog", "y"),
        ("events", "empty file"),
        ("events", "x"),
    ]

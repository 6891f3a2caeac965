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


def test_a_snapshot_read_from_arrow_is_the_frame_its_rows_would_give(tmp_path):
    """Models read snapshots as pandas straight from Arrow: the same values and types as the
    rows gave (nanosecond timestamps, Python lists, NaN for a missing float), one day only."""
    import pandas as pd

    uri = str(tmp_path / "snap")
    stamp = dt.datetime(2024, 1, 1, 7, 30, tzinfo=dt.UTC)
    for d in (A, B):
        table = pa.table(
            {
                "user_id": ["u2", "u1"],
                "at": pa.array([stamp, None], pa.timestamp("us", tz="UTC")),
                "sources": pa.array([["silver/plays"], []], pa.list_(pa.string())),
                "score": pa.array([None, 0.5], pa.float64()),
                "rank": pa.array([2, 1], pa.int32()),
                "weight": pa.array([0.5, None], pa.float32()),
                "never": pa.array([None, None], pa.int64()),
                "pair": pa.array([[1, 2], [3, 4]], pa.list_(pa.int64(), 2)),
                "as_of_date": pa.array([d, d], pa.date32()),
            }
        )
        storage.replace_range(uri, table, column="as_of_date", start=d, end=d)
    frame = storage.read_snapshot(uri, [("as_of_date", "=", B)])
    rows = pd.DataFrame(storage.read_rows(uri, [("as_of_date", "=", B)]))
    pd.testing.assert_frame_equal(frame, rows.astype({"score": "float64"}))
    assert str(frame["at"].dtype) == "datetime64[ns, UTC]"
    assert frame["sources"].map(type).eq(list).all() and frame["pair"].map(type).eq(list).all()
    assert frame["rank"].dtype == "int64" and frame["weight"].dtype == "float64"
    assert frame["never"].isna().all() and frame["never"].dtype == object
    assert set(frame["as_of_date"]) == {B}

    # A time stamp beyond pandas' nanoseconds comes back as rows give it, not as an error.
    old = dt.datetime(1500, 1, 1, tzinfo=dt.UTC)
    early = pa.table(
        {
            "at": pa.array([old], pa.timestamp("us", tz="UTC")),
            "as_of_date": pa.array([B], pa.date32()),
        }
    )
    storage.replace_range(str(tmp_path / "early"), early, column="as_of_date", start=B, end=B)
    frame = storage.read_snapshot(str(tmp_path / "early"), [("as_of_date", "=", B)])
    assert frame["at"].tolist() == [old]


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


def _days(first: dt.date, n: int, per_day: int) -> pa.Table:
    dates = [first + dt.timedelta(days=i) for i in range(n) for _ in range(per_day)]
    return pa.table(
        {
            "play_date": pa.array(dates, pa.date32()),
            "value": pa.array(range(len(dates)), pa.int64()),
        }
    )


def test_files_follow_data_not_days(tmp_path, spark):
    """A run over 90 days writes one file, not 90; a new day adds a file without rewriting
    the others; readers skip files by their statistics and still get exactly their days."""
    uri = str(tmp_path / "events")
    storage.replace_range(
        uri, _days(A, 90, 5), column="play_date", start=A, end=A + dt.timedelta(days=89)
    )
    table = DeltaTable(uri)
    assert table.metadata().partition_columns == [] and len(table.file_uris()) == 1
    first_file = table.file_uris()[0]
    later = A + dt.timedelta(days=90)
    storage.replace_range(uri, day(later, [7, 8]), column="play_date", start=later, end=later)
    table = DeltaTable(uri)
    assert first_file in table.file_uris() and len(table.file_uris()) == 2
    only_later = storage.range_predicate("play_date", later, later)
    assert table.file_uris(file_pruning_predicate=only_later) == [
        f for f in table.file_uris() if f != first_file
    ]
    assert sorted(
        r.value for r in storage.spark_read(spark, uri, predicate=only_later).collect()
    ) == [
        7,
        8,
    ]
    assert storage.partition_days(uri, "play_date")[0] == A
    assert len(storage.partition_days(uri, "play_date")) == 91
    assert table.metadata().configuration["delta.checkpointInterval"] == "10"


def test_a_lake_with_one_partition_per_day_is_rewritten_once_with_nothing_lost(tmp_path):
    uri = str(tmp_path / "events")
    old = _days(A, 30, 3)
    write_old = __import__("deltalake").write_deltalake
    write_old(uri, old, partition_by=["play_date"])  # the layout of lakes built before
    assert len(DeltaTable(uri).file_uris()) == 30
    replaced = A + dt.timedelta(days=10)
    storage.replace_range(
        uri, day(replaced, [99]), column="play_date", start=replaced, end=replaced
    )
    table = DeltaTable(uri)
    assert table.metadata().partition_columns == [] and len(table.file_uris()) <= 2
    rows = {(r["play_date"], r["value"]) for r in table.to_pyarrow_table().to_pylist()}
    expected = {(r["play_date"], r["value"]) for r in old.to_pylist() if r["play_date"] != replaced}
    assert rows == expected | {(replaced, 99)}
    assert not storage.relayout(uri, "play_date")  # once only

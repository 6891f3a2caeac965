"""Delta tables through delta-rs alone (storage.py): layouts, narrowed replaces, schema growth,
snapshots, appends and plain reads, on real tables in a temp folder; no Spark."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from moodlake_dagster import storage

D = dt.date


def test_snapshots_are_partitioned_by_their_day_and_facts_are_not():
    assert storage.layout("as_of_date") == ["as_of_date"]
    assert storage.layout("play_date") == [] and storage.layout("record_date") == []
    assert storage.table_uri("s3://bucket/lake/", "gold", "genre_mix") == (
        "s3://bucket/lake/gold/genre_mix"
    )
    assert storage.range_predicate("play_date", D(2024, 1, 1), D(2024, 1, 31)) == (
        "play_date >= '2024-01-01' AND play_date <= '2024-01-31'"
    )


def _metrics(day: D, model: str, values: list[float]) -> pa.Table:
    return pa.table(
        {
            "as_of_date": pa.array([day] * len(values), pa.date32()),
            "model": [model] * len(values),
            "value": values,
        }
    )


def test_where_narrows_a_replace_to_one_models_rows(tmp_path):
    uri = str(tmp_path / "gold" / "model_metrics")
    day = D(2025, 1, 31)
    both = pa.concat_tables([_metrics(day, "a", [1.0, 2.0]), _metrics(day, "b", [3.0])])
    storage.replace_range(uri, both, column="as_of_date", start=day, end=day)
    storage.replace_range(
        uri, _metrics(day, "a", [9.0]), column="as_of_date", start=day, end=day, where="model = 'a'"
    )
    rows = sorted((r["model"], r["value"]) for r in storage.read_rows(uri))
    assert rows == [("a", 9.0), ("b", 3.0)]
    table = DeltaTable(uri)
    assert table.metadata().partition_columns == ["as_of_date"]
    assert table.metadata().configuration["delta.checkpointInterval"] == str(
        storage.CHECKPOINT_INTERVAL
    )


def test_a_new_column_is_added_and_older_rows_read_it_as_null(tmp_path):
    uri = str(tmp_path / "events")
    first = pa.table({"play_date": pa.array([D(2024, 1, 1)], pa.date32()), "v": [1]})
    storage.replace_range(uri, first, column="play_date", start=D(2024, 1, 1), end=D(2024, 1, 1))
    second = first.set_column(0, "play_date", pa.array([D(2024, 1, 2)], pa.date32()))
    second = second.append_column("new", pa.array(["x"]))
    storage.replace_range(uri, second, column="play_date", start=D(2024, 1, 2), end=D(2024, 1, 2))
    rows = sorted(storage.read_rows(uri), key=lambda r: r["play_date"])
    assert [(r["play_date"], r["v"], r["new"]) for r in rows] == [
        (D(2024, 1, 1), 1, None),
        (D(2024, 1, 2), 1, "x"),
    ]


def test_snapshot_days_come_from_the_partitions(tmp_path):
    uri = str(tmp_path / "silver" / "users")
    for day in (D(2024, 3, 1), D(2024, 1, 1)):
        storage.replace_range(
            uri, _metrics(day, "m", [1.0]), column="as_of_date", start=day, end=day
        )
    assert storage.partition_days(uri, "as_of_date") == [D(2024, 1, 1), D(2024, 3, 1)]
    assert storage.snapshot_day(uri, D(2024, 2, 1)) == D(2024, 1, 1)
    assert storage.partition_days(str(tmp_path / "nothing"), "as_of_date") == []
    assert storage.snapshot_day(str(tmp_path / "nothing"), D(2024, 2, 1)) is None


def test_rows_are_counted_per_day_range_without_reading_them(tmp_path):
    uri = str(tmp_path / "events")
    days = [D(2024, 1, 1) + dt.timedelta(days=i) for i in range(5) for _ in range(i + 1)]
    table = pa.table({"play_date": pa.array(days, pa.date32()), "v": list(range(len(days)))})
    storage.replace_range(uri, table, column="play_date", start=days[0], end=days[-1])
    assert storage.count_rows(uri, "play_date", D(2024, 1, 2), D(2024, 1, 3)) == 2 + 3
    assert storage.count_rows(uri, "play_date", D(2023, 1, 1), D(2023, 12, 31)) == 0
    assert storage.count_rows(str(tmp_path / "nothing"), "play_date", days[0], days[-1]) == 0


def test_appends_keep_every_request_and_plain_reads_filter(tmp_path):
    uri = str(tmp_path / "bronze" / "spotify_api_responses")
    for page in range(3):
        row = pa.table(
            {"request_date": pa.array([D(2026, 11, 20 + page)], pa.date32()), "page": [page]}
        )
        storage.append(uri, row, partition_by=["request_date"])
    assert sorted(r["page"] for r in storage.read_rows(uri)) == [0, 1, 2]
    recent = storage.read_rows(uri, [("request_date", ">=", D(2026, 11, 21))])
    assert sorted(r["page"] for r in recent) == [1, 2]
    frame = storage.read_frame(uri, [("page", "=", 0)], columns=["page"])
    assert frame.columns.tolist() == ["page"] and frame["page"].tolist() == [0]
    assert storage.read_rows(str(tmp_path / "nothing")) == []
    with pytest.raises(storage.MissingTableError, match="materialize its asset first"):
        storage.read_frame(str(tmp_path / "nothing"))


def test_a_missing_table_is_named_before_spark_is_asked(tmp_path):
    """No session is touched for a table that was never written (none is passed here)."""
    with pytest.raises(storage.MissingTableError, match=r"no Delta table at .*nothing"):
        storage.spark_read(None, str(tmp_path / "nothing"))
